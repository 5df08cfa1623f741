import {S3Client} from '@aws-sdk/client-s3'
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {parseCutoverConfig} from '../../../src/lib/cutover/config.js'
import {emptyState, LocalStateStore, S3StateStore, withLease} from '../../../src/lib/cutover/state.js'
import {ExitCode} from '../../../src/lib/exit-codes.js'
import {tempDir} from '../../helpers/tmp.js'

describe('local state store', () => {
  it('compare-and-swap: a write based on an old version is refused with CONFLICT', async () => {
    const dir = tempDir('state')
    const store = new LocalStateStore(path.join(dir, 'state.json'))
    const a = await store.read()
    expect(a.token).toBeUndefined()
    const t1 = await store.write(a.state, a.token)
    expect(t1).toBe('1')
    const b = await store.read()
    await store.write(b.state, b.token)
    const err = await store.write(a.state, t1).catch((e) => e)
    expect(err.exitCode).toBe(ExitCode.CONFLICT)
    expect((await store.read()).state.version).toBe(2)
    expect(existsSync(path.join(dir, 'state.json.lock'))).toBe(false)
  })

  it('refuses to write while another process holds the lock file', async () => {
    const dir = tempDir('state')
    const store = new LocalStateStore(path.join(dir, 'state.json'))
    writeFileSync(path.join(dir, 'state.json.lock'), '{}')
    const err = await store.write(emptyState(), undefined).catch((e) => e)
    expect(err.exitCode).toBe(ExitCode.CONFLICT)
  })

  it('a lease held by someone else is refused; an expired one is taken over', async () => {
    const dir = tempDir('state')
    const store = new LocalStateStore(path.join(dir, 'state.json'))
    let t = Date.parse('2024-05-01T00:00:00Z')
    const now = () => new Date(t)
    let inner: unknown
    await withLease(store, {actor: 'alice', operation: 'cutover apply', timeoutMs: 60_000, now}, async () => {
      inner = await withLease(store, {actor: 'bob', operation: 'cutover apply', timeoutMs: 60_000, now}, async () => 'ran').catch((e) => e)
    })
    expect((inner as {exitCode: number}).exitCode).toBe(ExitCode.CONFLICT)
    // alice's process dies holding the lease
    const {state, token} = await store.read()
    await store.write({...state, lock: {id: 'x', by: 'alice', at: now().toISOString(), operation: 'cutover apply'}}, token)
    t += 120_000
    expect(await withLease(store, {actor: 'bob', operation: 'cutover apply', timeoutMs: 60_000, now}, async () => 'ran')).toBe('ran')
    expect((await store.read()).state.lock).toBeUndefined()
  })
})

describe('S3 state store', () => {
  /** An S3 double at the SDK boundary that honours If-Match / If-None-Match (fauxqs ignores them). */
  function conditionalS3() {
    let object: {body: string; etag: string} | undefined
    let n = 0
    const seen: Array<Record<string, unknown>> = []
    const client = new S3Client({region: 'us-east-1', credentials: {accessKeyId: 'a', secretAccessKey: 'b'}})
    client.middlewareStack.add(
      () => async (args) => {
        const input = args.input as {Body?: string; IfMatch?: string; IfNoneMatch?: string}
        if ('Body' in input) {
          seen.push({IfMatch: input.IfMatch, IfNoneMatch: input.IfNoneMatch})
          const fail = (input.IfNoneMatch === '*' && object) || (input.IfMatch !== undefined && input.IfMatch !== object?.etag)
          if (fail) throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {name: 'PreconditionFailed', $metadata: {httpStatusCode: 412}})
          object = {body: String(input.Body), etag: `"${++n}"`}
          return {output: {ETag: object.etag, $metadata: {}}, response: {}}
        }
        if (!object) throw Object.assign(new Error('no such key'), {name: 'NoSuchKey', $metadata: {httpStatusCode: 404}})
        const body = object.body
        return {output: {ETag: object.etag, Body: {transformToString: async () => body}, $metadata: {}}, response: {}}
      },
      {step: 'initialize', name: 'conditionalS3'},
    )
    return {client, seen}
  }

  it('creates with If-None-Match: *, updates with If-Match, and maps 412 to CONFLICT', async () => {
    const {client, seen} = conditionalS3()
    const store = new S3StateStore('ops-bucket', 'seneka/cutover.json', client)
    const a = await store.read()
    const t1 = await store.write(a.state, a.token)
    const other = new S3StateStore('ops-bucket', 'seneka/cutover.json', client)
    const b = await other.read()
    expect(b.state.version).toBe(1)
    await other.write(b.state, b.token)
    const err = await store.write(a.state, t1).catch((e) => e)
    expect(err.exitCode).toBe(ExitCode.CONFLICT)
    const err2 = await store.write(emptyState(), undefined).catch((e) => e)
    expect(err2.exitCode).toBe(ExitCode.CONFLICT)
    expect(seen).toEqual([{IfMatch: undefined, IfNoneMatch: '*'}, {IfMatch: '"1"', IfNoneMatch: undefined}, {IfMatch: '"1"', IfNoneMatch: undefined}, {IfMatch: undefined, IfNoneMatch: '*'}])
  })
})

describe('cutover config', () => {
  it('names the key path of an invalid value', () => {
    expect(() => parseCutoverConfig({buckets: {'my-logs': {wave: 'one', queue: 'q', table: 't'}}})).toThrow(/cutover\.buckets\.my-logs\.wave/)
    expect(() => parseCutoverConfig({buckets: {'my-logs': {wave: 1, queue: 'nope', table: 't'}}})).toThrow(/cutover\.buckets\.my-logs\.queue: "nope" is neither/)
    expect(() => parseCutoverConfig({buckets: {'my-logs': {wave: 1, queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', table: 'bad-name'}}})).toThrow(/cutover\.buckets\.my-logs\.table/)
    expect(() => parseCutoverConfig({buckets: {}, slo: {p99: 'soon'}})).toThrow(/cutover\.slo\.p99: must be a duration/)
  })
})
