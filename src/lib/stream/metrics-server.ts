import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {UserError} from '../errors.js'

export interface MetricsServer {
  url: string
  close(): Promise<void>
}

/** Serves GET /metrics (Prometheus text format) on 127.0.0.1 only. Port 0 picks a free port. */
export async function startMetricsServer(port: number, render: () => string): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'})
      res.end(render())
      return
    }
    res.writeHead(404, {'content-type': 'text/plain'})
    res.end('not found: try /metrics\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UserError(`Port ${port} on 127.0.0.1 is already in use.`, {suggestion: 'Pick another --metrics-port (0 picks a free one).'})
          : err,
      ),
    )
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const addr = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
