import {describe, expect, it} from 'vitest'
import {elb} from '../../../src/lib/formats/elb.js'

function parse(line: string): Record<string, unknown> {
  const r = elb.parse(line)
  if (!r.ok) throw new Error(`rejected: ${r.reason}`)
  return Object.fromEntries(elb.columns.map((c, i) => [c.name, r.values[i]]))
}

describe('elb (Classic Load Balancer) format', () => {
  it('parses the documented HTTP example', () => {
    const r = parse('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -')
    expect(r.event_time).toBe(Date.UTC(2015, 4, 13, 23, 39, 43) * 1000 + 945_958)
    expect([r.elb, r.client_ip, r.client_port, r.backend_ip, r.backend_port]).toEqual(['my-loadbalancer', '192.168.131.39', 2817, '10.0.0.1', 80])
    expect([r.request_processing_time, r.backend_processing_time, r.response_processing_time]).toEqual([0.000073, 0.001048, 0.000057])
    expect([r.elb_status_code, r.backend_status_code, r.received_bytes, r.sent_bytes]).toEqual([200, 200, 0, 29])
    expect([r.request_verb, r.request_url, r.request_proto]).toEqual(['GET', 'http://www.example.com:80/', 'HTTP/1.1'])
    expect([r.user_agent, r.ssl_cipher, r.ssl_protocol]).toEqual(['curl/7.38.0', null, null])
  })

  it('parses the documented HTTPS example', () => {
    const r = parse('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.38.0" DHE-RSA-AES128-SHA TLSv1.2')
    expect([r.ssl_cipher, r.ssl_protocol]).toEqual(['DHE-RSA-AES128-SHA', 'TLSv1.2'])
  })

  it('parses the documented TCP example (no request, "-" fields)', () => {
    const r = parse('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.001069 0.000028 0.000041 - - 82 305 "- - - " "-" - -')
    expect([r.elb_status_code, r.backend_status_code]).toEqual([null, null])
    expect([r.request_verb, r.request_url, r.user_agent]).toEqual([null, null, null])
    expect(r.sent_bytes).toBe(305)
  })

  it('ignores unexpected trailing fields and rejects short lines', () => {
    expect(elb.parse('2015-05-13T23:39:43.945958Z my-lb 1.2.3.4:1 - -1 -1 -1 503 0 0 0 "GET http://x/ HTTP/1.1" "-" - - extra "fields"').ok).toBe(true)
    const r = elb.parse('2015-05-13T23:39:43.945958Z my-lb 1.2.3.4:1')
    expect(r.ok).toBe(false)
  })
})
