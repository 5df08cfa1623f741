import {DuckDBInstance} from '@duckdb/node-api'
import {mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {type BackfillOptions, runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {bigQuerySyntaxError} from '../../helpers/bigquery-sql.js'
import {tempDir} from '../../helpers/tmp.js'
import {useGoogleStandIns} from '../../helpers/write-api-double.js'

/**
 * The ledger diff of a plan made from a file list (the same code plans from an inventory or a saved plan): the
 * version each object has in the table, as the engine reads its ledger, decides load, skip or replace, once per
 * object, whatever the engine keeps besides (the Write API's intents, older versions, abandoned streams; the
 * ledgers of other tables and sources).
 */

const ALB = getFormat('alb')
const fx = albFixture({days: 1, intervalMinutes: 360, linesPerFile: 5})

/** action per uri from a plan file (uri,key,size,etag,last_modified,day,action,shard) */
function actions(file: string): Array<[string, string]> {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','))
    .map((c) => [c[0], c[6]])
}

const fileList = (uris: string[]) => ({kind: 'files' as const, file: '-', stdin: Readable.from([uris.join('\n') + '\n'])})

describe('backfill from a file list: the ledger diff', () => {
  it('DuckDB: a loaded object is skipped once, also when its entry has the older size-mtime ETag of a local file', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    for (const f of fx.files) {
      mkdirSync(path.dirname(path.join(src, f.key)), {recursive: true})
      writeFileSync(path.join(src, f.key), f.body)
    }
    const db = path.join(dir, 'wh.duckdb')
    const uris = fx.files.map((f) => `file://${path.join(src, f.key)}`)
    const keys = fx.files.map((f) => f.key)
    const base: BackfillOptions = {sources: [src], format: ALB, warehouse: `duckdb:${db}`, table: 'alb', range: {}, concurrency: 2, dryRun: false}
    const first = await runBackfill({...base, from: fileList(keys.slice(0, 2))})
    expect(first.objects.loaded).toBe(2)
    // the first object's entry as an older version of seneka recorded it (size-mtime); entries of another table
    // and of another folder of the same name prefix
    const st = statSync(path.join(src, keys[0]), {bigint: true})
    const inst = await DuckDBInstance.create(db)
    const conn = await inst.connect()
    const [uri0] = (await (await conn.runAndReadAll(`SELECT object_uri FROM _seneka_ledger ORDER BY object_uri LIMIT 1`)).getRows()) as string[][]
    await conn.run(`UPDATE _seneka_ledger SET etag = $e WHERE object_uri = $u`, {e: `${st.size}-${st.mtimeNs}`, u: uri0[0]})
    await conn.run(`INSERT INTO _seneka_ledger BY NAME SELECT 'other' AS target_table, object_uri, 'x' AS etag FROM _seneka_ledger WHERE target_table = 'alb'`)
    await conn.run(`INSERT INTO _seneka_ledger BY NAME SELECT 'alb' AS target_table, replace(object_uri, '/src/', '/src-old/') AS object_uri, 'x' AS etag FROM _seneka_ledger WHERE target_table = 'alb'`)
    conn.closeSync()
    inst.closeSync()
    const planFile = path.join(dir, 'plan.csv')
    const dry = await runBackfill({...base, dryRun: true, planOut: planFile, from: fileList(keys)})
    expect(dry.plan.totals).toMatchObject({objects: keys.length, skip: 2, load: keys.length - 2, replace: 0})
    const planned = actions(planFile)
    expect(planned.map(([u]) => u).sort()).toEqual([...uris].sort())
    expect(planned.filter(([, a]) => a === 'skip').map(([u]) => u)).toEqual(uris.slice(0, 2).sort())
    // and the load agrees: the object with the older ETag is not loaded again
    const run = await runBackfill({...base, from: fileList(keys)})
    expect(run.objects).toMatchObject({loaded: keys.length - 2, skipped: 2, replaced: 0, failed: 0})
  })

  describe('BigQuery (Write API ledger: appended rows)', () => {
    const google = useGoogleStandIns()

    it('plans an intent-only object and an abandoned one to load, a committed one (with older versions) to skip once, a newer version to replace', async () => {
      const dataset = 'ledger_diff'
      const bucket = 'src-ledger-diff'
      for (const f of fx.files) google.g.putObject(bucket, f.key, f.body)
      const [a, b, c, d] = fx.files.map((f) => `gs://${bucket}/${f.key}`)
      const base: BackfillOptions = {
        sources: [`gs://${bucket}/${PREFIX}`],
        format: ALB,
        warehouse: `bigquery://test-project/${dataset}`,
        table: 'alb_logs',
        range: {},
        concurrency: 2,
        dryRun: false,
        retries: 3,
        storeOptions: {gcsEndpoint: google.g.endpoint},
        bigquery: {location: 'EU', apiEndpoint: google.g.endpoint, gcsEndpoint: google.g.endpoint, loadMethod: 'write-api', storageEmulatorHost: google.w.host, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0}}},
      }
      const first = await runBackfill({...base, from: fileList([a, b, c, d])})
      expect(first.objects, JSON.stringify(first.failures)).toMatchObject({loaded: 4, failed: 0})
      const ledger = `"${dataset}"."_seneka_ledger"`
      const sql = (text: string) => google.sql.run(text, {})
      // c: only its intent is left (its commit was never recorded: the rows may not be in the table)
      await sql(`DELETE FROM ${ledger} WHERE object_uri = '${c}' AND state = 'committed'`)
      // d: its committed stream was abandoned afterwards (its rows were deleted)
      await sql(`INSERT INTO ${ledger} (target_table, object_uri, etag, state, stream, loaded_at) SELECT target_table, object_uri, etag, 'abandoned', stream, loaded_at + INTERVAL 1 SECOND FROM ${ledger} WHERE object_uri = '${d}' AND state = 'committed'`)
      // a: an older version committed before the current one
      await sql(`INSERT INTO ${ledger} (target_table, object_uri, etag, state, stream, loaded_at) SELECT target_table, object_uri, 'older', 'committed', 'old-stream', loaded_at - INTERVAL 1 HOUR FROM ${ledger} WHERE object_uri = '${a}' AND state = 'committed'`)
      // b: a newer version committed after the one in the bucket now
      await sql(`INSERT INTO ${ledger} (target_table, object_uri, etag, state, stream, loaded_at) SELECT target_table, object_uri, 'newer', NULL, NULL, loaded_at + INTERVAL 1 HOUR FROM ${ledger} WHERE object_uri = '${b}' AND state = 'committed'`)
      const planFile = path.join(tempDir(), 'plan.csv')
      const dry = await runBackfill({...base, dryRun: true, planOut: planFile, from: fileList([a, b, c, d])})
      expect(dry.plan.totals).toMatchObject({objects: 4, skip: 1, replace: 1, load: 2})
      expect(actions(planFile)).toEqual([
        [a, 'skip'],
        [b, 'replace'],
        [c, 'load'],
        [d, 'load'],
      ])
      // the ledger was reduced and filtered by BigQuery: one statement, with the source prefix
      const reads = google.g.jobs('query').map((j) => String(j.configuration.query.query)).filter((q) => q.includes('QUALIFY'))
      expect(reads.length).toBeGreaterThan(0)
      expect(reads.at(-1)).toMatch(/STARTS_WITH\(object_uri, @prefix\)/)
      expect(bigQuerySyntaxError(reads.at(-1)!)).toBeNull()
    })
  })
})
