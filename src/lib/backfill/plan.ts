import pLimit from 'p-limit'
import picomatch from 'picomatch'
import {isMarkerKey} from '../store/markers.js'
import {isSameVersion} from '../store/types.js'
import {type ObjectInfo, type ObjectStore, openStore, parseLocation, type StoreFactories, type StoreOptions} from '../store/index.js'
import {inRange, type TimeRange, utcDay} from '../time.js'
import type {LedgerEntry} from '../warehouse/types.js'
import type {InventorySummary} from './inventory.js'
import {objectTime, prefixesForRange} from './layout.js'
import {inShard, type Shard} from './shard.js'

export type PlannedAction = 'load' | 'replace' | 'skip'

export interface PlannedObject extends ObjectInfo {
  action: PlannedAction
  /** UTC day the object belongs to (see objectTime) */
  day: string
}

export interface DayPlan {
  day: string
  objects: number
  bytes: number
  load: number
  replace: number
  skip: number
}

export interface PlanTotals {
  objects: number
  bytes: number
  load: number
  replace: number
  skip: number
  /** bytes of the objects that would be read (load + replace) */
  bytesToRead: number
}

export interface PlanRequests {
  /** LIST requests made while planning */
  list: number
  /** GET requests the load would make (one per object to load) */
  get: number
  listedPrefixes: string[]
}

/** Marker objects (see store/markers.ts) among the selected objects: never loaded, counted apart. */
export interface PlanMarkers {
  objects: number
  /** the first few URIs */
  samples: string[]
}

export interface BackfillPlan {
  days: DayPlan[]
  totals: PlanTotals
  requests: PlanRequests
  markers: PlanMarkers
  /** objects in range that belong to other shards (--shard); absent without a shard */
  otherShards?: number
  /** planned from an S3 Inventory, a file list or a saved plan instead of listing (listed-plan.ts) */
  from?: PlanFromSummary
}

/** How a plan not made by listing found its objects. */
export interface PlanFromSummary {
  kind: 'inventory' | 'files' | 'plan'
  /** the manifest, the file list ("-" for standard input) or the plan file */
  file: string
  /** candidate objects read (inventory rows under the source, keys of the list found, rows of the plan) */
  candidates: number
  inventory?: InventorySummary
  /** --files-from: keys not found (HEAD) while planning */
  notFound?: {objects: number; samples: string[]}
  /** HEAD requests made while planning (--files-from) */
  head: number
}

export interface PlanInput {
  sources: string[]
  range: TimeRange
  include?: string[]
  exclude?: string[]
  shard?: Shard
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  /** listings in flight at once */
  listConcurrency?: number
  /** objects the ledger has are replaced even when their ETag is the same (backfill --reload) */
  reload?: boolean
}

export interface PlannedSource {
  store: ObjectStore
  objects: PlannedObject[]
  /** marker objects left out */
  markers: string[]
}

export function globMatcher(globs: string[] | undefined): ((key: string) => boolean) | undefined {
  if (!globs || globs.length === 0) return undefined
  // a glob without "/" matches the file name; one with "/" matches the whole key
  const byName = picomatch(globs.filter((g) => !g.includes('/')), {dot: true})
  const byKey = picomatch(globs.filter((g) => g.includes('/')), {dot: true})
  return (key) => byName(key.slice(key.lastIndexOf('/') + 1)) || byKey(key)
}

/** Lists the sources (date-pruned), applies time range, globs and shard, and compares with the ledger. */
export async function planBackfill(input: PlanInput, ledger: Map<string, LedgerEntry>): Promise<{sources: PlannedSource[]; plan: BackfillPlan}> {
  const include = globMatcher(input.include)
  const exclude = globMatcher(input.exclude)
  const limit = pLimit(input.listConcurrency ?? 8)
  const seen = new Set<string>()
  const sources: PlannedSource[] = []
  let otherShards = 0
  for (const source of input.sources) {
    const loc = parseLocation(source)
    const store = openStore(loc, input.storeOptions, input.storeFactories)
    const prefixes = loc.object ? [] : await prefixesForRange(store, loc.prefix, input.range)
    const named = loc.object ? await store.head(loc.prefix) : undefined
    const listed = await Promise.all(
      prefixes.map((p) =>
        limit(async () => {
          const out: ObjectInfo[] = []
          for await (const o of store.list(p)) out.push(o)
          return out
        }),
      ),
    )
    const objects: PlannedObject[] = []
    const markers: string[] = []
    for (const o of [...(named ? [named] : []), ...listed.flat()]) {
      if (seen.has(o.uri)) continue // overlapping sources list an object once
      if (include && !include(o.key)) continue
      if (exclude && exclude(o.key)) continue
      const t = objectTime(o.key, o.lastModified)
      if (!inRange(t, input.range)) continue
      seen.add(o.uri)
      if (!inShard(o.uri, input.shard)) {
        otherShards++
        continue
      }
      if (isMarkerKey(o.key)) {
        markers.push(o.uri)
        continue
      }
      const prev = ledger.get(o.uri)
      const action: PlannedAction = !prev ? 'load' : isSameVersion(prev.etag, o) && !input.reload ? 'skip' : 'replace'
      objects.push({...o, action, day: utcDay(t)})
    }
    sources.push({store, objects, markers})
  }
  return {sources, plan: {...summarize(sources), ...(input.shard ? {otherShards} : {})}}
}

function summarize(sources: PlannedSource[]): BackfillPlan {
  const days = new Map<string, DayPlan>()
  const totals: PlanTotals = {objects: 0, bytes: 0, load: 0, replace: 0, skip: 0, bytesToRead: 0}
  const requests: PlanRequests = {list: 0, get: 0, listedPrefixes: []}
  for (const s of sources) {
    requests.list += s.store.stats.list
    requests.listedPrefixes.push(...s.store.stats.listedPrefixes.map((p) => s.store.uri(p)))
    for (const o of s.objects) {
      let d = days.get(o.day)
      if (!d) days.set(o.day, (d = {day: o.day, objects: 0, bytes: 0, load: 0, replace: 0, skip: 0}))
      d.objects++
      d.bytes += o.size
      d[o.action]++
      totals.objects++
      totals.bytes += o.size
      totals[o.action]++
      if (o.action !== 'skip') totals.bytesToRead += o.size
    }
  }
  requests.get = totals.load + totals.replace
  const markers = sources.flatMap((s) => s.markers)
  return {days: [...days.values()].sort((a, b) => a.day.localeCompare(b.day)), totals, requests, markers: {objects: markers.length, samples: markers.slice(0, 5)}}
}
