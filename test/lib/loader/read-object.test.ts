import {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {jsonl} from '../../../src/lib/formats/jsonl.js'
import {type Batch, BATCH_ROWS, type ReadCounters, readBatches} from '../../../src/lib/loader/read-object.js'

const fmt = jsonl()

async function readAll(buf: Buffer, chunk = 7): Promise<{batches: Batch[]; counters: ReadCounters}> {
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk))
  const counters: ReadCounters = {storedBytes: 0, bytes: 0, lines: 0, gzip: false}
  const batches: Batch[] = []
  for await (const b of readBatches(Readable.from(parts), fmt, counters)) batches.push(b)
  return {batches, counters}
}

const line = (i: number): string => JSON.stringify({ts: 1714557600 + i, msg: `m${i} ünïcödé`})

describe('readBatches', () => {
  it('splits lines across chunk boundaries (multi-byte characters included) and numbers them', async () => {
    const text = `${line(1)}\r\n${line(2)}\n\n${line(3)}` // CRLF, an empty line, no final newline
    const {batches, counters} = await readAll(Buffer.from(text))
    expect(batches).toHaveLength(1)
    expect(batches[0].lines).toEqual([1, 2, 4])
    expect(batches[0].columns[2]).toEqual(['m1 ünïcödé', 'm2 ünïcödé', 'm3 ünïcödé'])
    expect(counters.gzip).toBe(false)
    expect(counters.lines).toBe(4)
  })

  it('detects gzip from the bytes, including concatenated members', async () => {
    const body = Buffer.concat([gzipSync(`${line(1)}\n`), gzipSync(`${line(2)}\nnot json\n`)])
    const {batches, counters} = await readAll(body, 5)
    expect(counters.gzip).toBe(true)
    expect(counters.storedBytes).toBe(body.length)
    expect(batches[0].count).toBe(2)
    expect(batches[0].rejects).toEqual([{line: 3, reason: 'not valid JSON', raw: 'not json'}])
  })

  it(`yields batches of at most ${BATCH_ROWS} rows`, async () => {
    const n = BATCH_ROWS * 2 + 5
    const text = Array.from({length: n}, (_, i) => line(i)).join('\n')
    const {batches} = await readAll(Buffer.from(text), 64 * 1024)
    expect(batches.map((b) => b.count)).toEqual([BATCH_ROWS, BATCH_ROWS, 5])
    expect(batches[2].lines.at(-1)).toBe(n)
  })

  it('fails on a corrupt gzip stream', async () => {
    const good = gzipSync(Array.from({length: 500}, (_, i) => line(i)).join('\n'))
    const corrupt = Buffer.concat([good.subarray(0, 40), Buffer.alloc(200, 7), good.subarray(240)])
    await expect(readAll(corrupt, 50)).rejects.toThrow()
  })
})

describe('scanLines on raw bytes', () => {
  it('rejects a line over 16 MB (counted in bytes) and an invalid UTF-8 line, whatever the chunking', async () => {
    const {scanLines, MAX_LINE} = await import('../../../src/lib/loader/read-object.js')
    const long = Buffer.alloc(MAX_LINE + 10, 0x61)
    const body = Buffer.concat([Buffer.from('\ufeffone\n'), long, Buffer.from('\nbad \xc3\x28\n', 'latin1'), Buffer.from('€uro\r\nlast')])
    for (const chunk of [3, 65536, 5 << 20, body.length]) {
      const parts: Buffer[] = []
      for (let i = 0; i < body.length; i += i > 16 && i < MAX_LINE ? Math.max(chunk, 65536) : chunk) parts.push(body.subarray(i, i + (i > 16 && i < MAX_LINE ? Math.max(chunk, 65536) : chunk)))
      const lines: Array<[number, string]> = []
      const bad: Array<[number, string, number]> = []
      const counters = {storedBytes: 0, bytes: 0, lines: 0, gzip: false}
      for await (const _ of scanLines(Readable.from(parts), counters, (l, n) => lines.push([n, l]), (n, reason, raw) => bad.push([n, reason, raw.length]))) {
        // chunks
      }
      expect(lines).toEqual([[1, 'one'], [4, '€uro'], [5, 'last']])
      expect(bad).toEqual([[2, `line is longer than ${MAX_LINE} bytes (${MAX_LINE + 10} bytes)`, 2048], [3, 'not valid UTF-8', 6]])
      expect(counters.lines).toBe(5)
    }
  })
})
