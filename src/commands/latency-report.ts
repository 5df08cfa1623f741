import {Flags} from '@oclif/core'
import fs from 'node:fs/promises'
import {BaseCommand} from '../base-command.js'
import {checkExitCode} from '../lib/checks.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'
import {durationFlag, instantFlag, wrap} from '../flags/index.js'
import {
  evaluateSlos,
  latencyCsv,
  latencyHtml,
  latencyReport,
  type LatencyResult,
  MEASURES,
  parseSlo,
  renderReport,
  type Slo,
  type SloEvaluation,
} from '../lib/latency/index.js'
import {type DryRunResult, dryRunResult, renderDryRun} from '../lib/cost/bigquery.js'
import {bigQueryFlags, queryDryRunFlag} from '../flags/cost.js'
import {errorMessage, UserError} from '../lib/errors.js'
import {checkRange} from '../lib/time.js'
import {openWarehouse} from '../lib/warehouse/index.js'

export type LatencyReportResult = LatencyResult & {slo?: SloEvaluation}

const sloFlag = Flags.custom<Slo>({parse: wrap(parseSlo)})

export default class LatencyReport extends BaseCommand<typeof LatencyReport, LatencyReportResult | DryRunResult> {
  static override summary = 'End-to-end latency percentiles and histograms of a loaded table, with SLO gates and late-data counts.'

  static override description = `Measures, for every row in range, one latency (--measure):
  arrival   ingested-at minus the source object's LastModified: the pipeline's own latency
            (_ingested_at - _object_modified_at on tables seneka loaded)
  event     ingested-at minus event time: end to end, including the load balancer's delivery delay
            (_ingested_at - event_time)
  transfer  GCS object creation minus S3 LastModified, where both are known
            (_gcs_created_at - _object_modified_at; name the columns with --gcs-created-column/--arrival-column)
  hops      the GCS path hop by hop, side by side: transfer (_gcs_created_at - _object_modified_at),
            load (_ingested_at - _gcs_created_at) and end to end (_ingested_at - _object_modified_at), over
            the rows where all three are known; --slo and the main statistics are end to end
Tables seneka did not load: name the columns with --event-time-column, --ingested-at-column, --arrival-column.
Rows are selected by event time (--since inclusive, --until exclusive).

Reports count, mean, min, p50, p90, p95, p99, p99.9 and max, and a histogram with linear or logarithmic bins (--bins, --bin-scale), per group with --group-by (a column, or source = _source_uri, bucket = the bucket of _source_uri, path = _load_path, hour = hour of the event time). With --compare-table (e.g. the batch table and the stream table) both are reported side by side on the same bins. Everything is computed in the warehouse (SQL aggregates); on DuckDB the quantiles are exact (quantile_cont) unless --approximate. With --compute client the quantiles come from an HDR histogram built from paged, millisecond-rounded counts (approximate, bounded memory).

Latencies below zero mean the two clocks disagree: they are counted, their minimum reported, and they stay in the percentiles; nothing is clamped.

Late data: rows are windowed by ingestion time (--window); the watermark of a window is its max (or median, --watermark) event time minus --late-threshold, and rows whose event time is behind it are counted as late.

SLOs: --slo KEY<=DURATION (or <), KEY one of p50, p90, p95, p99, p99_9 (p99.9), max, mean; durations like 500ms, 30s, 6m, 1h. Several may be given; all are checked against the main table and, with --compare-table, against the compare table too (a table shown beside a gated one is gated: exit 11 when either breaches). An SLO with no rows to check counts as breached (NO DATA). The full report is printed either way.

Output: a terminal report with histogram bars, --json (latencies in seconds: p50, p90, p95, p99, p99_9, max, count, bins ...), --csv FILE, --html FILE (a self-contained page with the chart; no network needed to open it).

${exitCodeHelp([
  [ExitCode.OK, 'report printed; every --slo met (on both tables with --compare-table)'],
  [ExitCode.ERROR, 'the report could not be made (unreachable warehouse, bad credentials ...)'],
  [ExitCode.USAGE, 'bad flags (unknown measure, malformed --slo, empty time range ...), an unknown table or column'],
  [ExitCode.SLO_BREACHED, 'report printed; at least one --slo was breached (or had no rows to check)'],
])}`

  static override examples = [
    {description: 'Pipeline latency of a day of ALB logs:', command: '<%= config.bin %> <%= command.id %> --table alb_logs --since 2024-05-01 --until 2024-05-02'},
    {description: 'End-to-end latency, batch vs stream, log bins, HTML chart:', command: '<%= config.bin %> <%= command.id %> --table alb_batch --compare-table alb_stream --measure event --bin-scale log --html latency.html'},
    {description: 'Fail (exit 11) when p99 exceeds 6 minutes or anything exceeds an hour:', command: `<%= config.bin %> <%= command.id %> --table alb_stream --slo 'p99<=6m' --slo 'max<=1h'`},
    {description: 'Per bucket, as JSON:', command: '<%= config.bin %> <%= command.id %> --table alb_logs --group-by bucket --json'},
    {description: 'The GCS path hop by hop (S3 -> GCS -> committed), with a CSV per hop:', command: '<%= config.bin %> <%= command.id %> --table alb_stream --measure hops --csv hops.csv'},
    {description: 'A table seneka did not load:', command: '<%= config.bin %> <%= command.id %> --table events --measure event --event-time-column ts --ingested-at-column loaded_at'},
  ]

