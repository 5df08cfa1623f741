import {UserError} from '../errors.js'
import type {CutoverConfig} from './config.js'
import type {GateRecord, Mode, StateLock, StateStore} from './state.js'

export interface BucketStatus {
  bucket: string
  wave: number | null
  mode: Mode
  since: string | null
  by: string | null
  gates: GateRecord | null
  /** false for a bucket in the state document that is no longer in the config file */
  configured: boolean
  /** true when the hourly batch job must skip this bucket */
  skipBatch: boolean
}

export interface StatusResult {
  state: {location: string; version: number; updatedAt: string | null; updatedBy: string | null; lock: StateLock | null}
  buckets: BucketStatus[]
}

export async function cutoverStatus(cfg: CutoverConfig, store: StateStore, filter: {wave?: number; bucket?: string} = {}): Promise<StatusResult> {
  const {state} = await store.read()
  const names = new Set([...Object.keys(cfg.buckets), ...Object.keys(state.buckets)])
  const rows: BucketStatus[] = []
  for (const name of names) {
    const c = cfg.buckets[name]
    const s = state.buckets[name]
    const mode = s?.mode ?? 'batch'
    const wave = c?.wave ?? s?.wave ?? null
    if (filter.bucket !== undefined && filter.bucket !== name) continue
    if (filter.wave !== undefined && filter.wave !== wave) continue
    rows.push({bucket: name, wave, mode, since: s?.since || null, by: s?.by || null, gates: s?.gates ?? null, configured: Boolean(c), skipBatch: mode === 'event-driven'})
  }
  if (rows.length === 0 && (filter.bucket !== undefined || filter.wave !== undefined)) {
    const known = [...names].sort()
    const what = filter.bucket !== undefined ? `The bucket ${filter.bucket} is` : `No bucket is in wave ${filter.wave}`
    throw new UserError(`${what}${filter.bucket !== undefined ? ' neither' : ''} in the cutover configuration ${filter.bucket !== undefined ? 'nor' : 'or'} in the state (${store.location}).`, {
      suggestion: `Known buckets: ${known.join(', ') || '(none)'}.`,
    })
  }
  rows.sort((a, b) => (a.wave ?? 1e9) - (b.wave ?? 1e9) || a.bucket.localeCompare(b.bucket))
  return {state: {location: store.location, version: state.version, updatedAt: state.updatedAt, updatedBy: state.updatedBy, lock: state.lock ?? null}, buckets: rows}
}
