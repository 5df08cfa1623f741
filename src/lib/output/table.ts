import {makeTable} from '@oclif/table'

export interface TableColumn<T> {
  key: keyof T & string
  name: string
  align?: 'left' | 'right'
}

/** Renders rows as a plain table (no colours when stdout is not a terminal). */
export function renderTable<T extends Record<string, unknown>>(rows: T[], columns: Array<TableColumn<T>>, title?: string): string {
  const hasRight = columns.some((c) => c.align === 'right')
  return makeTable({
    data: rows,
    columns: columns.map((c) => ({key: c.key, name: c.name, ...(hasRight ? {horizontalAlignment: c.align ?? 'left'} : {})})),
    borderStyle: 'headers-only-with-underline',
    noStyle: !process.stdout.isTTY,
    title,
    maxWidth: 'none',
  } as Parameters<typeof makeTable<T>>[0])
}

/** renderTable without the blank lines around it, for reports that space their own sections. */
export function renderBlock<T extends Record<string, unknown>>(rows: T[], columns: Array<TableColumn<T>>, title?: string): string {
  return renderTable(rows, columns, title).replace(/^\s*\n/, '').trimEnd()
}
