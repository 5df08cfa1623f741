import type {Readable} from 'node:stream'
import type {LogFormat} from '../formats/types.js'
import {type Batch, type ReadCounters, type Reject, readBatches} from './read-object.js'
import {checkRejectRule} from './reject-rule.js'

/**
 * What an engine reports while it turns one object's bytes into rows, and the check it runs before it commits.
 * The engine owns how the bytes are parsed and staged; the caller owns what is counted and kept for messages.
 */
export interface ParseReport {
  readonly counters: ReadCounters
  /** rejected lines as they come (the report keeps the first few for messages; the engine stores all of them) */
  rejects(lines: readonly Reject[]): void
  /**
   * After the last line, before anything is committed: throws RejectedObjectError when the object is not a load
   * (reject-rule.ts: nearly every line rejected).
   */
  parsed(rows: number, rejected: number): void
}

/** The report of one object's load attempt: counters, the first rejected lines, the reject rule. */
export class ObjectParseReport implements ParseReport {
  readonly kept: Reject[] = []

  constructor(
    private readonly uri: string,
    private readonly format: LogFormat,
    readonly counters: ReadCounters,
    private readonly opts: {keep: number; rule: boolean},
  ) {}

  /** A new attempt reads the object again: what the last one counted does not add up. */
  reset(): void {
    this.counters.storedBytes = 0
    this.counters.bytes = 0
    this.kept.length = 0
  }

  rejects(lines: readonly Reject[]): void {
    for (const r of lines) {
      if (this.kept.length >= this.opts.keep) break
      this.kept.push(r)
    }
  }

  parsed(rows: number, rejected: number): void {
    if (this.opts.rule) checkRejectRule(this.uri, this.format, rows, rejected, this.kept)
  }
}

/**
 * The generic way from an object's bytes to rows: the format's parser in this thread, in columnar batches,
 * reported as it goes; `report.parsed` runs after the last batch, so a consumer that reads every batch before
 * committing never commits an object the reject rule fails.
 */
export async function* parseBatches(open: () => Promise<Readable>, format: LogFormat, report: ParseReport): AsyncGenerator<Batch> {
  let rows = 0
  let rejected = 0
  for await (const b of readBatches(await open(), format, report.counters)) {
    report.rejects(b.rejects)
    rows += b.count
    rejected += b.rejects.length
    yield b
  }
  report.parsed(rows, rejected)
}
