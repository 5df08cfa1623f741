import {fitMiddle, outputWidth} from './width.js'

export interface TableColumn<T> {
  key: keyof T & string
  name: string
  align?: 'left' | 'right'
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (v instanceof Date) return v.toISOString()
  return String(v)
}

/**
 * Renders rows as a plain text table: a header line, then one line per row, columns padded to their widest
 * cell and separated by three spaces, right-aligned where asked; an optional title line above. Plain text on
 * every output (no colours, no borders), so what a terminal shows is what a log file keeps.
 */
export function renderTable<T extends Record<string, unknown>>(rows: T[], columns: Array<TableColumn<T>>, title?: string): string {
  const widths = columns.map((c, i) => Math.max(c.name.length, ...rows.map((r) => cellText(r[c.key]).length)))
  fitWidths(widths, columns.map((c) => c.name.length))
  const cells = rows.map((r) => columns.map((c, i) => fitMiddle(cellText(r[c.key]), widths[i])))
  const line = (values: string[]): string =>
    `  ${values.map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('   ')}`.trimEnd()
  return `${title ? `${title}\n` : ''}\n${[line(columns.map((c) => c.name)), ...cells.map(line)].join('\n')}\n\n`
}

const MIN_CUT_WIDTH = 16

/**
 * Narrows the widest columns, in place (water-filling: the widest first, then the widest two together ...), until a line fits the output width (lib/output/width.ts); their cells
 * are then cut in the middle. No width (not a terminal): nothing changes. A column is never cut below its
 * header or 16 characters, so a table too wide even then is left wider than the terminal.
 */
function fitWidths(widths: number[], headers: number[]): void {
  const max = outputWidth()
  if (max === undefined) return
  const lineWidth = (): number => 2 + widths.reduce((s, w) => s + w, 0) + 3 * (widths.length - 1)
  const floor = (i: number): number => Math.max(MIN_CUT_WIDTH, headers[i])
  // one character at a time from the widest column that can give one: long cells share the cut
  for (let excess = lineWidth() - max; excess > 0; excess--) {
    const i = widths.reduce((best, w, k) => (w > floor(k) && (widths[best] <= floor(best) || w > widths[best]) ? k : best), 0)
    if (widths[i] <= floor(i)) return
    widths[i]--
  }
}

/** renderTable without the blank lines around it, for reports that space their own sections. */
export function renderBlock<T extends Record<string, unknown>>(rows: T[], columns: Array<TableColumn<T>>, title?: string): string {
  return renderTable(rows, columns, title).replace(/^\s*\n/, '').trimEnd()
}
