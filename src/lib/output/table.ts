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
  const cells = rows.map((r) => columns.map((c) => cellText(r[c.key])))
  const widths = columns.map((c, i) => Math.max(c.name.length, ...cells.map((row) => row[i].length)))
  const line = (values: string[]): string =>
    `  ${values.map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('   ')}`.trimEnd()
  return `${title ? `${title}\n` : ''}\n${[line(columns.map((c) => c.name)), ...cells.map(line)].join('\n')}\n\n`
}

/** renderTable without the blank lines around it, for reports that space their own sections. */
export function renderBlock<T extends Record<string, unknown>>(rows: T[], columns: Array<TableColumn<T>>, title?: string): string {
  return renderTable(rows, columns, title).replace(/^\s*\n/, '').trimEnd()
}
