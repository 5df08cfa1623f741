import type {ObjectStore} from '../store/types.js'
import type {TimeRange} from '../time.js'

const YEAR = /^(19|20)\d\d$/
const TWO = /^\d{2}$/
const MAX_DEPTH = 8

/** Trailing yyyy/, yyyy/mm/ or yyyy/mm/dd/ of a prefix, as numbers ([] when it ends in no date). */
function trailingDate(prefix: string): number[] {
  const s = prefix.split('/').filter(Boolean).slice(-3)
  const [a, b, c] = [s.at(-3), s.at(-2), s.at(-1)]
  if (a && b && c && YEAR.test(a) && TWO.test(b) && TWO.test(c)) return [+a, +b, +c]
  if (b && c && YEAR.test(b) && TWO.test(c)) return [+b, +c]
  if (c && YEAR.test(c)) return [+c]
  return []
}

/** [start, end) in ms of a year, month or day given as [y], [y, m] or [y, m, d]. */
function period(parts: number[]): [number, number] {
  const [y, m = 1, d = 1] = parts
  const start = Date.UTC(y, m - 1, d)
  const end = parts.length === 1 ? Date.UTC(y + 1, 0, 1) : parts.length === 2 ? Date.UTC(y, m, 1) : Date.UTC(y, m - 1, d + 1)
  return [start, end]
}

function overlaps(parts: number[], range: TimeRange): boolean {
  const [start, end] = period(parts)
  if (range.since && end <= range.since.getTime()) return false
  if (range.until && start >= range.until.getTime()) return false
  return true
}

/**
 * The prefixes to list for a time range. Walks "folders" with delimiter listings only: through non-date
 * levels (account, region ...) and, at yyyy/mm/dd levels, only into years, months and days that overlap the
 * range. Never lists the objects of days out of range. Without a range, the prefix itself.
 */
export async function prefixesForRange(store: ObjectStore, prefix: string, range: TimeRange): Promise<string[]> {
  if (!range.since && !range.until) return [prefix]
  const base = prefix === '' || prefix.endsWith('/') ? prefix : undefined
  if (base === undefined) return [prefix] // a name prefix, not a folder: list it
  return walk(store, base, range, 0)
}

async function walk(store: ObjectStore, prefix: string, range: TimeRange, depth: number): Promise<string[]> {
  const date = trailingDate(prefix)
  if (date.length > 0 && !overlaps(date, range)) return []
  if (date.length === 3 || depth >= MAX_DEPTH) return [prefix]
  const children = await store.listPrefixes(prefix)
  if (children.length === 0) return [prefix]
  const name = (p: string): string => p.slice(prefix.length, -1)
  const expect = date.length === 0 ? YEAR : TWO
  const dated = children.filter((c) => expect.test(name(c)))
  if (date.length > 0 || dated.length > 0) {
    // a date level: descend only into the parts in range (non-date siblings are listed whole)
    const others = children.filter((c) => !expect.test(name(c)))
    const inRange = dated.filter((c) => overlaps([...date, Number(name(c))], range))
    const nested = await Promise.all(inRange.map((c) => walk(store, c, range, depth + 1)))
    return [...nested.flat(), ...others]
  }
  const nested = await Promise.all(children.map((c) => walk(store, c, range, depth + 1)))
  return nested.flat()
}

const NAME_TIME = /(?:^|[_.-])(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})?Z(?:[_.-]|$)/
const PATH_DAY = /(?:^|\/)(\d{4})\/(\d{2})\/(\d{2})\//

/**
 * The time an object belongs to, for --since/--until. The yyyy/mm/dd/ folder decides the day when there is
 * one (so day-pruned listings and object selection always agree, and consecutive ranges tile with no gap);
 * a timestamp in the file name (ALB/ELB style ..._20240501T0005Z_...) refines it within that day; otherwise
 * LastModified.
 */
export function objectTime(key: string, lastModified: Date): number {
  const base = key.slice(key.lastIndexOf('/') + 1)
  const n = NAME_TIME.exec(base)
  const nameMs = n ? Date.UTC(+n[1], +n[2] - 1, +n[3], +n[4], +n[5], n[6] ? +n[6] : 0) : undefined
  const p = PATH_DAY.exec(key)
  if (p) {
    const day = Date.UTC(+p[1], +p[2] - 1, +p[3])
    if (nameMs !== undefined && nameMs >= day && nameMs < day + 86_400_000) return nameMs
    return day
  }
  return nameMs ?? lastModified.getTime()
}
