import cliProgress from 'cli-progress'
import {formatBytes, formatCount} from './units.js'

export interface ProgressState {
  done: number
  total: number
  bytesDone: number
  bytesTotal: number
  rows: number
}

/**
 * How progress is shown: `bar` redraws a bar on an interactive stderr; `lines` prints one plain line when the
 * work starts and then every `everyMs` (10 s) by the clock, whether or not an object finished meanwhile (stderr
 * is a file, a pipe or a CI log, where a bar would be noise and silence looks like a hang); `off` prints nothing
 * (--json, --log-level error, dry runs).
 */
export type ProgressMode = 'bar' | 'lines' | 'off'

export interface ProgressOptions {
  unit?: string
  /** lines mode: one line per this many ms (default 10 s) */
  everyMs?: number
  /** lines mode: calls `tick` every `ms` until stopped (default: an unref'd setInterval; tests drive it) */
  every?: (ms: number, tick: () => void) => {stop(): void}
  /** lines mode: where lines go (default stderr) */
  write?: (line: string) => void
  /** terminal width for the bar (default stderr's columns, else 80) */
  columns?: number
  now?: () => number
}

const TAIL_FORMAT = '{value}/{total} {unit} | {bytes} | {rows} rows | {rate} | ETA {eta_formatted}'
/** The narrow form: the percentage in place of the bar, and no bytes. */
const NARROW_FORMAT = '{percentage}% {value}/{total} {unit} | {rows} rows | {rate} | ETA {eta_formatted}'
/** The tail's text in a long but ordinary case, used to size the bar to the terminal. */
export const LONG_TAIL = '9999/9999 objects | 999.9 MiB/999.9 MiB | 9,999,999 rows | 99,999 rows/s | ETA 9999s'
const MIN_BAR = 10
const DEFAULT_BAR = 40

/**
 * The bar's format for a terminal of `columns` characters, so that rate and ETA always fit on the line: a bar as
 * wide as the room allows (at most 40), or, where even a short bar does not fit, a percentage and no bytes.
 */
export function barLayout(columns: number): {format: string; barsize: number} {
  const room = columns - LONG_TAIL.length - 2
  if (room < MIN_BAR) return {format: NARROW_FORMAT, barsize: 0}
  return {format: `{bar} ${TAIL_FORMAT}`, barsize: Math.min(DEFAULT_BAR, room)}
}

/** Seconds left at the current rate, in words ("unknown" before anything is done). */
function etaText(s: ProgressState, secs: number): string {
  if (s.bytesDone <= 0 || s.bytesTotal <= 0) return 'unknown'
  const left = ((s.bytesTotal - s.bytesDone) * secs) / s.bytesDone
  if (left < 90) return `${Math.round(left)}s`
  if (left < 5400) return `${Math.round(left / 60)}m`
  return `${(left / 3600).toFixed(1)}h`
}

/** One plain progress line: what is done out of what, rows, rate and time left. */
export function progressLine(s: ProgressState, secs: number, unit = 'objects'): string {
  const rate = Math.round(s.rows / Math.max(secs, 0.001))
  return (
    `progress: ${formatCount(s.done)}/${formatCount(s.total)} ${unit}, ${formatBytes(s.bytesDone)}/${formatBytes(s.bytesTotal)}, ` +
    `${formatCount(s.rows)} rows, ${formatCount(rate)} rows/s, ETA ${etaText(s, secs)}`
  )
}

/** Progress on stderr (objects, bytes, rows, rate, ETA): a bar on a terminal, a line now and then elsewhere. */
export class ProgressBar {
  private bar?: cliProgress.SingleBar
  private readonly now: () => number
  private readonly started: number
  private last?: ProgressState
  private readonly unit: string
  private ticker?: {stop(): void}

  constructor(
    private readonly mode: ProgressMode,
    private readonly opts: ProgressOptions = {},
  ) {
    this.now = opts.now ?? Date.now
    this.started = this.now()
    this.unit = opts.unit ?? 'objects'
  }

  update(s: ProgressState): void {
    if (this.mode === 'off') return
    const secs = Math.max((this.now() - this.started) / 1000, 0.001)
    if (this.mode === 'lines') {
      const first = !this.last
      this.last = {...s}
      if (first) {
        // a line at once, then one per interval by the clock (a long object must not mean a minute of silence)
        this.printLine()
        this.ticker = (this.opts.every ?? everyInterval)(this.opts.everyMs ?? 10_000, () => this.printLine())
      }
      return
    }
    const payload = {
      bytes: `${formatBytes(s.bytesDone)}/${formatBytes(s.bytesTotal)}`,
      rows: formatCount(s.rows),
      rate: `${formatCount(Math.round(s.rows / secs))} rows/s`,
      unit: this.unit,
    }
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          ...barLayout(this.opts.columns ?? process.stderr.columns ?? 80),
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
      this.bar.start(s.total, s.done, payload)
    } else {
      this.bar.update(s.done, payload)
    }
  }

  stop(): void {
    this.bar?.stop()
    this.bar = undefined
    this.ticker?.stop()
    this.ticker = undefined
  }

  private printLine(): void {
    if (!this.last) return
    const line = progressLine(this.last, (this.now() - this.started) / 1000, this.unit)
    ;(this.opts.write ?? ((l: string) => process.stderr.write(`${l}\n`)))(line)
  }
}

/** An unref'd interval: progress lines never keep the process alive. */
function everyInterval(ms: number, tick: () => void): {stop(): void} {
  const t = setInterval(tick, ms)
  t.unref()
  return {stop: () => clearInterval(t)}
}
