import {writeFileSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../base-command.js'
import {type DryRunResult, dryRunResult, renderDryRun} from '../lib/cost/bigquery.js'
import {bigQueryFlags, queryDryRunFlag} from '../flags/cost.js'
import {UserError} from '../lib/errors.js'
import {checkExitCode} from '../lib/checks.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'
import {durationFlag, instantFlag, toleranceFlag} from '../flags/index.js'
import {plural} from '../lib/output/words.js'
import {renderReport, toCsv} from '../lib/reconcile/render.js'
import {DEFAULT_OBJECT_MARGIN_MS, reconcile} from '../lib/reconcile/run.js'
import type {ReconcileResult} from '../lib/reconcile/types.js'

export default class Reconcile extends BaseCommand<typeof Reconcile, ReconcileResult | DryRunResult> {
  static override summary = 'Prove the batch and the stream tables hold the same rows, bucket by bucket or object by object.'

  static override description = `Counts the rows of each table per time bucket of the event time (--by minute|hour|day, optionally per --group-by column) or per source object (--by object, from the provenance column _source_uri), and compares the two sides. Counting happens in the warehouse: one GROUP BY query per table, restricted to the time range so partitioned tables are pruned; no rows are pulled.

Buckets are ok, missing in stream, missing in batch, or both differ. Objects are ok, on one side only, loaded twice (a line present more than once, or more rows than the load ledger recorded), partially loaded (fewer rows than the ledger or the other side) or, with --verify-source, different from the source object's line count.

On BigQuery every query is dry-run first: its bytes and estimated cost are printed on stderr, and a query over --max-bytes-billed is refused before anything is billed.

Recent data may still be arriving: --settle 15m leaves out every row at or after the watermark now - 15m (rounded down to the start of its bucket), and the report prints the watermark used.

A range where neither table has rows compares nothing and does not pass (exit 10, "NO DATA"): a typo in --since or two stopped loaders must not look like agreement.

The full report is printed whatever the verdict; the exit code is the verdict.

${exitCodeHelp([
  [ExitCode.OK, 'every bucket (or object) is within --tolerance'],
  [ExitCode.ERROR, 'the check could not run (warehouse unreachable, over --max-bytes-billed, --verify-source could not read the sources ...)'],
  [ExitCode.USAGE, 'bad flags, an unknown table or column, an empty time range'],
  [ExitCode.RECONCILE_MISMATCH, 'the check ran and at least one bucket (or object) differs beyond --tolerance, or neither table has rows in the range (nothing compared is no pass)'],
])}`

  static override examples = [
    {description: 'Hour by hour over one day:', command: '<%= config.bin %> <%= command.id %> --batch-table alb_batch --stream-table alb_stream --since 2024-05-01 --until 2024-05-02'},
    {description: 'The last six hours, leaving out the last 15 minutes, per load balancer, allowing 0.1%:', command: '<%= config.bin %> <%= command.id %> --batch-table alb_batch --stream-table alb_stream --since now-6h --settle 15m --group-by elb --tolerance 0.1%'},
    {description: 'Which objects are behind a mismatched hour:', command: '<%= config.bin %> <%= command.id %> --batch-table alb_batch --stream-table alb_stream --since 2024-05-01 --until 2024-05-02 --explain 2024-05-01T03:00:00Z'},
    {description: 'Object by object, also counting the lines of each source object:', command: '<%= config.bin %> <%= command.id %> --batch-table alb_batch --stream-table alb_stream --since 2024-05-01 --until 2024-05-02 --by object --verify-source'},
    {description: 'For CI: JSON on stdout, every bucket in a CSV file:', command: '<%= config.bin %> <%= command.id %> --batch-table app_batch --stream-table app_stream --since 2024-05-01 --until 2024-05-02 --json --csv reconcile.csv'},
  ]

  static override flags = {
    'batch-table': Flags.string({required: true, summary: 'Table loaded by the batch path (the reference).'}),
    'stream-table': Flags.string({required: true, summary: 'Table loaded by the event-driven path.'}),
    since: instantFlag({required: true, summary: 'Start of the range (inclusive): YYYY-MM-DD, ISO-8601 (UTC) or now-<duration>.'}),
    until: instantFlag({summary: 'End of the range (exclusive) [default: now].'}),
    by: Flags.option({options: ['minute', 'hour', 'day', 'object'] as const, default: 'hour' as const, summary: 'Compare per time bucket of the event time, or per source object.'})(),
    'time-column': Flags.string({summary: 'TIMESTAMP column holding the event time [default: event_time].'}),
    'group-by': Flags.string({summary: 'Also split each bucket by this column (e.g. the load balancer or service).'}),
    'source-column': Flags.string({summary: 'Column naming the source object of each row [default: _source_uri].'}),
    'line-column': Flags.string({summary: '--by object: column with the line number in the source object, to find lines loaded twice [default: _line].'}),
    settle: durationFlag({summary: 'Leave out the most recent window, which may still be arriving (e.g. 15m).'}),
    tolerance: toleranceFlag({summary: 'Allowed difference per bucket/object: rows (10) or percent of the larger side (0.5%) [default: 0].'}),
    explain: instantFlag({summary: 'List the source objects behind the bucket holding this instant (rows per side per object).'}),
    'verify-source': Flags.boolean({summary: '--by object: read each source object and count its lines.'}),
    'object-margin': durationFlag({summary: `--by object: count rows this far beyond the range so objects on its edges count whole [default: ${DEFAULT_OBJECT_MARGIN_MS / 3_600_000}h].`}),
    'mismatches-only': Flags.boolean({summary: 'Show only buckets/objects beyond the tolerance in the table (--json and --csv keep every row).'}),
    csv: Flags.string({summary: 'Also write one CSV row per bucket/object to this file.'}),
    's3-endpoint': Flags.string({summary: '--verify-source: custom S3 endpoint (S3-compatible servers).', env: 'AWS_ENDPOINT_URL_S3'}),
    region: Flags.string({summary: '--verify-source: AWS region [default: from the AWS configuration chain].'}),
    location: bigQueryFlags.location,
    'max-bytes-billed': bigQueryFlags['max-bytes-billed'],
    'dry-run': queryDryRunFlag,
  }

  async run(): Promise<ReconcileResult | DryRunResult> {
    const {flags} = this
    const bigquery = this.bigQuerySettings(flags)
    const result = await reconcile({
      warehouse: this.warehouseUri(),
      batchTable: flags['batch-table'],
      streamTable: flags['stream-table'],
      since: flags.since,
      until: flags.until,
      by: flags.by,
      timeColumn: flags['time-column'],
      groupBy: flags['group-by'],
      sourceColumn: flags['source-column'],
      lineColumn: flags['line-column'],
      settleMs: flags.settle,
      tolerance: flags.tolerance,
      explain: flags.explain,
      verifySource: flags['verify-source'],
      objectMarginMs: flags['object-margin'],
      storeOptions: this.storeOptions(flags),
      bigquery,
    })
    if (flags['dry-run']) {
      const dry = dryRunResult(result.warehouse, this.estimates, flags['verify-source'] ? ['--verify-source reads the source objects of the objects found: not part of the estimate (S3/GCS reads, not BigQuery).'] : [])
      if (!this.jsonEnabled()) this.log(renderDryRun(dry))
      return dry
    }
    if (flags.csv) {
      try {
        writeFileSync(flags.csv, toCsv(result))
      } catch (err) {
        throw new UserError(`Cannot write the CSV file ${flags.csv}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, {
          suggestion: 'Check that its folder exists and is writable.',
          cause: err,
        })
      }
      this.info(`Wrote ${plural(result.rows.length, 'row')} to ${flags.csv}.`)
    }
    if (!this.jsonEnabled()) this.log(renderReport(result, {mismatchesOnly: flags['mismatches-only']}))
    process.exitCode = checkExitCode(result.noData ? 'no-data' : result.passed ? 'pass' : 'fail', ExitCode.RECONCILE_MISMATCH)
    return result
  }
}
