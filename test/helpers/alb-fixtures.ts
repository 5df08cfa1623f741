import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {type AlbFile, generateAlbFiles} from '../../src/lib/demo/alb-generator.js'

export const PREFIX = 'AWSLogs/123456789012/elasticloadbalancing/eu-west-1/'

export interface Fixture {
  files: AlbFile[]
  /** good lines per day (UTC) */
  goodByDay: Map<string, number>
  good: number
  malformed: number
}

/** Generates ALB files (deterministic) and writes them under dir when given. */
export function albFixture(opts: {days?: number; intervalMinutes?: number; linesPerFile?: number; malformedRate?: number; dir?: string; seed?: number; start?: string} = {}): Fixture {
  const files = [
    ...generateAlbFiles({
      start: new Date(opts.start ?? '2024-05-01T00:00:00Z'),
      days: opts.days ?? 3,
      intervalMinutes: opts.intervalMinutes ?? 240,
      nodes: 2,
      linesPerFile: opts.linesPerFile ?? 50,
      malformedRate: opts.malformedRate ?? 0,
      seed: opts.seed ?? 1,
    }),
  ]
  const goodByDay = new Map<string, number>()
  for (const f of files) {
    const day = /\/(\d{4})\/(\d{2})\/(\d{2})\//.exec(f.key)!.slice(1).join('-')
    goodByDay.set(day, (goodByDay.get(day) ?? 0) + f.lines - f.malformed)
    if (opts.dir) {
      const p = path.join(opts.dir, f.key)
      mkdirSync(path.dirname(p), {recursive: true})
      writeFileSync(p, f.body)
    }
  }
  const good = files.reduce((s, f) => s + f.lines - f.malformed, 0)
  const malformed = files.reduce((s, f) => s + f.malformed, 0)
  return {files, goodByDay, good, malformed}
}
