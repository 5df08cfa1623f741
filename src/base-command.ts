import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {COMMAND_SECTIONS, type FlagSpec, loadConfig, type SenekaConfig, sectionArgv} from './lib/config.js'
import {describeEstimate, type QueryEstimate} from './lib/cost/bigquery.js'
import {describeError, type ErrorDetail, errorMessage, UsageError, UserError} from './lib/errors.js'
import {existingFileFlag} from './flags/index.js'
import {explainKnownError} from './lib/known-errors.js'
import {renderErrorText} from './lib/output/error-text.js'
import {setOutputWidth} from './lib/output/width.js'
import {type ErrorEnvelope, errorEnvelope, type SuccessEnvelope, successEnvelope, WarningLog} from './lib/output/json.js'
import type {ProgressMode} from './lib/output/progress.js'
import type {StoreOptions} from './lib/store/index.js'
import {type BigQuerySettings, DEFAULT_WAREHOUSE, parseWarehouse, setWarehouseNotice} from './lib/warehouse/index.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

/**
 * Base of every seneka command: --json, --config, --warehouse, --log-level; user errors as one clear
 * sentence (stack traces only at --log-level debug).
 *
 * Output rules, the same for every command:
 * - stdout: the human report, or under --json one envelope and nothing else (lib/output/json.ts):
 *   {"status", "result", "warnings"} on success, {"status", "error": {name, message, exitCode, suggestion?},
 *   "warnings"} on failure, whatever failed (a flag the parser refused, a UserError, an SDK error).
 * - stderr: informational lines (`info`, cost estimates, "Planned ..."), warnings and progress; with --json too,
 *   so nothing a person should see is lost. --log-level error keeps only errors; warn keeps warnings.
 * - warnings (`warn`): on stderr as "Warning: ..." and, under --json, in the document's `warnings`.
 */
type ParseOptions = {flags?: Record<string, object>; args?: Record<string, object>; [k: string]: unknown}

/** Parser options with no required flag or argument and no flag relationships (a first, partial look). */
function relaxed<O extends ParseOptions>(options: O): O {
  const loosen = (defs: Record<string, object> | undefined): Record<string, object> | undefined =>
    defs && Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, {...d, required: false, exclusive: undefined, dependsOn: undefined, exactlyOne: undefined, relationships: undefined, combinable: undefined}]))
  return {...options, flags: loosen(options.flags), baseFlags: loosen(options.baseFlags as Record<string, object> | undefined), args: loosen(options.args)}
}

