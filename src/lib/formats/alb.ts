import {bigint, FieldError, hostPort, int, isoMicros, num, request, splitFields, text} from './fields.js'
import type {Column, LogFormat, ParseResult, Value} from './types.js'

/**
 * AWS Application Load Balancer access logs, every documented field in order
 * (docs: "Access log entries" for Application Load Balancers). Column names follow the Athena table AWS
 * documents, except `time`, which is stored as `event_time` like every seneka format.
 * Fields AWS adds at the end in the future are ignored; older lines with fewer trailing fields get NULLs.
 */
const COLUMNS: Column[] = [
  {name: 'type', type: 'string', description: 'http, https, h2, grpcs, ws or wss'},
  {name: 'event_time', type: 'timestamp', description: 'time the load balancer generated the response (field `time`)'},
  {name: 'elb', type: 'string'},
  {name: 'client_ip', type: 'string'},
  {name: 'client_port', type: 'int'},
  {name: 'target_ip', type: 'string'},
  {name: 'target_port', type: 'int'},
  {name: 'request_processing_time', type: 'double'},
  {name: 'target_processing_time', type: 'double'},
  {name: 'response_processing_time', type: 'double'},
  {name: 'elb_status_code', type: 'int'},
  {name: 'target_status_code', type: 'int'},
  {name: 'received_bytes', type: 'bigint'},
  {name: 'sent_bytes', type: 'bigint'},
  {name: 'request_verb', type: 'string'},
  {name: 'request_url', type: 'string'},
  {name: 'request_proto', type: 'string'},
  {name: 'user_agent', type: 'string'},
  {name: 'ssl_cipher', type: 'string'},
  {name: 'ssl_protocol', type: 'string'},
  {name: 'target_group_arn', type: 'string'},
  {name: 'trace_id', type: 'string'},
  {name: 'domain_name', type: 'string'},
  {name: 'chosen_cert_arn', type: 'string'},
  {name: 'matched_rule_priority', type: 'int'},
  {name: 'request_creation_time', type: 'timestamp'},
  {name: 'actions_executed', type: 'string'},
  {name: 'redirect_url', type: 'string'},
  {name: 'error_reason', type: 'string'},
  {name: 'target_port_list', type: 'string'},
  {name: 'target_status_code_list', type: 'string'},
  {name: 'classification', type: 'string'},
  {name: 'classification_reason', type: 'string'},
  {name: 'conn_trace_id', type: 'string'},
  {name: 'transformed_host', type: 'string'},
  {name: 'transformed_uri', type: 'string'},
  {name: 'request_transform_status', type: 'string'},
]

/** The fields every ALB log line has had since launch: type .. target_group_arn. */
const MIN_FIELDS = 17
const TYPES = new Set(['http', 'https', 'h2', 'grpcs', 'ws', 'wss'])

export const alb: LogFormat = {
  name: 'alb',
  description: 'AWS Application Load Balancer access logs',
  columns: COLUMNS,
  parse(line: string): ParseResult {
    const f = splitFields(line)
    if (!Array.isArray(f)) return {ok: false, reason: f.reason}
    if (f.length < MIN_FIELDS) return {ok: false, reason: `expected at least ${MIN_FIELDS} fields, found ${f.length}`}
    if (!TYPES.has(f[0])) return {ok: false, reason: `unknown request type "${f[0]}"`}
    try {
      const [clientIp, clientPort] = hostPort(f[3], 'client:port')
      const [targetIp, targetPort] = hostPort(f[4], 'target:port')
      const [verb, url, proto] = request(f[12])
      const values: Value[] = [
        f[0],
        isoMicros(f[1], 'time'),
        text(f[2]),
        clientIp,
        clientPort,
        targetIp,
        targetPort,
        num(f[5], 'request_processing_time'),
        num(f[6], 'target_processing_time'),
        num(f[7], 'response_processing_time'),
        int(f[8], 'elb_status_code'),
        int(f[9], 'target_status_code'),
        bigint(f[10], 'received_bytes'),
        bigint(f[11], 'sent_bytes'),
        verb,
        url,
        proto,
        text(f[13]),
        text(f[14]),
        text(f[15]),
        text(f[16]),
        text(f[17]),
        text(f[18]),
        text(f[19]),
        int(f[20], 'matched_rule_priority'),
        isoMicros(f[21], 'request_creation_time'),
      ]
      for (let i = 22; values.length < COLUMNS.length; i++) values.push(text(f[i]))
      if (values[1] === null) return {ok: false, reason: 'time is missing'}
      return {ok: true, values}
    } catch (err) {
      if (err instanceof FieldError) return {ok: false, reason: err.message}
      throw err
    }
  },
}
