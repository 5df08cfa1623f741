import {Args, Errors, Flags} from '@oclif/core'
import {parseShard, type Shard} from '../lib/backfill/shard.js'
import {errorMessage} from '../lib/errors.js'
import {FORMAT_NAMES} from '../lib/formats/index.js'
import {ExitCode} from '../lib/exit-codes.js'
import {requireExisting} from '../lib/output/files.js'
import {parseTolerance, type Tolerance} from '../lib/reconcile/tolerance.js'
import {parseDuration, parseInstant} from '../lib/time.js'

/**
 * Shared flag definitions with parse-time validation: a bad value fails before anything runs, with exit
 * code 2 (oclif keeps an error's exit code only for CLIErrors).
 */
export function wrap<T>(parse: (input: string) => T): (input: string) => Promise<T> {
  return async (input) => {
    try {
      return parse(input)
    } catch (err) {
      const suggestion = (err as {suggestion?: string}).suggestion
      throw new Errors.CLIError(errorMessage(err), {exit: ExitCode.USAGE, suggestions: suggestion ? [suggestion] : undefined})
    }
  }
}

export const instantFlag = Flags.custom<Date>({
  parse: (input, _ctx, opts) => wrap((v) => parseInstant(v, `--${opts.name}`))(input),
})

export const durationFlag = Flags.custom<number>({
  parse: (input, _ctx, opts) => wrap((v) => parseDuration(v, `--${opts.name}`))(input),
})

export const shardFlag = Flags.custom<Shard>({
  parse: wrap(parseShard),
})

/** The shard count of a Kubernetes Indexed Job's task (its index is JOB_COMPLETION_INDEX); see resolveShard. */
export const shardCountFlag = Flags.integer({
  min: 1,
  summary: 'Shard count when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) [env: SENEKA_SHARD_COUNT].',
})

/** A file that must exist (instead of Flags.file's `exists`, whose error is not one clear sentence). */
export const existingFileFlag = Flags.custom<string>({
  parse: (input, _ctx, opts) => wrap((v) => requireExisting(v, 'file', `--${opts.name}`))(input),
})

/** A folder that must exist. */
export const existingFolderFlag = Flags.custom<string>({
  parse: (input, _ctx, opts) => wrap((v) => requireExisting(v, 'folder', `--${opts.name}`))(input),
})

/** A positional file argument that must exist. */
export function existingFileArg(name: string, description: string, suggestion?: string) {
  return Args.custom<string>({description, parse: wrap((v) => requireExisting(v, 'file', name, suggestion))})()
}

export const concurrencyFlag = Flags.integer({
  min: 1,
  max: 256,
  summary: 'Objects loaded at once.',
})

/** reconcile: a row count ("10") or a percentage ("0.5%"). */
export const toleranceFlag = Flags.custom<Tolerance>({
  parse: (input, _ctx, opts) => wrap((v) => parseTolerance(v, `--${opts.name}`))(input),
})

/** Format and table flags of the commands that load objects (backfill, stream); see formatAndTable. */
export const formatFlags = {
  format: Flags.option({options: FORMAT_NAMES, required: true, summary: 'Log format of the objects.'})(),
  table: Flags.string({summary: 'Target table [default: <format>_logs].'}),
  'time-field': Flags.string({summary: 'jsonl: field holding the event time [default: time, timestamp, @timestamp or ts].'}),
  'jsonl-columns': Flags.string({summary: 'jsonl: fields promoted to typed columns, e.g. "partition:int,offset:bigint".'}),
}

/**
 * --gcs-endpoint of every command that talks to GCS: the same flag and the same variables everywhere (the flag,
 * else SENEKA_GCS_ENDPOINT, else STORAGE_EMULATOR_HOST: lib/store/gcs.ts gcsEndpoint).
 */
export const gcsEndpointFlag = Flags.string({
  summary: 'Custom GCS endpoint (emulators, test doubles) [default: SENEKA_GCS_ENDPOINT, else STORAGE_EMULATOR_HOST].',
})
