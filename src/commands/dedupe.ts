import {Flags} from '@oclif/core'
import {BaseCommand} from '../base-command.js'
import {type DryRunResult, dryRunResult, renderDryRun} from '../lib/cost/bigquery.js'
import {bigQueryFlags, queryDryRunFlag} from '../flags/cost.js'
import {DEFAULT_MAX_REMOVE, type DedupeStage, parseKeyList} from '../lib/dedupe/rows.js'
import {NAME_PATTERNS, parseNamePattern} from '../lib/dedupe/objects.js'
import {renderDedupe} from '../lib/dedupe/render.js'
import {type DedupeResult, runDedupe} from '../lib/dedupe/run.js'
import {UsageError} from '../lib/errors.js'
import {checkExitCode} from '../lib/checks.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'
import {instantFlag, toleranceFlag} from '../flags/index.js'
import {formatTolerance} from '../lib/reconcile/tolerance.js'
import {ProgressBar} from '../lib/output/progress.js'

const STAGES: Record<DedupeStage, string> = {
  counting: 'Transaction open: counting rows in scope.',
  deleting: 'Removing duplicate rows.',
  verifying: 'Verifying: no duplicates left, distinct keys unchanged.',
  committing: 'Verified; committing.',
}

export default class Dedupe extends BaseCommand<typeof Dedupe, DedupeResult | DryRunResult> {
  static override summary = 'Find (and remove) duplicate rows by key, or duplicate and overlapping Kafka offset ranges in objects.'

  static override description = `Rows: groups the rows of --table by the --key columns (e.g. partition,offset or _source_uri,_line) and reports rows, distinct keys and duplicate rows, per day and per source, with sample keys. Rows whose key has a NULL part are counted apart and never treated as duplicates. The report changes nothing. --apply removes every copy but one (the earliest or latest by --ingested-at-column, ties broken by _source_uri and _line) in ONE transaction, then verifies that no duplicate is left and the number of distinct keys is unchanged, else rolls back: a failure or a kill at any moment leaves the table untouched or fully deduplicated. On BigQuery (DML on a table is serialized and limited) it runs one such transaction per UTC day of --time-column that holds duplicates, day after day, each day all-or-nothing; copies of one key on different days are left (the report shows them). --since/--until limit both to rows whose --time-column is in range, so a daily run touches only recent rows.

Objects: --objects lists a prefix of files named by Kafka partition and start offset (Kafka Connect topic+partition+startOffset.ext, Secor generation_partition_offset.ext, or your own regex), counts the records (lines, gzip or plain) of each file, and reports the files whose offset ranges are redundant (every record held by kept files), that overlap a neighbour, and the gaps between files (reported as gaps, not duplicates). It never deletes objects: --apply --output FILE writes the list of redundant objects (JSON) and, for S3, an S3 Batch Operations manifest (CSV bucket,key) for a person to act on.

${exitCodeHelp([
  [ExitCode.OK, 'the report ran (and --apply removed the duplicates or wrote the lists)'],
  [ExitCode.ERROR, 'the run could not complete (verification failed and rolled back, unreadable object, --objects found no object or none matching --name-pattern ...)'],
  [ExitCode.USAGE, 'bad flags or arguments, an unknown table or column, an apply above --max-remove'],
  [ExitCode.DUPLICATES_FOUND, 'duplicates (or redundant/overlapping objects) were found and --fail-on-duplicates was given; or, with it, the range has no rows to check (NO DATA)'],
])}`

