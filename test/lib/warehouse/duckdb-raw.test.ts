import {Readable} from 'node:stream'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {rawPlainFile} from '../../../src/lib/warehouse/duckdb/raw.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {tempDir} from '../../helpers/tmp.js'

/** the bytes as a stream of the given chunks */
const chunks = (...parts: Buffer[]): Readable => Readable.from(parts)

async function check(source: Readable) {
  const counters = newCounters()
  const r = await rawPlainFile(source, path.join(tempDir(), 'raw'), counters)
  return {clean: r.clean, lines: r.lines, maxLine: r.maxLine, counted: counters.lines}
}

describe('the raw path takes only objects DuckDB numbers line by line as the scanner does', () => {
  it('counts non-blank lines, the longest line, and drops a BOM from the first', async () => {
    expect(await check(chunks(Buffer.from('\ufeffab\n\n   \ncdef\nlast')))).toEqual({clean: true, lines: 4, maxLine: 4, counted: 5})
    expect(await check(chunks(Buffer.from('\ufeff\nab\n')))).toEqual({clean: true, lines: 1, maxLine: 2, counted: 2})
    expect(await check(chunks(gzipSync('one\ntwo\n')))).toMatchObject({clean: true, lines: 2})
  })

  it('keeps a character cut between chunks, refuses invalid UTF-8, CR, NUL and U+0001', async () => {
    const e = Buffer.from('café\n')
    expect(await check(chunks(Buffer.from('abc'), e.subarray(0, 4), e.subarray(4)))).toMatchObject({clean: true, lines: 1, maxLine: 8})
    expect(await check(chunks(Buffer.from('abc\n'), Buffer.from([0x63, 0xc3, 0x0a])))).toMatchObject({clean: false})
    expect(await check(chunks(Buffer.from('abc\nlast'), Buffer.from([0xc3])))).toMatchObject({clean: false})
    for (const bad of ['a\r\nb\n', 'a\rb\n', 'a\0b\n', 'a\x01b\n']) expect(await check(chunks(Buffer.from(bad))), JSON.stringify(bad)).toMatchObject({clean: false})
  })
})
