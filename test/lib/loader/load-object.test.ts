import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {loadObject} from '../../../src/lib/load/object.js'
import {IncompleteReadError, newCounters} from '../../../src/lib/loader/read-object.js'
import {LocalStore} from '../../../src/lib/store/local.js'
import type {ObjectInfo} from '../../../src/lib/store/types.js'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {count} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

/** A local store whose first `bad` reads return a well-formed but cut body (as a cut Content-Length does), or fail a checksum. */
class FlakyStore extends LocalStore {
  reads = 0
  constructor(root: string, private bad: number, private how: 'truncate' | 'checksum' | 'longer', private cutAt?: number) {
    super(root)
  }
  override async read(key: string): Promise<Readable> {
    const body = await super.read(key)
    if (this.reads++ >= this.bad) return body
    const chunks: Buffer[] = []
    for await (const c of body) chunks.push(c as Buffer)
    const all = Buffer.concat(chunks)
    if (this.how === 'longer') return Readable.from([all, Buffer.from('\n')])
    if (this.how === 'checksum') {
      return Readable.from((async function* () {
        yield all
        throw new Error('Checksum mismatch: expected "abc=" but received "xyz=" in response header "x-amz-checksum-crc32".')
      })())
    }
    // cut at a line boundary: the truncated body is itself a perfectly valid log file
    const cut = this.cutAt ?? all.lastIndexOf(10, Math.floor(all.length * 0.7)) + 1
    return Readable.from([all.subarray(0, cut)])
  }
}

async function setup(body: Buffer, bad: number, how: 'truncate' | 'checksum' | 'longer', cutAt?: number) {
  const dir = tempDir()
  mkdirSync(path.join(dir, 'src'))
  writeFileSync(path.join(dir, 'src', 'a.jsonl'), body)
  const store = new FlakyStore(path.join(dir, 'src'), bad, how, cutAt)
  let object: ObjectInfo | undefined
  for await (const o of store.list('')) object = o
  const db = path.join(dir, 'wh.duckdb')
  const wh = await DuckDBWarehouse.open(db)
  const format = getFormat('jsonl')
  await wh.ensureTable('t', format)
  const loader = await wh.openLoader({concurrency: 1})
  const run = async (retries: number) => {
    const counters = newCounters()
    try {
      return {result: await loadObject({loader, store, table: 't', format, object: object!, loadId: 'L', path: 'backfill', retries, counters}), counters}
    } catch (err) {
      return {error: err as Error, counters}
    }
  }
  const close = async () => {
    await loader.close()
    await wh.close()
  }
  return {store, db, run, close}
}

const member = (b: Buffer): Buffer => gzipSync(b)
const body = Buffer.from(Array.from({length: 2000}, (_, i) => JSON.stringify({ts: 1714557600 + i, msg: `m${i}`})).join('\n') + '\n')

describe('a short or corrupted read is retried, never loaded', () => {
  it.each([
    ['plain, cut short', body, 'truncate'],
    ['gzipped, cut short mid-stream', Buffer.concat([member(body.subarray(0, 20000)), member(body.subarray(20000))]), 'truncate'],
    // a valid gzip file on its own: only the size tells it is not the whole object
    ['gzipped, cut short at a gzip member boundary', Buffer.concat([member(body.subarray(0, body.indexOf(10, 20000) + 1)), member(body.subarray(body.indexOf(10, 20000) + 1))]), 'truncate', member(body.subarray(0, body.indexOf(10, 20000) + 1)).length],
    ['plain, checksum mismatch', body, 'checksum'],
    ['plain, longer than listed', body, 'longer'],
  ] as const)('%s: retried, then loaded whole', async (_n, data, how, cutAt?: number) => {
    const s = await setup(data, 2, how, cutAt)
    const {result} = await s.run(4)
    expect(result?.outcome).toEqual({status: 'loaded', rows: 2000, rejected: 0})
    expect(s.store.reads).toBe(3)
    await s.close()
    expect(await count(s.db, 'SELECT count(*) FROM t')).toBe(2000)
  })

  it('fails the object (no rows, no ledger entry) when every read is short, saying how many bytes came', async () => {
    const s = await setup(body, 100, 'truncate')
    const {error, counters} = await s.run(1)
    expect(error).toBeInstanceOf(IncompleteReadError)
    expect(error?.message).toMatch(new RegExp(`read \\d+ of ${body.length} bytes`))
    expect(counters.storedBytes).toBeGreaterThan(0)
    expect(s.store.reads).toBe(2)
    await s.close()
    expect(await count(s.db, 'SELECT count(*) FROM t')).toBe(0)
    expect(await count(s.db, 'SELECT count(*) FROM _seneka_ledger')).toBe(0)
  })
})