  static override examples = [
    {description: 'Report duplicate Kafka records in a table (changes nothing):', command: '<%= config.bin %> <%= command.id %> --table app_logs --key topic,partition,offset'},
    {description: 'Use it as a check in a daily job (exit code 12 when yesterday has duplicates):', command: '<%= config.bin %> <%= command.id %> --table app_logs --key partition,offset --since now-1d --fail-on-duplicates'},
    {description: 'Remove duplicates of the last two days, keeping the first copy loaded:', command: '<%= config.bin %> <%= command.id %> --warehouse duckdb:./seneka.duckdb --table app_logs --key partition,offset --since now-2d --keep earliest --apply'},
    {description: 'File logs: the same line of the same object loaded twice:', command: '<%= config.bin %> <%= command.id %> --table alb_logs --key _source_uri,_line'},
    {description: 'Find redundant and overlapping Kafka Connect files under an S3 prefix:', command: '<%= config.bin %> <%= command.id %> --objects s3://my-logs/topics/app/ --name-pattern kafka-connect'},
    {description: 'Write the redundant Secor files and an S3 Batch Operations manifest (deletes nothing):', command: '<%= config.bin %> <%= command.id %> --objects s3://my-logs/secor/app/ --name-pattern secor --apply --output redundant.json'},
    {description: 'Your own naming, with named groups:', command: `<%= config.bin %> <%= command.id %> --objects ./dump --name-pattern '(?<topic>[^/]+)/p(?<partition>\\d+)-o(?<offset>\\d+)\\.jsonl$'`},
  ]

  static override flags = {
    table: Flags.string({summary: 'Rows: the table to check.', exclusive: ['objects'], helpGroup: 'ROWS'}),
    key: Flags.string({summary: 'Rows: key columns, comma-separated (e.g. partition,offset).', multiple: true, delimiter: ',', helpGroup: 'ROWS'}),
    keep: Flags.option({options: ['earliest', 'latest'] as const, default: 'earliest' as const, summary: 'Rows: which copy survives, by --ingested-at-column.', helpGroup: 'ROWS'})(),
    'ingested-at-column': Flags.string({default: '_ingested_at', summary: 'Rows: column deciding which copy is earliest/latest.', helpGroup: 'ROWS'}),
    'time-column': Flags.string({default: 'event_time', summary: 'Rows: event-time column that --since/--until apply to.', helpGroup: 'ROWS'}),
    since: instantFlag({summary: 'Rows: only rows at or after this time (YYYY-MM-DD, ISO-8601 or now-2d, UTC).', helpGroup: 'ROWS'}),
    until: instantFlag({summary: 'Rows: only rows before this time (exclusive).', helpGroup: 'ROWS'}),
    samples: Flags.integer({min: 0, max: 1000, default: 10, summary: 'Rows: how many duplicated keys to show.', helpGroup: 'ROWS'}),
    objects: Flags.string({summary: 'Objects: local folder or s3://bucket/prefix of Kafka-named files.', exclusive: ['table'], helpGroup: 'OBJECTS'}),
    'name-pattern': Flags.string({
      summary: `Objects: ${NAME_PATTERNS.join(' | ')} | a regex with named groups partition, offset (and topic), matched on the key [default: kafka-connect].`,
      helpGroup: 'OBJECTS',
    }),
    output: Flags.string({summary: 'Objects --apply: file to write the list of redundant objects to (JSON).', helpGroup: 'OBJECTS'}),
    manifest: Flags.string({summary: 'Objects --apply: S3 Batch Operations manifest CSV [default: <output>.manifest.csv].', helpGroup: 'OBJECTS'}),
    concurrency: Flags.integer({min: 1, max: 256, default: 8, summary: 'Objects: files read at once.', helpGroup: 'OBJECTS'}),
    's3-endpoint': Flags.string({summary: 'Custom S3 endpoint (S3-compatible servers); uses path-style addressing.', env: 'AWS_ENDPOINT_URL_S3', helpGroup: 'OBJECTS'}),
    region: Flags.string({summary: 'AWS region [default: from the AWS configuration chain].', helpGroup: 'OBJECTS'}),
    apply: Flags.boolean({summary: 'Rows: remove the duplicates (one transaction, verified; BigQuery: one per UTC day). Objects: write --output (never deletes).'}),
    'fail-on-duplicates': Flags.boolean({summary: `Exit with code ${ExitCode.DUPLICATES_FOUND} when duplicates were found.`}),
    'max-remove': toleranceFlag({summary: `Rows --apply: refuse to remove more than this share of the rows in scope, e.g. 50% [default: ${formatTolerance(DEFAULT_MAX_REMOVE)}].`, helpGroup: 'ROWS'}),
    location: {...bigQueryFlags.location, helpGroup: 'ROWS'},
    'max-bytes-billed': {...bigQueryFlags['max-bytes-billed'], helpGroup: 'ROWS'},
    'dry-run': {...queryDryRunFlag, helpGroup: 'ROWS'},
  }

