import type {LoaderClock} from '../loader.js'
import {ledgerLookupSql} from '../sql.js'
import type {BigQueryLoadHost} from '../types.js'
import {type LedgerRecord, recordFromRow} from './ledger.js'

interface Waiter {
  uri: string
  resolve: (rows: LedgerRecord[]) => void
  reject: (err: unknown) => void
}

/** Look-ups that may run at once after a quiet spell: a second's worth at the default pace. */
export const LOOKUP_BURST = 4

/**
 * Ledger look-ups of many objects in ONE statement: requests wait while one runs (one statement in flight per
 * table), and a table's statements are paced by a bucket refilled at one per `minLookupIntervalMs`, holding at most
 * LOOKUP_BURST: a worker runs at most 3,600,000 / interval look-ups an hour per table (plus the burst), whatever its
 * rate of objects, and a look-up after a quiet spell starts at once instead of waiting for the next slot.
 */
export class LedgerLookups {
  private readonly waiting = new Map<string, Waiter[]>()
  private readonly running = new Set<string>()
  private readonly buckets = new Map<string, {tokens: number; at: number}>()
  private readonly timers = new Map<string, unknown>()
  statements = 0

  constructor(
    private readonly wh: Pick<BigQueryLoadHost, 'runQuery' | 'dialect'>,
    private readonly settings: {clock: LoaderClock; minLookupIntervalMs: number},
  ) {}

  get(table: string, uri: string): Promise<LedgerRecord[]> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(table) ?? []
      list.push({uri, resolve, reject})
      this.waiting.set(table, list)
      this.schedule(table)
    })
  }

  /** The table's bucket, refilled up to now. */
  private bucket(table: string): {tokens: number; at: number} {
    const {clock, minLookupIntervalMs} = this.settings
    const now = clock.now()
    const b = this.buckets.get(table) ?? {tokens: LOOKUP_BURST, at: now}
    b.tokens = minLookupIntervalMs <= 0 ? LOOKUP_BURST : Math.min(LOOKUP_BURST, b.tokens + (now - b.at) / minLookupIntervalMs)
    b.at = now
    this.buckets.set(table, b)
    return b
  }

  private schedule(table: string): void {
    if (this.running.has(table) || this.timers.has(table) || !this.waiting.get(table)?.length) return
    const b = this.bucket(table)
    const wait = b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) * this.settings.minLookupIntervalMs)
    this.timers.set(
      table,
      this.settings.clock.setTimeout(() => {
        this.timers.delete(table)
        void this.run(table)
      }, wait),
    )
  }

  private async run(table: string): Promise<void> {
    const batch = this.waiting.get(table) ?? []
    this.waiting.delete(table)
    if (batch.length === 0) return
    this.running.add(table)
    this.bucket(table).tokens -= 1
    try {
      this.statements++
      const uris = [...new Set(batch.map((w) => w.uri))]
      const rows = await this.wh.runQuery(ledgerLookupSql(this.wh.dialect), {table, objects: uris}, `ledger look-up (${uris.length} objects)`)
      const byUri = new Map<string, LedgerRecord[]>()
      for (const r of rows) {
        const rec = recordFromRow(r, table)
        byUri.set(rec.objectUri, [...(byUri.get(rec.objectUri) ?? []), rec])
      }
      for (const w of batch) w.resolve(byUri.get(w.uri) ?? [])
    } catch (err) {
      for (const w of batch) w.reject(err)
    } finally {
      this.running.delete(table)
      this.schedule(table)
    }
  }

  close(): void {
    for (const t of this.timers.values()) this.settings.clock.clearTimeout(t)
    this.timers.clear()
  }
}
