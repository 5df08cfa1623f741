import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../base-command.js'
import {removeOwnStageDirsSync} from '../lib/backfill/interrupt.js'
import {renderSummary} from '../lib/backfill/render.js'
import {type BackfillResult, runBackfill} from '../lib/backfill/run.js'
import {bigQueryFlags, loadMethodFlag} from '../flags/cost.js'
import {UsageError} from '../lib/errors.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'
import {concurrencyFlag, formatFlags, instantFlag, shardCountFlag, shardFlag} from '../flags/index.js'
import {planSourceFlags} from '../flags/plan.js'
import {resolveShard} from '../lib/backfill/shard.js'
import {planFromFlags} from '../lib/backfill/listed-plan.js'
import {formatAndTable} from '../lib/formats/index.js'
import {REJECT_RULE_TEXT} from '../lib/loader/reject-rule.js'
import {ProgressBar} from '../lib/output/progress.js'
import {count, plural} from '../lib/output/words.js'
import {MARKER_DESCRIPTION} from '../lib/store/markers.js'

export default class Backfill extends BaseCommand<typeof Backfill, BackfillResult> {
  static override summary = 'Replay historical log objects (local folders or S3 prefixes) into the warehouse, exactly once.'

  static override description = `Lists the sources, keeps the objects in the time range, skips those the load ledger says are already loaded, and loads the rest with bounded concurrency. Each object is loaded atomically with its ledger entry: a crash at any moment followed by a re-run gives exactly the rows of an uninterrupted run, and an object whose ETag changed replaces its old rows instead of adding to them.

With --since/--until, date-partitioned layouts (.../yyyy/mm/dd/) are listed only for the days in range. Run with --dry-run first: it prints the plan (objects and bytes per day, what is already loaded, request counts) and writes nothing.

Every row carries its provenance: _source_uri, _line, _load_id, _ingested_at, _object_modified_at, _load_path. Malformed lines are counted and kept in the table _seneka_rejects with object, line number and reason; an object that cannot be read or decompressed is reported and leaves no rows. So does an object whose lines are (nearly) all rejected: ${REJECT_RULE_TEXT}; the message names the format its lines look like.

For a very large bucket, plan without listing: --inventory reads an S3 Inventory (its manifest.json, checked: manifest.checksum, each data file's MD5, the source bucket, the Key, Size, LastModifiedDate and ETag fields; CSV or Parquet), --files-from a list of keys or URIs (one HEAD each). The same range, globs, markers, --shard and ledger diff apply; the plan is kept in a temporary DuckDB database, so memory stays bounded whatever the object count. Objects listed but gone or changed when read are reported, not failures; objects added after the inventory are not in the plan. --dry-run --plan-out FILE writes the plan (URIs, keys, sizes, ETags, shard) and --plan FILE runs exactly those objects (ETags pinned; --shard splits a plan across jobs); the summary's coverage line accounts for every planned object.

Marker objects are not logs and are never loaded: ${MARKER_DESCRIPTION}; the plan and the summary count them apart. Sources with no log objects in range fail (exit 1) instead of reporting 0 loaded.

The ledger belongs to its table: after the table is dropped, a re-run loads the objects again. To load objects again while the table stays, use --reload: every object in the range (and --include/--exclude/--shard) is loaded again and its rows replace the ones already loaded, exactly once.

${exitCodeHelp([
  [ExitCode.OK, 'every planned object was loaded (or skipped as already loaded)'],
  [ExitCode.ERROR, 'the run could not start or stopped (bad credentials, unreachable endpoint, no log objects under the sources in range ...)'],
  [ExitCode.USAGE, 'bad flags or arguments (a source folder that does not exist, as for stream --watch)'],
  [ExitCode.PARTIAL_FAILURE, 'some objects failed (unreadable, or nearly all lines rejected); nothing partial was written; re-run to retry just those'],
  [ExitCode.REJECTS_EXCEEDED, 'more rejected lines than --max-rejects (the rows loaded are committed; the rejects are in _seneka_rejects)'],
  [ExitCode.INTERRUPTED, 'interrupted (Ctrl-C): the loads running were committed, no new one started; a re-run continues'],
  [ExitCode.TERMINATED, 'stopped by SIGTERM, as for Ctrl-C'],
])}

Ctrl-C or SIGTERM stops the run: no object is started after it, the loads already running finish and commit, and the summary says what was committed; a second signal exits at once (nothing partial is committed: every object is atomic).`

