import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {renderSummary} from '../../../src/lib/backfill/render.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {LocalStore} from '../../../src/lib/store/local.js'
import {count} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

class FailingStore extends LocalStore {
  constructor(root: string, private fail: (body: Buffer) => Readable) {
    super(root)
  }
  override async read(key: string): Promise<Readable> {
    const chunks: Buffer[] = []
    for await (const c of await super.read(key)) chunks.push(c as Buffer)
    return this.fail(Buffer.concat(chunks))
  }
}

function setup(fail: (body: Buffer) => Readable) {
  const dir = tempDir()
  const root = path.join(dir, 'bucket')
  mkdirSync(path.join(root, 'logs'), {recursive: true})
  for (let f = 0; f < 6; f++) {
    writeFileSync(path.join(root, 'logs', `f${f}.jsonl`), Array.from({length: 500}, (_, i) => JSON.stringify({ts: 1714557600 + i, msg: 'x'})).join('\n') + '\n')
  }
  const db = path.join(dir, 'wh.duckdb')
  const run = () =>
    runBackfill({
      sources: ['s3://bucket/logs/'],
      storeFactories: {s3: () => new FailingStore(root, fail)},
      format: getFormat('jsonl'),
      warehouse: `duckdb:${db}`,
      table: 't',
      range: {},
      concurrency: 1,
      retries: 1,
      dryRun: false,
    })
  return {db, run}
}

describe('object-level failures', () => {
  it('a full disk stops the run with one clear line and the summary', async () => {
    const {db, run} = setup((body) =>
      Readable.from((async function* () {
        yield body.subarray(0, 1000)
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'})
      })()),
    )
    const r = await run()
    expect(r.stopped).toMatch(/no space left on the device \(ENOSPC\).*the run stopped/)
    expect(r.failures).toHaveLength(1)
    // objects already in flight fail too (counted, not listed); the rest are not started
    expect(r.objects.failed).toBeGreaterThanOrEqual(1)
    expect(r.objects.failed).toBeLessThan(6)
    expect(r.objects.loaded).toBe(0)
    const text = renderSummary(r)
    expect(text).toMatch(/^Stopped: no space left/m)
    expect(text).toMatch(/objects .* \d failed/)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(0)
  })

  it('a failed object says how many bytes were read, and the summary counts them', async () => {
    const {run} = setup((body) => Readable.from([body.subarray(0, 3000)]))
    const r = await run()
    expect(r.objects.failed).toBe(6)
    expect(r.failures[0].error).toMatch(/read 3000 of \d+ bytes .*\(after 3000 bytes read\); nothing from this object was loaded/)
    expect(r.bytesRead).toBe(6 * 3000)
    // a short read is transient: the summary offers the re-run, and only for these
    expect(r.failures.every((f) => f.retryable)).toBe(true)
    expect(renderSummary(r)).toContain('Failed objects (nothing from them was loaded; a transient error: re-run the same command to retry only these):')
  })

  it('a corrupt gzip is not offered a re-run: the same bytes fail again', async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'logs'))
    writeFileSync(path.join(dir, 'logs', 'bad.jsonl.gz'), Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    const r = await runBackfill({sources: [path.join(dir, 'logs')], format: getFormat('jsonl'), warehouse: `duckdb:${path.join(dir, 'wh.duckdb')}`, table: 't', range: {}, concurrency: 1, retries: 1, dryRun: false})
    expect(r.failures).toHaveLength(1)
    expect(r.failures[0]).toMatchObject({retryable: false, error: expect.stringMatching(/^cannot decompress .*; replace the object with a complete copy, or leave it out with --exclude$/)})
    const text = renderSummary(r)
    expect(text).toContain('Failed objects (nothing from them was loaded; the same objects fail again until the cause is fixed):')
    expect(text).not.toContain('re-run the same command')
  })

})
