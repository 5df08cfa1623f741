import {bigint, FieldError, hostPort, int, isoMicros, num, request, splitFields, text} from './fields.js'
import type {Column, LogFormat, ParseResult} from './types.js'

/**
 * AWS Classic Load Balancer access logs (docs: "Access logs for your Classic Load Balancer"):
 * timestamp elb client:port backend:port request_processing_time backend_processing_time
 * response_processing_time elb_status_code backend_status_code received_bytes sent_bytes "request"
 * "user_agent" ssl_cipher ssl_protocol. Unexpected trailing fields are ignored.
 */
const COLUMNS: Column[] = [
  {name: 'event_time', type: 'timestamp', description: 'field `timestamp`'},
  {name: 'elb', type: 'string'},
  {name: 'client_ip', type: 'string'},
  {name: 'client_port', type: 'int'},
  {name: 'backend_ip', type: 'string'},
  {name: 'backend_port', type: 'int'},
  {name: 'request_processing_time', type: 'double'},
  {name: 'backend_processing_time', type: 'double'},
  {name: 'response_processing_time', type: 'double'},
  {name: 'elb_status_code', type: 'int'},
  {name: 'backend_status_code', type: 'int'},
  {name: 'received_bytes', type: 'bigint'},
  {name: 'sent_bytes', type: 'bigint'},
  {name: 'request_verb', type: 'string'},
  {name: 'request_url', type: 'string'},
  {name: 'request_proto', type: 'string'},
  {name: 'user_agent', type: 'string'},
  {name: 'ssl_cipher', type: 'string'},
  {name: 'ssl_protocol', type: 'string'},
]

/** TCP listeners log no request/user agent/ssl fields beyond sent_bytes in some variants: 11 is the floor. */
const MIN_FIELDS = 11

export const elb: LogFormat = {
  name: 'elb',
  description: 'AWS Classic Load Balancer access logs',
  columns: COLUMNS,
  parse(line: string): ParseResult {
    const f = splitFields(line)
    if (!Array.isArray(f)) return {ok: false, reason: f.reason}
    if (f.length < MIN_FIELDS) return {ok: false, reason: `expected at least ${MIN_FIELDS} fields, found ${f.length}`}
    try {
      const time = isoMicros(f[0], 'timestamp')
      if (time === null) return {ok: false, reason: 'timestamp is missing'}
      const [clientIp, clientPort] = hostPort(f[2], 'client:port')
      const [backendIp, backendPort] = hostPort(f[3], 'backend:port')
      const [verb, url, proto] = request(f[11])
      return {
        ok: true,
        values: [
          time,
          text(f[1]),
          clientIp,
          clientPort,
          backendIp,
          backendPort,
          num(f[4], 'request_processing_time'),
          num(f[5], 'backend_processing_time'),
          num(f[6], 'response_processing_time'),
          int(f[7], 'elb_status_code'),
          int(f[8], 'backend_status_code'),
          bigint(f[9], 'received_bytes'),
          bigint(f[10], 'sent_bytes'),
          verb,
          url,
          proto,
          text(f[12]),
          text(f[13]),
          text(f[14]),
        ],
      }
    } catch (err) {
      if (err instanceof FieldError) return {ok: false, reason: err.message}
      throw err
    }
  },
}
