import {afterEach, describe, expect, it} from 'vitest'
import {renderBlock, renderTable} from '../../../src/lib/output/table.js'
import {fitLine, fitMiddle, setOutputWidth} from '../../../src/lib/output/width.js'

describe('plain text tables', () => {
  it('pads columns to their widest cell, aligns right where asked, trims trailing blanks, titles above', () => {
    const rows = [
      {a: 'x', b: 12, c: 'long value'},
      {a: 'yy', b: 3, c: null},
    ]
    const cols = [{key: 'a', name: 'A col'}, {key: 'b', name: 'B', align: 'right'}, {key: 'c', name: 'C'}] as const
    expect(renderTable(rows, [...cols], 'Title here')).toBe('Title here\n\n  A col    B   C\n  x       12   long value\n  yy       3\n\n')
    expect(renderBlock(rows, [...cols])).toBe('  A col    B   C\n  x       12   long value\n  yy       3')
    expect(renderTable([{d: new Date('2024-05-01T00:00:00Z')}], [{key: 'd', name: 'when'}])).toBe('\n  when\n  2024-05-01T00:00:00.000Z\n\n')
  })
})

describe('tables on a terminal', () => {
  afterEach(() => setOutputWidth(undefined))

  it('fit the terminal width by cutting the widest cells in their middle, both ends kept; off a terminal nothing is cut', () => {
    const uri = `s3://my-logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/05/01/${'x'.repeat(120)}_20240501T0300Z_10.1.1.21_ah9th.log.gz`
    const rows = [{object: uri, batch: '1,234', stream: '1,233', status: 'partially loaded'}]
    const cols = [{key: 'object', name: 'Object'}, {key: 'batch', name: 'Batch', align: 'right'}, {key: 'stream', name: 'Stream', align: 'right'}, {key: 'status', name: 'Status'}] as const
    expect(renderBlock(rows, [...cols])).toContain(uri)
    setOutputWidth(100)
    const fitted = renderBlock(rows, [...cols])
    for (const line of fitted.split('\n')) expect(line.length).toBeLessThanOrEqual(100)
    expect(fitted).toMatch(/ s3:\/\/my-logs\/AWSLogs\/\S*…\S*_ah9th\.log\.gz +1,234 +1,233 +partially loaded$/m)
  })

  it('fitLine cuts the URI of a reject line, not its reason', () => {
    setOutputWidth(80)
    const line = fitLine('  ', `file:///data/${'y'.repeat(200)}/app.log.gz`, ':99: expected at least 17 fields, found 4')
    expect(line.length).toBeLessThanOrEqual(80)
    expect(line).toMatch(/^  file:\/\/\/data\/y+…y+\/app\.log\.gz:99: expected at least 17 fields, found 4$/)
    expect(fitMiddle('abcdefghij', 5)).toBe('ab…ij')
  })
})
