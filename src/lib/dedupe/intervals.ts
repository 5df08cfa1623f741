/**
 * Offset-range analysis of the files of one Kafka (topic, partition): which files are redundant, which
 * overlap, where offsets are missing. Pure functions, no I/O.
 */

export interface OffsetFile {
  uri: string
  key: string
  topic: string
  partition: number
  /** first offset in the file */
  startOffset: number
  records: number
  /** exclusive: startOffset + records */
  endOffset: number
  lastModified: Date
  size: number
}

export interface RedundantFile extends OffsetFile {
  /** the kept files that together hold every record of this one */
  coveredBy: string[]
  /** a kept file with exactly the same offset range, when there is one */
  identicalTo: string | null
}

export interface OverlappingFile extends OffsetFile {
  /** offsets [overlapFrom, overlapTo) of this file are also in `overlapsWith` */
  overlapFrom: number
  overlapTo: number
  overlapRecords: number
  overlapsWith: string
}

export interface OffsetGap {
  topic: string
  partition: number
  /** first missing offset */
  from: number
  /** first offset present again (exclusive end of the gap) */
  to: number
  missing: number
  after: string
  before: string
}

export interface PartitionAnalysis {
  topic: string
  partition: number
  files: number
  records: number
  firstOffset: number
  endOffset: number
  /** offsets present at least once */
  distinctOffsets: number
  /** records beyond the first copy of their offset */
  duplicateRecords: number
  kept: OffsetFile[]
  redundant: RedundantFile[]
  overlapping: OverlappingFile[]
  gaps: OffsetGap[]
  /** files with no records (kept, never redundant) */
  empty: OffsetFile[]
}

/** Kept files first: longer reach, then older, then by key. */
function better(a: OffsetFile, b: OffsetFile): boolean {
  if (a.endOffset !== b.endOffset) return a.endOffset > b.endOffset
  if (a.lastModified.getTime() !== b.lastModified.getTime()) return a.lastModified.getTime() < b.lastModified.getTime()
  return a.key < b.key
}

/**
 * Greedy interval cover: the fewest files that hold every offset any file holds (among equal choices the
 * oldest). Every other file is redundant (each of its records is in a kept file); kept files that share offsets
 * overlap (removing a file cannot fix that: those records need row-level dedupe); offsets no file holds between
 * two files are gaps.
 */
export function analyzePartition(files: OffsetFile[]): PartitionAnalysis {
  const nonEmpty = files.filter((f) => f.records > 0)
  const empty = files.filter((f) => f.records === 0)
  const sorted = [...nonEmpty].sort((a, b) => a.startOffset - b.startOffset || (better(a, b) ? -1 : better(b, a) ? 1 : 0))
  const kept: OffsetFile[] = []
  const gaps: OffsetGap[] = []
  const first = sorted[0] ?? files[0]
  let i = 0
  let p = sorted[0]?.startOffset ?? 0
  while (i < sorted.length) {
    if (sorted[i].startOffset > p) {
      const last = kept.at(-1)!
      gaps.push({topic: first.topic, partition: first.partition, from: p, to: sorted[i].startOffset, missing: sorted[i].startOffset - p, after: last.uri, before: sorted[i].uri})
      p = sorted[i].startOffset
    }
    let best: OffsetFile | undefined
    while (i < sorted.length && sorted[i].startOffset <= p) {
      if (!best || better(sorted[i], best)) best = sorted[i]
      i++
    }
    if (best && best.endOffset > p) {
      kept.push(best)
      p = best.endOffset
    }
  }
  const keptSet = new Set(kept)
  const redundant: RedundantFile[] = []
  for (const f of sorted) {
    if (keptSet.has(f)) continue
    const cover = kept.filter((k) => k.startOffset < f.endOffset && k.endOffset > f.startOffset)
    const same = cover.find((k) => k.startOffset === f.startOffset && k.endOffset === f.endOffset)
    redundant.push({...f, coveredBy: cover.map((k) => k.uri), identicalTo: same?.uri ?? null})
  }
  // the greedy choice makes only neighbours among kept files overlap
  const overlapping: OverlappingFile[] = []
  let overlapRecords = 0
  for (let k = 1; k < kept.length; k++) {
    const prev = kept[k - 1]
    const cur = kept[k]
    if (prev.endOffset > cur.startOffset) {
      const to = Math.min(prev.endOffset, cur.endOffset)
      overlapping.push({...cur, overlapFrom: cur.startOffset, overlapTo: to, overlapRecords: to - cur.startOffset, overlapsWith: prev.uri})
      overlapRecords += to - cur.startOffset
    }
  }
  const records = files.reduce((s, f) => s + f.records, 0)
  const distinctOffsets = kept.reduce((s, f) => s + f.records, 0) - overlapRecords
  return {
    topic: first?.topic ?? '',
    partition: first?.partition ?? 0,
    files: files.length,
    records,
    firstOffset: sorted[0]?.startOffset ?? 0,
    endOffset: kept.at(-1)?.endOffset ?? 0,
    distinctOffsets,
    duplicateRecords: records - distinctOffsets,
    kept,
    redundant,
    overlapping,
    gaps,
    empty,
  }
}