  static override examples = [
    {description: 'Preview a month of ALB logs from S3 (writes nothing):', command: '<%= config.bin %> <%= command.id %> s3://my-logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/ --format alb --since 2024-05-01 --until 2024-06-01 --dry-run'},
    {description: 'Load them into the embedded DuckDB warehouse:', command: '<%= config.bin %> <%= command.id %> s3://my-logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/ --format alb --since 2024-05-01 --until 2024-06-01 --table alb_logs'},
    {description: 'Load a local folder of JSON-lines application logs, Kafka topic/partition/offset as columns (what dedupe --key uses):', command: '<%= config.bin %> <%= command.id %> ./logs/app --format jsonl --time-field ts --jsonl-columns topic:string,partition:int,offset:bigint --table app_logs'},
    {description: 'Load one day again, replacing the rows already loaded from it:', command: '<%= config.bin %> <%= command.id %> ./logs/app --format jsonl --time-field ts --jsonl-columns topic:string,partition:int,offset:bigint --table app_logs --since 2024-05-01 --until 2024-05-02 --reload'},
    {description: 'Split one backfill over 4 jobs (each runs one shard):', command: '<%= config.bin %> <%= command.id %> s3://my-logs/app/ --format jsonl --shard 2/4'},
    {description: 'Preview a load into BigQuery through a GCS staging prefix (prints load jobs and cost):', command: '<%= config.bin %> <%= command.id %> gs://my-logs/app/ --format jsonl --warehouse bigquery://my-project/logs --staging gs://my-staging/seneka --location EU --dry-run'},
    {description: 'Plan from an S3 Inventory, review the plan, then run exactly that plan:', command: '<%= config.bin %> <%= command.id %> s3://my-logs/app/ --format jsonl --inventory s3://my-inventory/my-logs/daily/2024-06-01T01-00Z/manifest.json --since 2023-01-01 --dry-run --plan-out plan.csv'},
    {description: 'Load the objects a file list names (- reads standard input):', command: 'grep 2024-05 keys.txt | <%= config.bin %> <%= command.id %> s3://my-logs/app/ --format jsonl --files-from -'},
    {description: 'Any S3-compatible server:', command: '<%= config.bin %> <%= command.id %> s3://logs/app/ --format jsonl --s3-endpoint http://127.0.0.1:9000'},
  ]

  static override strict = false

  static override args = {
    source: Args.string({description: 'Local folder or file, file:// URI, s3://bucket/prefix or gs://bucket/prefix (several allowed; with --inventory, --files-from or --plan, the one prefix the objects are under).', required: true}),
  }

  static override flags = {
    ...formatFlags,
    since: instantFlag({summary: 'Only objects at or after this time (YYYY-MM-DD or ISO-8601, UTC).'}),
    until: instantFlag({summary: 'Only objects before this time (exclusive).'}),
    include: Flags.string({multiple: true, summary: 'Glob of keys to load (on the file name if it has no "/"), e.g. "*.log.gz".'}),
    exclude: Flags.string({multiple: true, summary: 'Glob of keys to leave out.'}),
    shard: shardFlag({summary: 'Load only shard i of n (i/n), for splitting one backfill across n jobs with no overlap [default: from CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT, or JOB_COMPLETION_INDEX with --shard-count].'}),
    'shard-count': shardCountFlag,
    concurrency: concurrencyFlag,
    'dry-run': Flags.boolean({summary: 'Print the plan and write nothing.'}),
    reload: Flags.boolean({summary: 'Load objects again even when the ledger says they are loaded, replacing their rows (exactly once).'}),
    'max-rejects': Flags.integer({min: 0, summary: 'Exit with code 4 when more lines than this were rejected (the rows loaded stay committed; the message says how many and where the rejects are).'}),
    's3-endpoint': Flags.string({summary: 'Custom S3 endpoint (S3-compatible servers); uses path-style addressing.', env: 'AWS_ENDPOINT_URL_S3'}),
    region: Flags.string({summary: 'AWS region [default: from the AWS configuration chain].'}),
    ...planSourceFlags,
    ...bigQueryFlags,
    'load-method': loadMethodFlag('load-jobs when --staging is given, else write-api'),
  }

