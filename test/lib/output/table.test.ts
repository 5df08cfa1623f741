import {describe, expect, it} from 'vitest'
import {renderBlock, renderTable} from '../../../src/lib/output/table.js'

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
