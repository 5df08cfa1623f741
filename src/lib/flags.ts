import {Errors, Flags} from '@oclif/core'
import {parseShard, type Shard} from './backfill/shard.js'
import {errorMessage} from './errors.js'
import {ExitCode} from './exit-codes.js'
import {parseTolerance, type Tolerance} from './reconcile/tolerance.js'
import {parseDuration, parseInstant} from './time.js'

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

export const concurrencyFlag = Flags.integer({
  min: 1,
  max: 256,
  summary: 'Objects loaded at once.',
})

/** reconcile: a row count ("10") or a percentage ("0.5%"). */
export const toleranceFlag = Flags.custom<Tolerance>({
  parse: (input, _ctx, opts) => wrap((v) => parseTolerance(v, `--${opts.name}`))(input),
})
