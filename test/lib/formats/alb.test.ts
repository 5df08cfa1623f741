import {describe, expect, it} from 'vitest'
import {alb} from '../../../src/lib/formats/alb.js'

const col = (name: string): number => alb.columns.findIndex((c) => c.name === name)

function parse(line: string): Record<string, unknown> {
  const r = alb.parse(line)
  if (!r.ok) throw new Error(`rejected: ${r.reason}`)
  return Object.fromEntries(alb.columns.map((c, i) => [c.name, r.values[i]]))
}

// The HTTP example from the AWS documentation ("Example log entries", Application Load Balancers)
const DOC_HTTP =
  'http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90'
// The HTTPS example, with TLS fields, a certificate and a domain
const DOC_HTTPS =
  'https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90'
// A Lambda target that failed: target is "-", processing times -1
const DOC_LAMBDA_ERROR =
  'http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - 0.000 0.001 0.000 502 - 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-" TID_1234abcd5678ef90'

describe('alb format', () => {
  it('parses the documented HTTP example with proper types', () => {
    const r = parse(DOC_HTTP)
    expect(r.type).toBe('http')
    expect(r.event_time).toBe(Date.UTC(2018, 6, 2, 22, 23, 0) * 1000 + 186_641)
    expect(r.elb).toBe('app/my-loadbalancer/50dc6c495c0c9188')
    expect([r.client_ip, r.client_port, r.target_ip, r.target_port]).toEqual(['192.168.131.39', 2817, '10.0.0.1', 80])
    expect([r.request_processing_time, r.target_processing_time, r.response_processing_time]).toEqual([0, 0.001, 0])
    expect([r.elb_status_code, r.target_status_code, r.received_bytes, r.sent_bytes]).toEqual([200, 200, 34, 366])
    expect([r.request_verb, r.request_url, r.request_proto]).toEqual(['GET', 'http://www.example.com:80/', 'HTTP/1.1'])
    expect(r.user_agent).toBe('curl/7.46.0')
    expect([r.ssl_cipher, r.ssl_protocol]).toEqual([null, null])
    expect(r.trace_id).toBe('Root=1-58337262-36d228ad5d99923122bbe354')
    expect([r.domain_name, r.chosen_cert_arn]).toEqual([null, null])
    expect(r.matched_rule_priority).toBe(0)
    expect(r.request_creation_time).toBe(Date.UTC(2018, 6, 2, 22, 22, 48, 364) * 1000)
    expect(r.actions_executed).toBe('forward')
    expect([r.target_port_list, r.target_status_code_list]).toEqual(['10.0.0.1:80', '200'])
    expect(r.conn_trace_id).toBe('TID_1234abcd5678ef90')
    expect([r.transformed_host, r.transformed_uri, r.request_transform_status]).toEqual([null, null, null])
  })

  it('parses the documented HTTPS example (TLS fields, domain, certificate)', () => {
    const r = parse(DOC_HTTPS)
    expect([r.ssl_cipher, r.ssl_protocol]).toEqual(['ECDHE-RSA-AES128-GCM-SHA256', 'TLSv1.2'])
    expect(r.domain_name).toBe('www.example.com')
    expect(r.chosen_cert_arn).toBe('arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012')
    expect(r.actions_executed).toBe('authenticate,forward')
    expect(r.matched_rule_priority).toBe(1)
  })

  it('maps "-" to NULL for absent targets and status codes', () => {
    const r = parse(DOC_LAMBDA_ERROR)
    expect([r.target_ip, r.target_port, r.target_status_code]).toEqual([null, null, null])
    expect(r.elb_status_code).toBe(502)
    expect(r.error_reason).toBe('LambdaInvalidResponse')
  })

  it('stores an empty quoted field "" as the empty string and "-" as NULL', () => {
    const r = parse(DOC_HTTP.replace('"forward"', '""').replace('"curl/7.46.0"', '"-"'))
    expect(r.actions_executed).toBe('')
    expect(r.user_agent).toBeNull()
    expect(r.redirect_url).toBeNull() // "-"
  })

  it('ignores fields AWS appends in the future', () => {
    const r = alb.parse(`${DOC_HTTP} "-" "-" "-" "some-new-field" 42 "and another"`)
    expect(r.ok).toBe(true)
    if (r.ok) expect(r.values).toHaveLength(alb.columns.length)
  })

  it('accepts older lines without the trailing fields, as NULLs', () => {
    const old = DOC_HTTP.split(' ').slice(0, 20).join(' ') // up to "domain_name"
    const r = parse(old)
    expect(r.domain_name).toBeNull()
    expect(r.conn_trace_id).toBeNull()
    expect(r.classification).toBeNull()
  })

  it('keeps spaces and escaped quotes inside quoted fields', () => {
    const line = DOC_HTTP.replace('"curl/7.46.0"', '"Mozilla/5.0 (X11; Linux) \\"quoted\\" agent"')
    expect(parse(line).user_agent).toBe('Mozilla/5.0 (X11; Linux) "quoted" agent')
  })

  it('splits IPv6 client addresses at the last colon', () => {
    const line = DOC_HTTP.replace('192.168.131.39:2817', '2001:db8::1:2817')
    const r = parse(line)
    expect([r.client_ip, r.client_port]).toEqual(['2001:db8::1', 2817])
    // in brackets: the brackets go; a host with a bracket elsewhere stays as it is
    const bracketed = parse(DOC_HTTP.replace('192.168.131.39:2817', '[2001:db8::1]:2817'))
    expect([bracketed.client_ip, bracketed.client_port]).toEqual(['2001:db8::1', 2817])
    const odd = parse(DOC_HTTP.replace('192.168.131.39:2817', 'host]:2817'))
    expect([odd.client_ip, odd.client_port]).toEqual(['host]', 2817])
  })

  it.each([
    ['an empty-ish line', 'garbage', /expected at least 17 fields/],
    ['an unterminated quote', DOC_HTTP.slice(0, DOC_HTTP.indexOf('HTTP/1.1"')), /unterminated quoted field/],
    ['text glued after a closing quote', DOC_HTTP.replace('"curl/7.46.0"', '"curl/7.46.0"x'), /^text after a closing quote \(field 14\)$/],
    ['an unknown type', DOC_HTTP.replace(/^http/, 'gopher'), /unknown request type/],
    ['a bad timestamp', DOC_HTTP.replace('2018-07-02T22:23:00.186641Z', '2018-13-02T22:23:00Z'), /time .* not a valid timestamp/],
    ['a non-numeric status', DOC_HTTP.replace(' 200 200 ', ' 200 OK '), /target_status_code "OK" is not an integer/],
  ])('rejects %s with a reason', (_name, line, reason) => {
    const r = alb.parse(line)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })

  it('puts the event time in event_time', () => {
    expect(col('event_time')).toBe(1)
    expect(alb.columns.find((c) => c.name === 'event_time')?.type).toBe('timestamp')
  })
})