  async run(): Promise<BackfillResult> {
    const {flags} = this
    const sources = this.positionals
    const from = planFromFlags(flags)
    if (sources.length === 0) throw new UsageError('Give at least one source.', 'For example: seneka backfill ./logs --format alb')
    const selection = (['since', 'until', 'include', 'exclude'] as const).filter((f) => flags[f] !== undefined)
    if (from?.kind === 'plan' && selection.length > 0) throw new UsageError(`--plan runs the saved plan's objects exactly, so --${selection[0]} does not apply.`, 'Make a new plan with --dry-run --plan-out, or leave the flag out (--shard still splits a plan across jobs).')
    if (from && sources.length > 1) throw new UsageError(`--${from.kind === 'files' ? 'files-from' : from.kind} plans one source, but ${sources.length} were given.`, 'Give the one bucket prefix the objects are under.')
    const {format, table} = formatAndTable(flags)
    const shard = resolveShard({flag: flags.shard, count: flags['shard-count'], env: process.env})
    const progress = new ProgressBar(flags['dry-run'] ? 'off' : this.progressMode)
    const warehouse = this.warehouseUri()
    const abort = new AbortController()
    let signal: NodeJS.Signals | undefined
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signal) {
        progress.stop()
        this.stderrLine(`${sig} again: exiting now; nothing partial was committed, and a re-run continues.`)
        removeOwnStageDirsSync(warehouse)
        process.exit(sig === 'SIGTERM' ? ExitCode.TERMINATED : ExitCode.INTERRUPTED)
      }
      signal = sig
      progress.stop()
      this.info(`${sig}: finishing the loads running (no new one starts), then exiting; send it again to exit at once.`)
      abort.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const result = await runBackfill(
      {
        sources,
        format,
        warehouse,
        table,
        range: {since: flags.since, until: flags.until},
        include: flags.include,
        exclude: flags.exclude,
        shard,
        concurrency: flags.concurrency ?? this.settings.concurrency ?? 4,
        dryRun: flags['dry-run'],
        reload: flags.reload,
        maxRejects: flags['max-rejects'],
        signal: abort.signal,
        from,
        planOut: flags['plan-out'],
        storeOptions: this.storeOptions(flags),
        // backfill's --dry-run is its plan (free: no query at all), not the reading commands' estimate-only mode
        bigquery: {...this.bigQuerySettings({location: flags.location, 'max-bytes-billed': flags['max-bytes-billed']}), staging: flags.staging, gcsEndpoint: flags['gcs-endpoint'], loadMethod: flags['load-method']},
      },
      {
        onPlan: (p) => this.info(`Planned ${plural(p.totals.objects, 'object')} (${count(p.totals.load)} to load, ${count(p.totals.replace)} to replace, ${count(p.totals.skip)} already loaded) from ${plural(p.requests.list, 'LIST request')}.`),
        onProgress: (p) => progress.update({done: p.objectsDone, total: p.objectsTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, rows: p.rows}),
        onRetry: (uri, err, n) => this.trace(`retry ${n} for ${uri}: ${(err as Error).message}`),
        onPlanning: (line) => this.info(line),
      },
    ).finally(() => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    })
    progress.stop()
    if (!this.jsonEnabled()) this.log(renderSummary(result))
    if (result.interrupted) {
      process.exitCode = signal === 'SIGTERM' ? ExitCode.TERMINATED : ExitCode.INTERRUPTED
      if (this.jsonEnabled()) this.warn(result.interrupted)
    }
    else if (result.objects.failed > 0) process.exitCode = ExitCode.PARTIAL_FAILURE
    else if (result.rejectsExceeded) {
      process.exitCode = ExitCode.REJECTS_EXCEEDED
      if (!this.jsonEnabled()) this.logToStderr(`Exit ${ExitCode.REJECTS_EXCEEDED}: ${result.rejectsExceeded}`)
    }
    return result
  }
}