  async run(): Promise<DedupeResult | DryRunResult> {
    const {flags} = this
    let result: DedupeResult
    if (flags.objects) {
      if (flags.key) throw new UsageError('--key applies to rows (--table), not to --objects.', 'Objects are keyed by the partition and offset in their names (--name-pattern).')
      const progress = new ProgressBar(this.progressMode, {unit: 'files'})
      result = await runDedupe({
        mode: 'objects',
        apply: flags.apply,
        location: flags.objects,
        pattern: parseNamePattern(flags['name-pattern'] ?? 'kafka-connect'),
        concurrency: flags.concurrency,
        output: flags.output,
        manifest: flags.manifest,
        storeOptions: this.storeOptions(flags),
        onProgress: (p) => progress.update(p),
      })
      progress.stop()
    } else {
      if (!flags.table) throw new UsageError('Give --table (rows) or --objects (files).', 'For example: seneka dedupe --table app_logs --key partition,offset')
      if (!flags.key || flags.key.length === 0) throw new UsageError('Give the key columns with --key.', 'For example: --key partition,offset or --key _source_uri,_line')
      if (flags.output || flags.manifest) throw new UsageError('--output and --manifest apply to --objects.', 'Drop them, or use --objects.')
      const bigquery = this.bigQuerySettings(flags)
      const keys = parseKeyList(flags.key)
      // Ctrl-C / SIGTERM during --apply: the open transaction's session is ended at once (rolled back), so the
      // table's DML is not held until BigQuery times it out; days already committed stay committed
      const abort = new AbortController()
      const onSignal = (sig: NodeJS.Signals): void => {
        this.info(`${sig}: ending the open transaction (it is rolled back; days already committed stay so), then exiting.`)
        abort.abort()
      }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const rows = await runDedupe({
        signal: abort.signal,
        mode: 'rows',
        warehouse: this.warehouseUri(),
        bigquery,
        apply: flags.apply && !flags['dry-run'],
        maxRemove: flags['max-remove'],
        table: flags.table,
        keys,
        keep: flags.keep,
        ingestedAtColumn: flags['ingested-at-column'],
        timeColumn: flags['time-column'],
        range: {since: flags.since, until: flags.until},
        samples: flags.samples,
        onReport: (r) => {
          if (flags.apply && !flags['dry-run']) this.info(`Found ${r.duplicateRows} duplicate rows of ${r.rows} in scope; removing them (${r.duplicatedKeys} keys keep one row each).`)
        },
        onStage: (s) => this.info(STAGES[s]),
        onDay: (day, i, n) => this.info(`Day ${day} (${i + 1} of ${n}): one transaction.`),
      }).finally(() => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      })
      if (flags['dry-run']) {
        const notes = ['Statements that depend on the report (per-source counts, sample keys) are not estimated.']
        if (flags.apply) notes.push('--apply runs, per UTC day holding duplicates, two counts and one MERGE in a transaction, each dry-run and capped the same way; the days are known only from the report.')
        const dry = dryRunResult(rows.mode === 'rows' ? rows.warehouse : this.warehouseUri(), this.estimates, notes)
        if (!this.jsonEnabled()) this.log(renderDryRun(dry))
        return dry
      }
      result = rows
    }
    if (!this.jsonEnabled()) this.log(renderDedupe(result))
    // a check over no rows is NO DATA and fails like a check that found duplicates (the rule of every check)
    if (flags['fail-on-duplicates']) process.exitCode = checkExitCode(result.mode === 'rows' && result.noData ? 'no-data' : result.duplicatesFound ? 'fail' : 'pass', ExitCode.DUPLICATES_FOUND)
    return result
  }
}
