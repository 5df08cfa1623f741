import {gzipSync} from 'node:zlib'

/** A small deterministic PRNG (mulberry32) so generated data is the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface AlbFile {
  key: string
  body: Buffer
  lines: number
  /** lines deliberately malformed */
  malformed: number
}

export interface AlbGeneratorOptions {
  account?: string
  region?: string
  loadBalancer?: string
  /** first instant (UTC) */
  start: Date
  days: number
  /** minutes between files of one node (AWS writes every 5) */
  intervalMinutes?: number
  nodes?: number
  linesPerFile: number
  /** share of lines that are malformed (0..1) */
  malformedRate?: number
  seed?: number
  gzip?: boolean
}

const PATHS = ['/api/items', '/api/cart', '/api/orders', '/static/app.js', '/static/app.css', '/login', '/health', '/search']
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'curl/8.5.0',
  'okhttp/4.12.0',
]
const VERBS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE']
const STATUS = [200, 200, 200, 200, 201, 204, 301, 304, 400, 403, 404, 500, 502, 503]

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0')
}

function iso(ms: number, micros: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${pad(Math.floor(ms % 1000), 3)}${pad(micros, 3)}Z`)
}

/** One realistic ALB access-log line (all documented fields, recent AWS field set). */
export function albLine(rand: () => number, ms: number, opts: {account: string; region: string; lb: string}): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  const status = pick(STATUS)
  const targetIp = `10.0.${Math.floor(rand() * 4)}.${10 + Math.floor(rand() * 40)}`
  const verb = pick(VERBS)
  const reqTime = (rand() * 0.002).toFixed(3)
  const tgtTime = status >= 500 && rand() < 0.3 ? '-1' : (rand() * 0.4).toFixed(3)
  const created = ms - Math.floor(rand() * 400)
  const hex = (n: number): string => Array.from({length: n}, () => Math.floor(rand() * 16).toString(16)).join('')
  const url = `https://shop.example.com:443${pick(PATHS)}?id=${Math.floor(rand() * 100000)}`
  return [
    'https',
    iso(ms, Math.floor(rand() * 1000)),
    `app/${opts.lb}/50dc6c495c0c9188`,
    `203.0.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}:${1024 + Math.floor(rand() * 60000)}`,
    `${targetIp}:8080`,
    reqTime,
    tgtTime,
    tgtTime === '-1' ? '-1' : '0.000',
    String(status),
    tgtTime === '-1' ? '-' : String(status),
    String(200 + Math.floor(rand() * 2000)),
    String(300 + Math.floor(rand() * 40000)),
    `"${verb} ${url} HTTP/1.1"`,
    `"${pick(AGENTS)}"`,
    'ECDHE-RSA-AES128-GCM-SHA256',
    'TLSv1.2',
    `arn:aws:elasticloadbalancing:${opts.region}:${opts.account}:targetgroup/web/73e2d6bc24d8a067`,
    `"Root=1-${hex(8)}-${hex(24)}"`,
    '"shop.example.com"',
    `"arn:aws:acm:${opts.region}:${opts.account}:certificate/${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}"`,
    '0',
    iso(created, Math.floor(rand() * 1000)),
    '"forward"',
    '"-"',
    '"-"',
    `"${targetIp}:8080"`,
    `"${status}"`,
    '"-"',
    '"-"',
    `TID_${hex(32)}`,
    '"-"',
    '"-"',
    '"-"',
  ].join(' ')
}

/**
 * Generates ALB log files laid out as AWS writes them:
 * AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/<account>_elasticloadbalancing_<region>_app.<lb>.<id>_<yyyymmddThhmmZ>_<ip>_<rand>.log.gz
 */
export function* generateAlbFiles(o: AlbGeneratorOptions): Generator<AlbFile> {
  const account = o.account ?? '123456789012'
  const region = o.region ?? 'eu-west-1'
  const lb = o.loadBalancer ?? 'shop-prod'
  const interval = (o.intervalMinutes ?? 5) * 60_000
  const nodes = o.nodes ?? 2
  const rand = prng(o.seed ?? 42)
  const startMs = o.start.getTime()
  const endMs = startMs + o.days * 86_400_000
  for (let t = startMs + interval; t <= endMs; t += interval) {
    for (let n = 0; n < nodes; n++) {
      const d = new Date(t - 1)
      const day = `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}`
      const stamp = new Date(t).toISOString().replace(/[-:]/g, '').slice(0, 13)
      const ip = `10.1.${n}.${20 + n}`
      const key = `AWSLogs/${account}/elasticloadbalancing/${region}/${day}/${account}_elasticloadbalancing_${region}_app.${lb}.50dc6c495c0c9188_${stamp}Z_${ip}_${Math.floor(rand() * 1e8).toString(36)}.log${o.gzip === false ? '' : '.gz'}`
      const lines: string[] = []
      let malformed = 0
      for (let i = 0; i < o.linesPerFile; i++) {
        const ms = t - interval + Math.floor(((i + rand()) / o.linesPerFile) * interval)
        if (o.malformedRate && rand() < o.malformedRate) {
          malformed++
          lines.push(rand() < 0.5 ? 'https 2024-13-45T99:00:00Z truncated line' : `https ${iso(ms, 0)} app/${lb}/x "GET /unterminated`)
        } else {
          lines.push(albLine(rand, ms, {account, region, lb}))
        }
      }
      const text = `${lines.join('\n')}\n`
      yield {key, body: o.gzip === false ? Buffer.from(text) : gzipSync(text), lines: o.linesPerFile, malformed}
    }
  }
}