  static override flags = {
    table: Flags.string({required: true, summary: 'Table to report on.'}),
    'compare-table': Flags.string({summary: 'A second table reported side by side on the same bins (e.g. batch vs stream).'}),
    measure: Flags.option({options: MEASURES, default: 'arrival' as const, summary: 'Latency to measure: arrival, event, transfer or hops (see the description).'})(),
    since: instantFlag({summary: 'Only rows with event time at or after this time (YYYY-MM-DD or ISO-8601, UTC).'}),
    until: instantFlag({summary: 'Only rows with event time before this time (exclusive).'}),
    'event-time-column': Flags.string({summary: 'Column holding the event time [default: event_time].'}),
    'ingested-at-column': Flags.string({summary: 'Column holding when the row was loaded [default: _ingested_at].'}),
    'arrival-column': Flags.string({summary: "Column holding the source (S3) object's LastModified [default: _object_modified_at]."}),
    'gcs-created-column': Flags.string({summary: 'Column holding when the GCS copy was created (transfer) [default: _gcs_created_at].'}),
    bins: Flags.integer({min: 1, max: 1000, default: 20, summary: 'Number of histogram bins.'}),
    'bin-scale': Flags.option({options: ['linear', 'log'] as const, default: 'linear' as const, summary: 'Histogram bin widths: equal (linear) or growing geometrically (log).'})(),
    'group-by': Flags.string({summary: 'Report per group: a column, or source, bucket, path, hour.'}),
    'max-groups': Flags.integer({min: 1, default: 50, summary: 'Groups shown, largest first (hour: earliest first).'}),
    approximate: Flags.boolean({summary: 'Use the warehouse\'s approximate quantile function (cheaper on huge tables).'}),
    compute: Flags.option({options: ['warehouse', 'client'] as const, summary: 'Where quantiles are computed [default: warehouse when it can].'})(),
    slo: sloFlag({multiple: true, summary: "Latency objective, e.g. 'p99<=6m' (several allowed); exit code 11 when breached."}),
    watermark: Flags.option({options: ['max', 'median'] as const, default: 'max' as const, summary: 'Watermark of a window: its max or median event time, minus --late-threshold.'})(),
    'late-threshold': durationFlag({summary: 'How far behind the watermark a row may be before it is late [default: 10m].'}),
    window: Flags.option({options: ['minute', 'hour', 'day'] as const, default: 'hour' as const, summary: 'Ingestion-time window the watermark is computed for.'})(),
    csv: Flags.string({summary: 'Also write the statistics and bins to this CSV file.'}),
    html: Flags.string({summary: 'Also write a self-contained HTML page with the chart to this file.'}),
    location: bigQueryFlags.location,
    'max-bytes-billed': bigQueryFlags['max-bytes-billed'],
    'dry-run': queryDryRunFlag,
  }

  async run(): Promise<LatencyReportResult | DryRunResult> {
    const {flags} = this
    checkRange({since: flags.since, until: flags.until})
    const bigquery = this.bigQuerySettings(flags)
    const wh = await openWarehouse(this.warehouseUri(), {readOnly: true, bigquery})
    let result: LatencyResult
    try {
      result = await latencyReport(wh, {
        table: flags.table,
        compareTable: flags['compare-table'],
        measure: flags.measure,
        since: flags.since,
        until: flags.until,
        eventTimeColumn: flags['event-time-column'],
        ingestedAtColumn: flags['ingested-at-column'],
        arrivalColumn: flags['arrival-column'],
        gcsCreatedColumn: flags['gcs-created-column'],
        bins: flags.bins,
        binScale: flags['bin-scale'],
        groupBy: flags['group-by'],
        maxGroups: flags['max-groups'],
        approximate: flags.approximate,
        compute: flags.compute,
        watermark: flags.watermark,
        lateThresholdSeconds: (flags['late-threshold'] ?? 600_000) / 1000,
        window: flags.window,
      })
    } finally {
      await wh.close()
    }
    if (flags['dry-run']) {
      const dry = dryRunResult(wh.description, this.estimates, ['The histogram and quantile statements depend on the range the first statement finds: a real run makes them too (each dry-run and capped the same way).'])
      if (!this.jsonEnabled()) this.log(renderDryRun(dry))
      return dry
    }
    const slo = flags.slo?.length ? evaluateSlos(result, flags.slo) : undefined
    const report: LatencyReportResult = slo ? {...result, slo} : result
    await this.write(flags.csv, () => latencyCsv(result), 'CSV')
    await this.write(flags.html, () => latencyHtml(result, slo), 'HTML page')
    if (!this.jsonEnabled()) this.log(renderReport(result, slo))
    if (slo) process.exitCode = checkExitCode(slo.passed ? 'pass' : 'fail', ExitCode.SLO_BREACHED)
    return report
  }

  private async write(file: string | undefined, content: () => string, what: string): Promise<void> {
    if (!file) return
    try {
      await fs.writeFile(file, content())
    } catch (err) {
      throw new UserError(`Cannot write the ${what} to ${file}: ${errorMessage(err)}`, {suggestion: 'Check the path and its permissions.'})
    }
    this.info(`Wrote the ${what} to ${file}.`)
  }
}
