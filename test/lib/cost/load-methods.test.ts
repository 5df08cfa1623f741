import {describe, expect, it} from 'vitest'
import {batchesFor, compareLoadMethods, dayTraffic, type LoadJobsModel, parseRate, renderLoadMethods, runTraffic, writeApiModel} from '../../../src/lib/cost/load-methods.js'
import {checkMaxLatency, LANE_STREAMS, MIN_LOAD_JOBS_MAX_LATENCY_MS, STREAM_GROUPS} from '../../../src/lib/cost/quotas.js'
import {BigQueryLoader} from '../../../src/lib/warehouse/bigquery/loader.js'

const MIB = 1024 ** 2
const model = (maxLatencyMs?: number): LoadJobsModel => BigQueryLoader.model({maxLatencyMs})
/** the stream worker's groups with every group in a pending stream of its own (no committed lane) */
const PENDING_ONLY = writeApiModel({...STREAM_GROUPS, committedLane: false})

describe('the cost model of the two BigQuery load methods', () => {
  it('batches: one per interval that sees an object, more when an interval holds more than a batch', () => {
    // 1 object/s at 2m: 720 intervals of 120 objects
    expect(batchesFor({objects: 86_400, bytes: 0}, 1000, Number.POSITIVE_INFINITY, 120_000)).toBe(720)
    // 50 objects/s at 2m: 6,000 objects an interval, 6 batches of 1,000
    expect(batchesFor({objects: 50 * 86_400, bytes: 0}, 1000, Number.POSITIVE_INFINITY, 120_000)).toBe(720 * 6)
    // fewer objects than intervals: each its own batch
    expect(batchesFor({objects: 100, bytes: 0}, 1000, Number.POSITIVE_INFINITY, 120_000)).toBe(100)
    // a run: by size only (objects, bytes)
    expect(batchesFor({objects: 2500, bytes: 1}, 1000)).toBe(3)
    expect(batchesFor({objects: 10, bytes: 9 * 1024 ** 3}, 1000, 4 * 1024 ** 3)).toBe(3)
    expect(batchesFor({objects: 0, bytes: 0}, 1000)).toBe(0)
  })

  it('a stream day at the default 2m, 1 object/s of 1 MiB: load jobs within quota; the Write API (pending streams) within its stream budget', () => {
    const c = compareLoadMethods(dayTraffic(1, MIB, false), model(120_000), PENDING_ONLY)
    const [lj, wa] = c.methods
    expect(lj).toMatchObject({method: 'load-jobs', loadJobs: 720, merges: 720, billedStatements: 3600, writeApiBytes: 0, createWriteStreamPerHour: 0})
    // 3,600 statements x 10 MiB + the staged rows read once (84.4 GiB)
    expect(lj.billedBytes).toBe(3600 * 10 * MIB + 86_400 * MIB)
    expect(lj.quotas.every((q) => q.holds)).toBe(true)
    // objects share streams: the worker's budget of 3,000 streams an hour (was one stream per object: 86,400 / 3,600)
    expect(wa).toMatchObject({method: 'write-api', loadJobs: 0, merges: 0, createWriteStreamCalls: 72_000, createWriteStreamPerHour: 3000, writeApiBytes: 86_400 * MIB})
    // three look-up rounds per object (each its own group at 1/s), paced at 250 ms: 259,200 a day of 10 MiB
    expect(wa.billedStatements).toBe(3 * 86_400)
    // 30 days of 84.4 GiB = 2,531 GiB; 2,048 free; 483.75 GiB at $0.025
    expect(wa.writeApiBytesPerMonth).toBe(30 * 86_400 * MIB)
    expect(wa.writeApiUsdPerMonth).toBeCloseTo(((30 * 86_400) / 1024 - 2048) * 0.025, 2)
    expect(wa.quotas.find((q) => q.quota === 'CreateWriteStream')).toMatchObject({used: 3000, limit: 10_000, holds: true})
  })

  it('objects share streams: one stream per object breaks the CreateWriteStream quota at 5 objects/s, the grouped loader holds at 1, 5, 50 and 100', () => {
    const one = compareLoadMethods(dayTraffic(5, MIB, false), model(120_000), {objectsPerStream: 1, streamsPerHour: Number.POSITIVE_INFINITY, lookupEveryMs: 1000, committedLane: false})
    expect(one.methods[1].createWriteStreamPerHour).toBe(18_000)
    expect(one.methods[1].quotas.find((q) => q.quota === 'CreateWriteStream')?.holds).toBe(false)
    expect(one.advice).toMatch(/^load-jobs: the Write API path breaks CreateWriteStream/)
    // the loader's groups: at most 100 objects a stream, at most 3,000 streams an hour per worker
    const perHour = (rate: number) => compareLoadMethods(dayTraffic(rate, MIB, false), model(120_000), PENDING_ONLY).methods[1]
    expect([1, 5, 50, 100].map((r) => perHour(r).createWriteStreamPerHour)).toEqual([3000, 3000, 3000, 3600])
    expect(perHour(50).latency).toBe('seconds (about 60 objects a stream)')
    for (const r of [1, 5, 50, 100]) expect(perHour(r).quotas.every((q) => q.holds || q.quota === 'Write API free tier')).toBe(true)
    expect(perHour(0.5).createWriteStreamPerHour).toBe(1800)
    expect(perHour(0.5).latency).toBe('seconds')
  })

  it('the committed lane (the stream default): a few streams per worker whatever the rate; objects over one request take pending streams', () => {
    const lane = (rate: number, bytes = MIB) => compareLoadMethods(dayTraffic(rate, bytes, false), model(120_000)).methods[1]
    for (const r of [0.5, 1, 5, 50, 100]) expect(lane(r)).toMatchObject({createWriteStreamPerHour: LANE_STREAMS, latency: 'under a second to seconds (committed lane)'})
    expect(lane(5).notes.join(' ')).toMatch(/committed lane \(8 committed-type streams/)
    // objects of 16 MiB do not fit one append request: pending streams, the budget
    expect(lane(5, 16 * MIB)).toMatchObject({createWriteStreamPerHour: 3000})
    // look-ups: two rounds per group of new objects (the look-up after the intents, the check after the append),
    // capped by the pace as before
    expect(lane(1).billedStatements).toBe(2 * 86_400)
    expect(lane(100).billedStatements).toBe(345_600)
    expect(lane(1).notes.join(' ')).toMatch(/ and 2 ledger look-up rounds per group of objects/)
  })

  it('Write API look-ups: three rounds per group, never more than one statement per interval; a run counts its groups', () => {
    const wa = (rate: number, lookupEveryMs = 250) => compareLoadMethods(dayTraffic(rate, MIB, false), model(120_000), {objectsPerStream: 100, streamsPerHour: 3000, lookupEveryMs, committedLane: false}).methods[1]
    // 0.1 objects/s: 3 per object; 100 objects/s: the interval caps them (345,600 = 86,400 s / 0.25 s)
    expect(wa(0.1).billedStatements).toBe(3 * 8640)
    expect(wa(100).billedStatements).toBe(345_600)
    // a slower pace bills fewer: one a second at most
    expect(wa(100, 1000).billedStatements).toBe(86_400)
    expect(wa(100, 1000).billedBytes).toBe(86_400 * 10 * MIB)
    // a backfill of 1,000 objects in groups of 250: 4 groups, 3 rounds each
    const run = compareLoadMethods(runTraffic(1000, 1000 * MIB), model(), {objectsPerStream: 250, streamsPerHour: 3000, lookupEveryMs: 200, committedLane: false}).methods[1]
    expect(run.billedStatements).toBe(12)
    // dearer than load jobs at 1 object/s: the advice names the knob that trades latency for fewer look-ups
    expect(compareLoadMethods(dayTraffic(1, MIB, false), model(120_000)).advice).toMatch(/^load-jobs if cost matters most .*SENEKA_WRITE_LOOKUP_INTERVAL_MS=1000/)
  })

  it('the load-jobs path says when it cannot keep up: the merge chain at a short interval, the project quota with many workers', () => {
    // what the library would plan at 1 s (the flag refuses it): 86,400 batches, a 9 s chain per 1 s interval
    const c = compareLoadMethods(dayTraffic(1, MIB, false), model(1000))
    const lj = c.methods[0]
    expect(lj.loadJobs).toBe(86_400)
    // the staging tables rotate (62 a day) so no table meets its quota; the chain does not keep up
    expect(lj.stagingTables).toBe(62)
    expect(lj.quotas.filter((q) => !q.holds).map((q) => q.quota)).toEqual(['merge chain'])
    const text = renderLoadMethods(c)
    expect(text).toMatch(/load-jobs: merge chain exceeded: 9,000 against 1,000 ms of load and merge per 1\.0s interval/)
    expect(c.advice).toMatch(/^write-api: the load-jobs path breaks merge chain\.$/)
    // 0.5 s: 172,800 load jobs a day, above the project's 100,000
    expect(compareLoadMethods(dayTraffic(5, MIB, false), model(500)).methods[0].quotas.filter((q) => !q.holds).map((q) => q.quota)).toEqual(['load jobs per project', 'merge chain'])
    expect(compareLoadMethods(dayTraffic(5, MIB, false), model(1000)).advice).toBe('write-api: the load-jobs path breaks merge chain.')
    // at the bound every quota holds, and a day's batches fit one staging table's budget
    const atBound = compareLoadMethods(dayTraffic(5, MIB, false), model(MIN_LOAD_JOBS_MAX_LATENCY_MS)).methods[0]
    expect(atBound.loadJobs).toBe(1490)
    expect(atBound.quotas.every((q) => q.holds)).toBe(true)
    // the ledger: 40 workers at 2m (2 merges at once, 6 s each)
    expect(compareLoadMethods(dayTraffic(1, MIB, false), model(120_000)).methods[0].notes[0]).toMatch(/about 40 workers like this one/)
  })

  it('a backfill run: load jobs by batch size on rotating staging tables; CreateWriteStream by groups', () => {
    const c = compareLoadMethods(runTraffic(250_000, 250_000 * MIB), model())
    const [lj, wa] = c.methods
    expect(lj.loadJobs).toBe(250)
    expect(lj.quotas.find((q) => q.quota === 'load jobs per table')?.holds).toBe(true)
    // groups of 250 objects (was one stream per object: 250,000 streams, 25 h at the quota)
    expect(wa.createWriteStreamCalls).toBe(1000)
    expect(wa.createWriteStreamPerHour).toBe(1000)
    expect(wa.quotas[0].note).toBeUndefined()
    // the run's bytes against one month's free tier
    expect(wa.writeApiUsdPerMonth).toBeCloseTo((250_000 / 1024 - 2048) * 0.025 * (250_000 / 1024 > 2048 ? 1 : 0), 2)
    expect(renderLoadMethods(c)).toMatch(/BigQuery load methods, this run \(250,000 objects, 244\.1 GiB as stored\)/)
  })

  it('parses rates', () => {
    expect(parseRate('5/s', '--expected-rate')).toBe(5)
    expect(parseRate('300/m', '--expected-rate')).toBe(5)
    expect(parseRate('7200/h', '--expected-rate')).toBe(2)
    expect(parseRate('2', '--expected-rate')).toBe(2)
    expect(() => parseRate('0/s', '--expected-rate')).toThrow('--expected-rate "0/s" is not a rate of objects.')
    expect(() => parseRate('fast', '--expected-rate')).toThrow(/not a rate/)
  })
})

describe('--max-latency lower bound of the load-jobs path', () => {
  it('is 58 s: 86,400 s / 1,500 load jobs per table per day, above one load (3 s) and merge (6 s)', () => {
    expect(MIN_LOAD_JOBS_MAX_LATENCY_MS).toBe(58_000)
    expect(checkMaxLatency(58_000)).toBe(58_000)
    expect(() => checkMaxLatency(0)).toThrow('--max-latency 0ms is below 58.0s, the shortest interval BigQuery load jobs keep up with (1,500 load jobs per table per day, one load and one merge per batch).')
    try {
      checkMaxLatency(30_000)
    } catch (err) {
      expect((err as {suggestion: string}).suggestion).toBe('Use --max-latency 58.0s or more; to commit within seconds, load with the Storage Write API (--load-method write-api).')
    }
    expect.assertions(4)
  })
})
