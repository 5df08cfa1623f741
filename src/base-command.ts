import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {loadConfig, type SenekaConfig} from './lib/config.js'
import {describeEstimate, type QueryEstimate} from './lib/cost/bigquery.js'
import {UsageError, UserError} from './lib/errors.js'
import {ExitCode} from './lib/exit-codes.js'
import type {ProgressMode} from './lib/output/progress.js'
import type {StoreOptions} from './lib/store/index.js'
import {type BigQuerySettings, DEFAULT_WAREHOUSE, parseWarehouse} from './lib/warehouse/index.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

/**
 * Base of every seneka command: --json, --config, --warehouse, --log-level; user errors as one clear
 * sentence (stack traces only at --log-level debug); typed results that --json prints as they are.
 */
export abstract class BaseCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    config: Flags.file({
      summary: 'JSON config file (see docs/configuration.md).',
      env: 'SENEKA_CONFIG',
      exists: true,
      helpGroup: 'GLOBAL',
    }),
    warehouse: Flags.string({
      summary: `Warehouse URI: duckdb:PATH or bigquery://PROJECT/DATASET [default: ${DEFAULT_WAREHOUSE}].`,
      env: 'SENEKA_WAREHOUSE',
      helpGroup: 'GLOBAL',
    }),
    'log-level': Flags.option({
      options: ['error', 'warn', 'info', 'debug'] as const,
      default: 'info' as const,
      summary: 'How much to tell on stderr; debug adds stack traces to errors.',
      helpGroup: 'GLOBAL',
    })(),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  protected settings!: SenekaConfig
  /** every positional argument, for commands that take several (static strict = false) */
  protected positionals: string[] = []

  override async init(): Promise<void> {
    await super.init()
    const {args, argv, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.positionals = argv.map(String)
    this.settings = loadConfig(this.flags.config)
  }

  abstract override run(): Promise<R>

  /** The warehouse URI: --warehouse, then the config file, then the embedded default. */
  protected warehouseUri(): string {
    return this.flags.warehouse ?? this.settings.warehouse ?? DEFAULT_WAREHOUSE
  }

  /** Object-store options from the flags, falling back to the config file. */
  protected storeOptions(flags: {'s3-endpoint'?: string; region?: string; 'gcs-endpoint'?: string}): StoreOptions {
    return {
      s3Endpoint: flags['s3-endpoint'] ?? this.settings.s3Endpoint,
      region: flags.region ?? this.settings.region,
      ...(flags['gcs-endpoint'] ? {gcsEndpoint: flags['gcs-endpoint']} : {}),
    }
  }

  /**
   * BigQuery settings from --location, --max-bytes-billed and --dry-run: every estimate is collected (the
   * caller puts them in its result) and, unless dry-running, printed on stderr as it is made. --dry-run on
   * DuckDB is refused: its queries bill nothing.
   */
  protected bigQuerySettings(flags: {location?: string; 'max-bytes-billed'?: number; 'dry-run'?: boolean}): BigQuerySettings & {estimates: QueryEstimate[]} {
    const dryRun = flags['dry-run'] ?? false
    if (dryRun && parseWarehouse(this.warehouseUri()).kind !== 'bigquery') {
      throw new UsageError('--dry-run estimates what BigQuery would bill; DuckDB queries bill nothing and change nothing here.', 'Run without --dry-run.')
    }
    const estimates: QueryEstimate[] = []
    return {
      location: flags.location,
      maxBytesBilled: flags['max-bytes-billed'],
      estimateOnly: dryRun,
      estimates,
      onEstimate: (e) => {
        estimates.push(e)
        if (!dryRun) this.info(describeEstimate(e))
      },
      onWarning: (m) => this.warn(m),
    }
  }

  protected get logLevel(): LogLevel {
    return (this.flags?.['log-level'] ?? 'info') as LogLevel
  }

  /** Informational line on stderr (never on stdout, so --json output stays one document). */
  protected info(message: string): void {
    if (this.logLevel === 'info' || this.logLevel === 'debug') this.logToStderr(message)
  }

  protected trace(message: string): void {
    if (this.logLevel === 'debug') this.logToStderr(message)
  }

  /** Whether interactive output (progress bars) may be drawn. */
  protected get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled() && this.logLevel !== 'error'
  }

  /** How long-running work shows progress: a bar on a terminal, a plain line now and then elsewhere. */
  protected get progressMode(): ProgressMode {
    if (this.logLevel === 'error') return 'off'
    return this.interactive ? 'bar' : 'lines'
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    const debug = this.logLevel === 'debug' || process.argv.includes('--log-level=debug')
    if (err instanceof UserError) {
      process.exitCode = err.exitCode
      if (this.jsonEnabled()) {
        this.logJson({error: {name: err.name, message: err.message, suggestion: err.suggestion, exitCode: err.exitCode}})
        return
      }
      if (debug) this.logToStderr(err.stack ?? err.message)
      throw new Errors.CLIError(err.message, {exit: err.exitCode, suggestions: err.suggestion ? [err.suggestion] : undefined})
    }
    if (err instanceof Errors.CLIError || (err as {oclif?: unknown}).oclif) return super.catch(err)
    if (debug || this.jsonEnabled()) return super.catch(err)
    process.exitCode = ExitCode.ERROR
    throw new Errors.CLIError(`Unexpected error: ${err.message}`, {
      exit: ExitCode.ERROR,
      suggestions: ['Run again with --log-level debug to see where it happened, and report it with that output.'],
    })
  }
}
