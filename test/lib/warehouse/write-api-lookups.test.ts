import {describe, expect, it} from 'vitest'
import {bigQueryDialect} from '../../../src/lib/warehouse/bigquery/sql.js'
import {LedgerLookups, LOOKUP_BURST} from '../../../src/lib/warehouse/bigquery/write-api/lookups.js'
import type {Row} from '../../../src/lib/warehouse/types.js'
import {manualClock} from '../../helpers/manual-clock.js'

/** A ledger whose statements answer when the test says, each recording when it started and what it asked. */
function fakeLedger(clock: {now: () => number}) {
  const started: Array<{at: number; objects: string[]; answer: (rows: Row[]) => void}> = []
  return {
    started,
    host: {
      dialect: bigQueryDialect('p', 'd'),
      runQuery: (_sql: string, params: Record<string, unknown> | undefined) =>
        new Promise<Row[]>((resolve) => started.push({at: clock.now(), objects: params!.objects as string[], answer: resolve})),
    },
  }
}

const settle = () => new Promise((r) => setImmediate(r))

describe('ledger look-ups of the Write API loader', () => {
  it('coalesce while one runs, start at once after a quiet spell, and never exceed one per interval beyond the burst', async () => {
    const clock = manualClock()
    const f = fakeLedger(clock)
    const l = new LedgerLookups(f.host as never, {clock, minLookupIntervalMs: 250})
    // quiet: the first look-up starts at once
    const a = l.get('t', 'a')
    clock.advance(0)
    expect(f.started.map((s) => s.objects)).toEqual([['a']])
    // while it runs, the others wait and go together in ONE statement
    const b = l.get('t', 'b')
    const c = l.get('t', 'c')
    f.started[0].answer([])
    await a
    clock.advance(0)
    await settle()
    expect(f.started.map((s) => s.objects)).toEqual([['a'], ['b', 'c']])
    f.started[1].answer([{target_table: 't', object_uri: 'c', state: 'intent', stream: 's1', etag: 'e', size: 1, last_modified: 0, rows: 1, rejected: 0, load_id: 'l', path: 'stream', loaded_at: 0} as never])
    expect((await b).length).toBe(0)
    expect((await c).map((r) => r.stream)).toEqual(['s1'])
    // a steady demand: every look-up answered at once, asked for again at once; over 10 s the statements stay
    // within the burst plus one per 250 ms, whatever the demand
    const t0 = clock.now()
    const before = f.started.length
    for (let i = 0; i < 200; i++) {
      let done = false
      void l.get('t', `o${i}`).then(() => (done = true))
      while (!done) {
        clock.advance(10)
        await settle()
        for (const s of f.started) s.answer([])
        await settle()
      }
    }
    const elapsed = clock.now() - t0
    expect(f.started.length - before).toBeLessThanOrEqual(LOOKUP_BURST + Math.ceil(elapsed / 250))
    expect(f.started.length - before).toBeGreaterThanOrEqual(Math.floor(elapsed / 250) - 1)
    for (let i = 1; i < f.started.length; i++) expect(f.started[i].at).toBeGreaterThanOrEqual(f.started[i - 1].at)
    // after a quiet spell, look-ups one after another start at once up to the burst (a group's race check does not
    // wait for the next slot), then one per interval
    clock.advance(5000)
    const at: number[] = []
    for (let i = 0; i <= LOOKUP_BURST; i++) {
      let done = false
      void l.get('t', `q${i}`).then(() => (done = true))
      while (!done) {
        clock.advance(0)
        await settle()
        if (f.started.at(-1)!.objects[0] !== `q${i}`) clock.advance(10)
        else {
          at.push(f.started.at(-1)!.at)
          f.started.at(-1)!.answer([])
        }
        await settle()
      }
    }
    const quiet = at[0]
    expect(at.slice(0, LOOKUP_BURST)).toEqual(Array(LOOKUP_BURST).fill(quiet))
    expect(at[LOOKUP_BURST]).toBeGreaterThanOrEqual(quiet + 250 - 10)
    l.close()
  })
})
