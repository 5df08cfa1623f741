import cliProgress from 'cli-progress'
import {formatBytes, formatCount} from './units.js'

export interface ProgressState {
  done: number
  total: number
  bytesDone: number
  bytesTotal: number
  rows: number
}

/** A progress bar on stderr (objects, bytes, rows, rate, ETA); a no-op when not interactive. */
export class ProgressBar {
  private bar?: cliProgress.SingleBar
  private readonly started = Date.now()

  constructor(
    private readonly enabled: boolean,
    private readonly unit = 'objects',
  ) {}

  update(s: ProgressState): void {
    if (!this.enabled) return
    const secs = Math.max((Date.now() - this.started) / 1000, 0.001)
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
          format: '{bar} {value}/{total} {unit} | {bytes} | {rows} rows | {rate} | ETA {eta_formatted}',
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
  }
}