export abstract class BaseCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    config: existingFileFlag({
      summary: 'JSON config file (see docs/configuration.md).',
      env: 'SENEKA_CONFIG',
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
  /** every warning of this run, for the --json document */
  protected readonly warnings = new WarningLog()
  /** BigQuery: every statement's dry-run estimate, for the --json document (see bigQuerySettings) */
  protected readonly estimates: QueryEstimate[] = []

  override async init(): Promise<void> {
    await super.init()
    const options = {
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    }
    const commandLine = [...this.argv] // (this.parse replaces this.argv with what it parsed)
    // first pass without required flags and flag relationships: find --config, and what the command line gives
    const loose = await this.parse(relaxed(options))
    this.flags = loose.flags as BaseFlags<T>
    this.settings = loadConfig(this.flags.config)
    const fromConfig = this.sectionDefaults(loose.raw)
    if (fromConfig.length > 0) {
      // the section's values go through the same flag parsers as the command line
      try {
        await this.parse(relaxed(options), fromConfig)
      } catch (err) {
        throw new UserError(`The config file ${this.flags.config} has a value that ${this.id} does not accept: ${errorMessage(err).split('\n')[0].replace(/([^.])$/, '$1.')}`, {
          suggestion: `Fix the "${COMMAND_SECTIONS[this.id ?? '']}" section of the config file, or give the flag on the command line.`,
          cause: err,
        })
      }
    }
    // the section's values before the command line, so `--` still ends the flags
    const parsed = await this.parse(options, [...fromConfig, ...commandLine])
    this.flags = parsed.flags as BaseFlags<T>
    this.args = parsed.args as BaseArgs<T>
    this.positionals = parsed.argv.map(String)
    // "waiting for another process to release the DuckDB file" and the like: an info line on stderr
    setWarehouseNotice((m) => this.info(m))
    // reports fit a terminal's width (long URIs cut in their middle); a pipe or a file gets every character
    setOutputWidth(process.stdout.isTTY && !this.jsonEnabled() ? process.stdout.columns : undefined)
  }

  /**
   * Checks every command section of the config file (an unknown key is an error whichever command runs) and
   * returns the tokens this command's section supplies for the flags not given on the command line or by
   * their environment variable.
   */
  private sectionDefaults(raw: ReadonlyArray<{type: string; flag?: string}>): string[] {
    const file = this.flags.config
    if (!file) return []
    const given = new Set(raw.filter((t) => t.type === 'flag' && t.flag).map((t) => t.flag!))
    let mine: string[] = []
    for (const [id, section] of Object.entries(COMMAND_SECTIONS)) {
      const values = this.settings[section]
      if (!values) continue
      const cmd = id === this.id ? {flags: {...(super.ctor as typeof BaseCommand).baseFlags, ...this.ctor.flags} as Record<string, {type: string; multiple?: boolean; allowNo?: boolean; env?: string}>} : this.config.findCommand(id)
      if (!cmd) continue
      const specs: FlagSpec[] = Object.entries(cmd.flags).map(([name, f]) => ({
        name,
        kind: f.type === 'boolean' ? 'boolean' : 'option',
        multiple: 'multiple' in f ? Boolean(f.multiple) : false,
        allowNo: 'allowNo' in f ? Boolean(f.allowNo) : false,
      }))
      const envGiven = id === this.id ? Object.entries(cmd.flags).filter(([, f]) => 'env' in f && f.env && process.env[f.env] !== undefined).map(([n]) => n) : []
      const argv = sectionArgv({file, section, values, flags: specs, given: id === this.id ? new Set([...given, ...envGiven]) : new Set(), command: `${this.config.bin} ${id}`})
      if (id === this.id) mine = argv
    }
    return mine
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
   * BigQuery settings from --location, --max-bytes-billed and --dry-run: every estimate is collected in
   * `this.estimates` (the --json envelope carries them; a dry run reports them) and, unless dry-running, printed
   * on stderr as it is made. --dry-run on DuckDB is refused: its queries bill nothing.
   */
  protected bigQuerySettings(flags: {location?: string; 'max-bytes-billed'?: number; 'dry-run'?: boolean}): BigQuerySettings {
    const dryRun = flags['dry-run'] ?? false
    if (dryRun && parseWarehouse(this.warehouseUri()).kind !== 'bigquery') {
      throw new UsageError('--dry-run estimates what BigQuery would bill; DuckDB queries bill nothing and change nothing here.', 'Run without --dry-run.')
    }
    return {
      location: flags.location,
      maxBytesBilled: flags['max-bytes-billed'],
      estimateOnly: dryRun,
      onEstimate: (e) => {
        this.estimates.push(e)
        if (!dryRun) this.info(describeEstimate(e))
      },
      onWarning: (m) => this.warn(m),
    }
  }

  protected get logLevel(): LogLevel {
    return (this.flags?.['log-level'] ?? 'info') as LogLevel
  }

  /** Informational line on stderr, with --json too (stdout carries only the document). */
  protected info(message: string): void {
    if (this.logLevel === 'info' || this.logLevel === 'debug') this.stderrLine(message)
  }

  protected trace(message: string): void {
    if (this.logLevel === 'debug') this.stderrLine(message)
  }

  /**
   * The one warning rule: "Warning: ..." on stderr (unless --log-level error), with --json too, and the message in
   * the --json document's `warnings`. (oclif's own warn is silent under --json.)
   */
  override warn(input: string | Error): string | Error {
    const message = typeof input === 'string' ? input : input.message
    this.warnings.add(message)
    if (this.logLevel !== 'error') this.stderrLine(`Warning: ${message}`)
    return input
  }

  /** One line on stderr, whatever --json says. */
  protected stderrLine(message: string): void {
    process.stderr.write(`${message}\n`)
  }

  /** The success document of --json: the command's result in the envelope, with the run's warnings. */
  override toSuccessJson(result: unknown): SuccessEnvelope<unknown> {
    return successEnvelope(result, Number(process.exitCode ?? 0), this.warnings.list, this.estimates)
  }

  /** The error document of --json: four fields, never the error's other properties. */
  override toErrorJson(err: unknown): ErrorEnvelope {
    return errorEnvelope(this.describe(err), this.warnings.list, this.estimates)
  }

  private describe(err: unknown): ErrorDetail {
    return describeError(explainKnownError(err) ?? err, {command: `${this.config?.bin ?? 'seneka'} ${this.id ?? ''}`.trim()})
  }

  /** Whether interactive output (progress bars) may be drawn. */
  protected get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled() && this.logLevel !== 'error'
  }

  /** How long-running work shows progress: a bar on a terminal, a plain line at start and every 10 s elsewhere, none under --json. */
  protected get progressMode(): ProgressMode {
    // --json: the document is the output; progress lines on stderr would only be noise around it
    if (this.logLevel === 'error' || this.jsonEnabled()) return 'off'
    return this.interactive ? 'bar' : 'lines'
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    // this.exit(n) and the help flags end a command with an ExitError: not a failure to report
    if ((err as {code?: string}).code === 'EEXIT') throw err
    const debug = this.logLevel === 'debug' || process.argv.includes('--log-level=debug')
    const detail = this.describe(err)
    process.exitCode = detail.exitCode
    if (debug) this.stderrLine(err.stack ?? err.message)
    if (this.jsonEnabled()) {
      this.logJson(errorEnvelope(detail, this.warnings.list))
      return
    }
    // printed here, unwrapped (oclif would hard-wrap it at the terminal's width, or 80 columns off a terminal,
    // cutting paths in two); oclif then only sets the exit code
    this.stderrLine(renderErrorText(detail))
    const done = new Errors.CLIError(detail.message, {exit: detail.exitCode, suggestions: detail.suggestion ? [detail.suggestion] : undefined})
    throw Object.assign(done, {skipOclifErrorHandling: true})
  }
}
