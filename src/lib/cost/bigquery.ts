import {UsageError} from '../errors.js'
import {formatBytes} from '../output/units.js'

/**
 * BigQuery on-demand analysis price used for estimates: USD per TiB scanned (US/EU multi-region list price,
 * 2024). Region prices differ slightly and capacity (slot) pricing bills differently: the figure is an
 * estimate for sizing, the bytes are what BigQuery reports.
 */
export const ON_DEMAND_USD_PER_TIB = 6.25
/** BigQuery bills at least 10 MB for every query that references a table. */
export const MIN_BILLED_BYTES = 10 * 1024 * 1024
/** Default --max-bytes-billed: 100 GiB, about $0.61 at the on-demand price. */
export const DEFAULT_MAX_BYTES_BILLED = 100 * 1024 ** 3

const TIB = 1024 ** 4

/** What one statement would cost, from a dry run. */
export interface QueryEstimate {
  /** what the statement is for (e.g. "query", "ledger check", "merge batch 3") */
  label: string
  /** bytes BigQuery says the statement will process (dry run totalBytesProcessed) */
  bytesProcessed: number
  /** bytes that will be billed at least (10 MB minimum per query) */
  bytesBilledEstimate: number
  /** estimated on-demand cost in USD */
  usd: number
  /** the maximumBytesBilled sent with the statement */
  maxBytesBilled: number
}

export function estimateUsd(bytes: number): number {
  return (bytes / TIB) * ON_DEMAND_USD_PER_TIB
}

export function makeEstimate(label: string, bytesProcessed: number, maxBytesBilled: number): QueryEstimate {
  const billed = bytesProcessed > 0 ? Math.max(bytesProcessed, MIN_BILLED_BYTES) : 0
  return {label, bytesProcessed, bytesBilledEstimate: billed, usd: Number(estimateUsd(billed).toFixed(6)), maxBytesBilled}
}

export function formatUsd(usd: number): string {
  if (usd === 0) return '$0'
  if (usd < 0.01) return '< $0.01'
  return `$${usd.toFixed(2)}`
}

export function describeEstimate(e: QueryEstimate): string {
  return `${e.label}: ${formatBytes(e.bytesProcessed)} processed, about ${formatUsd(e.usd)} at $${ON_DEMAND_USD_PER_TIB}/TiB on demand (cap ${formatBytes(e.maxBytesBilled)})`
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
}

/** Parses a byte size: "500000000", "200GB", "1.5TiB" (decimal and binary units); at least one byte. */
export function parseByteSize(input: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(input)
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()]
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : 0
  if (bytes < 1) throw new UsageError(`${flag} "${input}" is not a byte size.`, 'Use a number of bytes or a size like 200GB or 1TiB.')
  return bytes
}

/** --max-bytes-billed: a byte size of at least 10 MiB. */
export function parseBytes(input: string, flag = '--max-bytes-billed'): number {
  const bytes = parseByteSize(input, flag)
  if (bytes < MIN_BILLED_BYTES) throw new UsageError(`${flag} must be at least 10MiB (BigQuery bills at least 10 MB per query).`)
  return bytes
}

/** What `--dry-run` of a reading command reports: every statement's estimate and the total; nothing was run. */
export interface DryRunResult {
  dryRun: true
  warehouse: string
  statements: QueryEstimate[]
  total: {statements: number; bytesProcessed: number; bytesBilledEstimate: number; usd: number}
  /** statements estimated above --max-bytes-billed: a real run would refuse them */
  overCap: number
  /** what a dry run cannot show (statements that depend on earlier results) */
  notes: string[]
}

export function dryRunResult(warehouse: string, statements: QueryEstimate[], notes: string[] = []): DryRunResult {
  const sum = (f: (e: QueryEstimate) => number) => statements.reduce((s, e) => s + f(e), 0)
  return {
    dryRun: true,
    warehouse,
    statements,
    total: {statements: statements.length, bytesProcessed: sum((e) => e.bytesProcessed), bytesBilledEstimate: sum((e) => e.bytesBilledEstimate), usd: Number(sum((e) => e.usd).toFixed(6))},
    overCap: statements.filter((e) => e.bytesProcessed > e.maxBytesBilled).length,
    notes,
  }
}

export function renderDryRun(r: DryRunResult): string {
  const lines = [`Dry run on ${r.warehouse}: nothing was run or billed.`]
  for (const e of r.statements) lines.push(`  ${describeEstimate(e)}${e.bytesProcessed > e.maxBytesBilled ? '  OVER THE CAP: a real run refuses it' : ''}`)
  lines.push(
    `Total: ${r.total.statements} ${r.total.statements === 1 ? 'statement' : 'statements'}, ${formatBytes(r.total.bytesProcessed)} processed, ${formatBytes(r.total.bytesBilledEstimate)} billed at least, about ${formatUsd(r.total.usd)}.`,
  )
  if (r.overCap > 0) lines.push(`${r.overCap} of them would be refused by --max-bytes-billed: narrow --since/--until or raise the cap.`)
  for (const n of r.notes) lines.push(n)
  return lines.join('\n')
}
