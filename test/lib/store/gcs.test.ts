import {Readable} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ObjectChangedError, UserError} from '../../../src/lib/errors.js'
import {openStore} from '../../../src/lib/store/index.js'
import {createGcsClient, gcsEndpoint, GcsStore, RESUMABLE_FROM} from '../../../src/lib/store/gcs.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'

async function text(r: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of r) chunks.push(Buffer.from(c))
  return Buffer.concat(chunks).toString('utf8')
}

describe('GcsStore against a GCS JSON API double (real @google-cloud/storage client)', () => {
  let g: GcpDouble
  beforeAll(async () => {
    g = await startGcpDouble()
    for (let i = 0; i < 7; i++) g.putObject('logs', `app/2024/05/0${(i % 3) + 1}/f${i}.log`, `line ${i}\n`)
    g.putObject('logs', 'other/x.log', 'x')
  })
  afterAll(() => g.close())

  const store = (pageSize = 1000) => new GcsStore('logs', {gcsEndpoint: g.endpoint, pageSize, retryBaseDelayMs: 1})

  it('lists by prefix across pages, in key order, with metadata', async () => {
    const s = store(3)
    const before = g.requests.length
    const got = []
    for await (const o of s.list('app/')) got.push(o)
    expect(got.map((o) => o.key)).toEqual([...got.map((o) => o.key)].sort())
    expect(got).toHaveLength(7)
    expect(s.stats.list).toBe(3) // 7 objects, 3 per page
    const lists = g.requests.slice(before).filter((r) => r.path === '/storage/v1/b/logs/o')
    expect(lists.map((r) => r.query.pageToken ?? null)).toEqual([null, '3', '6'])
    expect(lists.every((r) => r.query.prefix === 'app/' && r.query.maxResults === '3')).toBe(true)
    const first = got[0]
    expect(first.uri).toBe(`gs://logs/${first.key}`)
    expect(first.size).toBe(7)
    expect(first.etag).toBe(first.generation)
    expect(first.md5).toMatch(/^[0-9a-f]{32}$/)
    expect(first.crc32c).toBeTruthy()
  })

  it('lists "folders" with the delimiter', async () => {
    const s = store(1)
    expect(await s.listPrefixes('app/2024/05/')).toEqual(['app/2024/05/01/', 'app/2024/05/02/', 'app/2024/05/03/'])
    const last = g.requests.at(-1)!
    expect(last.query.delimiter).toBe('/')
    expect(s.stats.list).toBe(3)
  })

  it('reads by name without listing, and heads known keys', async () => {
    const s = store()
    const before = g.requests.length
    expect(await text(await s.read('app/2024/05/01/f0.log'))).toBe('line 0\n')
    const head = await s.head('app/2024/05/01/f0.log')
    expect(head?.size).toBe(7)
    expect(await s.head('app/missing.log')).toBeUndefined()
    expect(g.requests.slice(before).some((r) => r.path.endsWith('/o'))).toBe(false)
  })

  it('writes objects (multipart upload) and reads them back', async () => {
    const s = store()
    const info = await s.write('staging/a b.json', '{"a":1}\n')
    expect(info.uri).toBe('gs://logs/staging/a b.json')
    expect(info.size).toBe(8)
    expect(g.objects.get('logs/staging/a b.json')?.data.toString()).toBe('{"a":1}\n')
    expect(await text(await s.read('staging/a b.json'))).toBe('{"a":1}\n')
    await s.remove('staging/a b.json')
    expect(g.objects.has('logs/staging/a b.json')).toBe(false)
  })

  it('reads pinned to a generation: an overwritten one is ObjectChangedError, never the new bytes', async () => {
    const s = store()
    g.putObject('logs', 'pin/x.log', 'old\n')
    const old = (await s.head('pin/x.log'))!
    expect(await text(await s.read('pin/x.log', {version: old.generation}))).toBe('old\n')
    g.putObject('logs', 'pin/x.log', 'new and longer\n')
    const err = await s
      .read('pin/x.log', {version: old.generation})
      .then(text)
      .catch((e) => e)
    expect(err).toBeInstanceOf(ObjectChangedError)
    expect(err.message).toBe(`gs://logs/pin/x.log changed after it was listed (version ${old.generation} is gone); nothing of that version was loaded.`)
    const reads = g.requests.filter((r) => r.path.endsWith('/o/pin/x.log') && r.query.alt === 'media')
    expect(reads.at(-1)?.query.generation).toBe(old.generation)
  })

  it('never overwrites: writes carry ifGenerationMatch=0, a retry that had landed is the same write, other content is refused', async () => {
    const s = store()
    await s.write('staging/once.json', '{"a":1}\n')
    const upload = g.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/upload/')).at(-1)!
    expect(upload.query.ifGenerationMatch).toBe('0')
    // the same bytes again (a retried upload whose first reply was lost): recognised by its CRC32C
    const again = await s.write('staging/once.json', '{"a":1}\n')
    expect(again.size).toBe(8)
    const err = await s.write('staging/once.json', '{"a":2}\n').catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/already exists with other content; seneka never overwrites an object/)
    expect(g.objects.get('logs/staging/once.json')?.data.toString()).toBe('{"a":1}\n')
  })

  it('sends large bodies as a resumable upload, checked by CRC32C', async () => {
    const s = store()
    const big = Buffer.alloc(RESUMABLE_FROM + 1234, 7)
    const before = g.resumableUploads
    const info = await s.write('staging/big.bin', big)
    expect(g.resumableUploads).toBe(before + 1)
    expect(info.size).toBe(big.length)
    expect(g.objects.get('logs/staging/big.bin')?.data.equals(big)).toBe(true)
  })

  it('retries 429 and 503 with backoff', async () => {
    const s = store()
    g.fail({match: (r) => r.path === '/storage/v1/b/logs/o', status: 429})
    g.fail({match: (r) => r.path === '/storage/v1/b/logs/o', status: 503})
    const before = g.requests.length
    const keys = []
    for await (const o of s.list('other/')) keys.push(o.key)
    expect(keys).toEqual(['other/x.log'])
    expect(g.requests.slice(before).filter((r) => r.path === '/storage/v1/b/logs/o')).toHaveLength(3)
  })

  it('names the missing permission on 403', async () => {
    const s = store()
    g.fail({match: (r) => r.path === '/storage/v1/b/logs/o', status: 403, reason: 'ci@p.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket.'})
    const err = await (async () => {
      for await (const _ of s.list('x/')) void _
    })().catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toBe('Permission storage.objects.list is missing to list gs://logs/x/.')
  })

  it('is what openStore builds for gs:// and honours STORAGE_EMULATOR_HOST', async () => {
    process.env.STORAGE_EMULATOR_HOST = g.endpoint
    try {
      const s = openStore('gs://logs/app/')
      // the Google client is imported on the first request, not when the store is opened
      expect(s.scheme).toBe('gs')
      expect(s.uri('a/b.log')).toBe('gs://logs/a/b.log')
      expect((await s.head('other/x.log'))?.size).toBe(1)
      expect(s.stats.head).toBe(1)
      expect(createGcsClient().apiEndpoint).toBe(g.endpoint)
    } finally {
      delete process.env.STORAGE_EMULATOR_HOST
    }
  })

  it('one endpoint rule for every command: --gcs-endpoint, else SENEKA_GCS_ENDPOINT, else STORAGE_EMULATOR_HOST', () => {
    expect(gcsEndpoint('http://flag', {SENEKA_GCS_ENDPOINT: 'http://seneka', STORAGE_EMULATOR_HOST: 'http://emu'})).toBe('http://flag')
    expect(gcsEndpoint(undefined, {SENEKA_GCS_ENDPOINT: 'http://seneka', STORAGE_EMULATOR_HOST: 'http://emu'})).toBe('http://seneka')
    expect(gcsEndpoint(undefined, {STORAGE_EMULATOR_HOST: 'http://emu'})).toBe('http://emu')
    expect(gcsEndpoint(undefined, {})).toBeUndefined()
    // the client every command builds (stream's readers included) follows it
    process.env.SENEKA_GCS_ENDPOINT = g.endpoint
    try {
      expect(createGcsClient().apiEndpoint).toBe(g.endpoint)
    } finally {
      delete process.env.SENEKA_GCS_ENDPOINT
    }
  })
})
