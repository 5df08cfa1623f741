import type {LedgerEntry, Row} from '../../types.js'
import {ledgerFromRow} from '../sql.js'

/**
 * The ledger as the Write API path keeps it: appended to, never merged. An object has several rows: an 'intent'
 * (its rows sit in a finalized PENDING stream, recorded BEFORE the commit), then 'committed' (or 'abandoned').
 * A load-jobs entry (state NULL) counts as committed. Duplicated rows (the default stream is at least once) are
 * harmless: everything here is keyed by stream.
 */

/** 'group': a stream's own row (object_uri `stream:<name>`), naming its objects in stream_members */
export type LedgerState = 'intent' | 'committed' | 'abandoned' | 'group'

export interface LedgerRecord extends LedgerEntry {
  state: LedgerState
  stream: string | null
  rejectStream: string | null
  /** the offset of the object's first row in `stream` (objects of a group share it); null: rows from 0 (older rows) */
  offset: number | null
  /** objects whose rows share `stream` (null: one, older rows) */
  streamObjects: number | null
  /** a group row's objects */
  members?: string[]
}

/** The object_uri of a stream's group row. */
export function groupKey(stream: string): string {
  return `stream:${stream}`
}

export function recordFromRow(r: Row, table: string): LedgerRecord {
  const state = r.state === null || r.state === undefined ? 'committed' : (String(r.state) as LedgerState)
  return {...ledgerFromRow(r), table, state, stream: r.stream ? String(r.stream) : null, rejectStream: r.reject_stream ? String(r.reject_stream) : null, offset: numberOrNull(r.stream_offset), streamObjects: numberOrNull(r.stream_objects), ...(r.stream_members ? {members: JSON.parse(String(r.stream_members)) as string[]} : {})}
}

function numberOrNull(v: Row[string] | undefined): number | null {
  return v === null || v === undefined ? null : Number(v)
}

/** What the ledger says of one object. */
export interface ObjectView {
  /** the committed entry recorded last: the version the table holds */
  current?: LedgerRecord
  /** every committed entry (all versions; replaced ones included) */
  committed: LedgerRecord[]
  /** intents not settled yet (no committed or abandoned row for their stream) */
  open: LedgerRecord[]
  /** every load id any row of the object names: a new attempt takes another, so a DELETE by load id is one stream's */
  loadIds: Set<string>
  /** every ledger row of the object */
  records: readonly LedgerRecord[]
}

/**
 * One attempt to load an object: its stream and its load id. A pending stream holds one attempt of an object; a
 * stream of the committed lane may hold several over its life (an attempt abandoned, a later one committed), each
 * with its own load id (an object's later attempt takes the next `#n`), and every settling row carries the load id
 * of the attempt it settles.
 */
export function attemptKey(r: Pick<LedgerRecord, 'stream' | 'loadId'>): string {
  return `${r.stream}\u0000${r.loadId}`
}

export function sameAttempt(a: Pick<LedgerRecord, 'stream' | 'loadId'>, b: Pick<LedgerRecord, 'stream' | 'loadId'>): boolean {
  return a.stream === b.stream && a.loadId === b.loadId
}

export function viewOf(records: readonly LedgerRecord[]): ObjectView {
  const settled = new Set<string>()
  const abandoned = new Set<string>()
  for (const r of records) if (r.state === 'abandoned' && r.stream) abandoned.add(attemptKey(r))
  const committed: LedgerRecord[] = []
  const seen = new Set<string>()
  for (const r of records) {
    if (r.state === 'intent') continue
    if (r.stream) settled.add(attemptKey(r))
    // a committed stream abandoned afterwards (a newer version won; its rows were deleted) is no entry
    if (r.state !== 'committed' || (r.stream && abandoned.has(attemptKey(r)))) continue
    // the same committed stream recorded twice (a retried append, two settlers) is one entry
    const key = r.stream ? attemptKey(r) : `${r.loadId}#${r.etag}#${r.loadedAt.getTime()}`
    if (seen.has(key)) continue
    seen.add(key)
    committed.push(r)
  }
  committed.sort((a, b) => a.loadedAt.getTime() - b.loadedAt.getTime())
  const open: LedgerRecord[] = []
  const openSeen = new Set<string>()
  for (const r of records) {
    if (r.state !== 'intent' || !r.stream || settled.has(attemptKey(r)) || openSeen.has(attemptKey(r))) continue
    openSeen.add(attemptKey(r))
    open.push(r)
  }
  return {current: committed.at(-1), committed, open, loadIds: new Set(records.map((r) => r.loadId)), records}
}

/** The current entry of every object among ledger rows of one table (readLedger). */
export function currentEntries(rows: readonly Row[], table: string): Map<string, LedgerEntry> {
  const byUri = new Map<string, LedgerRecord[]>()
  for (const r of rows) {
    const rec = recordFromRow(r, table)
    const list = byUri.get(rec.objectUri)
    if (list) list.push(rec)
    else byUri.set(rec.objectUri, [rec])
  }
  const out = new Map<string, LedgerEntry>()
  for (const [uri, recs] of byUri) {
    const cur = viewOf(recs).current
    if (cur) {
      const {state: _s, stream: _t, rejectStream: _r, offset: _o, streamObjects: _n, members: _m, ...entry} = cur
      out.set(uri, entry)
    }
  }
  return out
}
