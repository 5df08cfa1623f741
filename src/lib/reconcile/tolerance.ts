import {UsageError} from '../errors.js'

/** How far the two sides may differ and still pass: a number of rows, or a percentage of the larger side. */
export type Tolerance = {kind: 'rows'; value: number} | {kind: 'percent'; value: number}

export const EXACT: Tolerance = {kind: 'rows', value: 0}

/** Parses --tolerance: "10" (rows) or "0.5%" (percent of the larger side of each bucket or object). */
export function parseTolerance(input: string, flag = '--tolerance'): Tolerance {
  const v = input.trim()
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v)
  if (pct) {
    const value = Number(pct[1])
    if (value <= 100) return {kind: 'percent', value}
  } else if (/^\d+$/.test(v)) {
    return {kind: 'rows', value: Number(v)}
  }
  throw new UsageError(`${flag} "${input}" is not a row count or a percentage.`, 'Use a whole number of rows such as 10, or a percentage up to 100% such as 0.5%.')
}

/** The largest difference, in rows, allowed between two counts. */
export function allowedDifference(t: Tolerance, a: number, b: number): number {
  return t.kind === 'rows' ? t.value : (Math.max(a, b) * t.value) / 100
}

export function withinTolerance(t: Tolerance, a: number, b: number): boolean {
  return Math.abs(a - b) <= allowedDifference(t, a, b)
}

export function formatTolerance(t: Tolerance): string {
  if (t.kind === 'percent') return `${t.value}%`
  return t.value === 0 ? 'exact (0 rows)' : `${t.value} row${t.value === 1 ? '' : 's'}`
}
