import http from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * An HTTP proxy in front of an S3 server (fauxqs) that lets the first `pass` object reads (GetObject) through
 * and holds every later one until `release()`. A test that must interrupt a run in the middle waits for reads to
 * be held (the run cannot get further) instead of for a clock, then signals the process and lets the reads go.
 */
export interface GatedS3 {
  url: string
  /** object reads answered so far (passed, or released) */
  readonly passed: number
  /** object reads waiting for release() */
  readonly held: number
  /** resolves once at least n object reads are held */
  waitHeld(n: number): Promise<void>
  /** lets the held reads (and every later one) through */
  release(): void
  close(): Promise<void>
}

const isObjectRead = (req: http.IncomingMessage): boolean => {
  if (req.method !== 'GET') return false
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.searchParams.get('x-id') === 'GetObject') return true
  // path style: /bucket/key, without a listing's query
  return url.pathname.split('/').filter(Boolean).length >= 2 && !url.searchParams.has('list-type')
}

export async function gatedS3(target: string, opts: {pass: number}): Promise<GatedS3> {
  const upstream = new URL(target)
  let passed = 0
  let open = false
  const held: Array<() => void> = []
  const watchers = new Set<() => void>()
  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const out = http.request({host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers}, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  }
  const server = http.createServer((req, res) => {
    if (!isObjectRead(req)) return forward(req, res)
    if (open || passed < opts.pass) {
      passed++
      return forward(req, res)
    }
    req.pause()
    held.push(() => {
      passed++
      forward(req, res)
    })
    for (const w of [...watchers]) w()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get passed() {
      return passed
    },
    get held() {
      return held.length
    },
    waitHeld: (n) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (held.length < n) return
          watchers.delete(check)
          resolve()
        }
        watchers.add(check)
        check()
      }),
    release: () => {
      open = true
      for (const go of held.splice(0)) go()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
