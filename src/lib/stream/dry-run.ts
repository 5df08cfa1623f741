import {dayTraffic, type LoadMethodComparison, renderLoadMethods} from '../cost/load-methods.js'
import {type BigQuerySettings, openWarehouse} from '../warehouse/index.js'

/** The traffic a dry run prices (stream --expected-rate, --expected-object-size); absent: 1 object/s of 1 MiB, said so. */
export interface ExpectedTraffic {
  objectsPerSecond?: number
  bytesPerObject?: number
}

/** What `stream --dry-run` reports: where the worker would read and write, and what a day would use. */
export interface StreamDryRun {
  dryRun: true
  source: string
  warehouse: string
  table: string
  /** whether the table exists already (a worker creates it) */
  tableExists: boolean
  /** the engine's day plan (BigQuery: load jobs, merges, least bytes and cost per day); empty elsewhere */
  perDay: string[]
  /** BigQuery: a day of the expected traffic through each load method (load jobs, Storage Write API) */
  loadMethods?: LoadMethodComparison
}

/** Opens the warehouse read-only and says what a worker would do; receives and writes nothing. */
export async function streamDryRun(opts: {source: string; warehouse: string; table: string; bigquery?: BigQuerySettings; traffic?: ExpectedTraffic}): Promise<StreamDryRun> {
  const wh = await openWarehouse(opts.warehouse, {readOnly: true, bigquery: opts.bigquery})
  try {
    const t = opts.traffic ?? {}
    const traffic = dayTraffic(t.objectsPerSecond ?? 1, t.bytesPerObject ?? 1024 ** 2, t.objectsPerSecond === undefined || t.bytesPerObject === undefined)
    return {
      dryRun: true,
      source: opts.source,
      warehouse: wh.description,
      table: opts.table,
      tableExists: await wh.tableExists(opts.table),
      perDay: wh.describeStreaming?.() ?? [],
      ...(wh.compareLoadMethods ? {loadMethods: wh.compareLoadMethods(traffic)} : {}),
    }
  } finally {
    await wh.close()
  }
}

export function renderStreamDryRun(d: StreamDryRun): string {
  return [
    `Dry run: a worker would load ${d.source} into ${d.table} in ${d.warehouse}${d.tableExists ? '' : ' (the table does not exist yet: the worker creates it)'}; nothing was received or written.`,
    ...d.perDay,
    ...(d.loadMethods ? ['', renderLoadMethods(d.loadMethods)] : []),
  ].join('\n')
}
