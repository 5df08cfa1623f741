/** Load-balancer log lines that probe the byte scanner's every decision (formats/lb-bytes.ts): ALB and ELB. */

const F = [
  'http', '2024-05-01T10:00:00.123456Z', 'app/lb/1', '10.0.0.1:2817', '10.0.0.2:80', '0.000', '0.001', '0.000', '200', '200', '34', '366',
  '"GET http://x/ HTTP/1.1"', '"curl/8"', '-', '-', 'arn:tg', '"Root=1"', '"-"', '"-"', '0', '2024-05-01T10:00:00.000000Z', '"forward"',
  '"-"', '"-"', '"10.0.0.2:80"', '"200"', '"-"', '"-"', 'TID_1', '"-"', '"-"', '"-"',
]
export const line = (patch: Record<number, string> = {}, cut?: number): string => F.slice(0, cut ?? F.length).map((f, i) => patch[i] ?? f).join(' ')

/** lines that probe every decision of the fast scanner: the parser's answer must come out either way */
export const EDGE_LINES = [
  line(),
  line({0: 'h2'}), line({0: 'wss'}), line({0: 'ftp'}), line({0: '"https"'}),
  line({1: '-'}), line({1: '2024-02-30T00:00:00Z'}), line({1: '2024-02-29T00:00:00Z'}), line({1: '2023-02-29T00:00:00Z'}),
  line({1: '0001-01-01T00:00:00Z'}), line({1: '0099-12-31T23:59:59.999Z'}), line({1: '9999-12-31T23:59:59.999999Z'}),
  line({1: '2024-05-01T10:00:60Z'}), line({1: '2024-05-01T10:00:00.123456789Z'}), line({1: '2024-05-01T10:00:00.1Z'}),
  line({1: '2024-05-01 10:00:00Z'}), line({1: '"2024-05-01T10:00:00Z"'}), line({1: '0000-01-01T00:00:00Z'}), line({1: '2024-05-01T10:00:00+01:00'}),
  line({3: '[::1]:443'}), line({3: '::1:443'}), line({3: '10.0.0.1'}), line({3: '10.0.0.1:'}), line({3: ':80'}), line({3: '-:80'}), line({3: '[]:80'}),
  line({3: '10.0.0.1:99999999999'}), line({3: '10.0.0.1:2147483647'}), line({3: '10.0.0.1:2147483648'}), line({3: '10.0.0.1:-5'}), line({3: '10.0.0.1:+5'}),
  line({4: '-'}), line({4: '""'}), line({4: '"10.0.0.2:80"'}),
  line({5: '-1'}), line({5: '1e-3'}), line({5: '.5'}), line({5: '5.'}), line({5: 'Infinity'}), line({5: '1'.repeat(400)}), line({5: '0x10'}), line({5: ''}),
  line({8: '9999999999'}), line({8: '-2147483648'}), line({8: '-2147483649'}), line({8: '1e3'}), line({8: '200.0'}), line({8: '007'}), line({8: '-0'}),
  line({10: '9007199254740993'}), line({10: '9223372036854775807'}), line({10: '9223372036854775808'}), line({10: '10000000000000000000'}), line({10: '1e21'}),
  line({10: '999999999999999999'}), line({10: '-34'}),
  line({12: '"GET  HTTP/1.1"'}), line({12: '"GET"'}), line({12: '"GET /a"'}), line({12: '" GET / HTTP/1.1"'}), line({12: '"GET /a b c HTTP/1.1"'}),
  line({12: '"- - - "'}), line({12: '"-"'}), line({12: '""'}), line({12: '-'}), line({12: 'GET'}), line({12: '"GET /\\"x\\" HTTP/1.1"'}),
  line({12: '"GET /\\x22 HTTP/1.1"'}), line({12: '"GET /ünï HTTP/1.1"'}), line({12: '"GET / HTTP/1.1\u00a0"'}),
  line({13: '"Mozilla/5.0 (X11; Linux) \\"quoted\\""'}), line({13: '"ua with \\\\ backslash"'}), line({13: '""'}), line({13: '"-"'}),
  line({13: '"tab\there"'}), line({13: '"ünïcödé 🙂"'}), line({13: '"unterminated'}), line({13: '"glued"x'}), line({13: 'bare"quote'}),
  line({14: '""'}), line({16: '-'}), line({17: '"Root=1 2"'}),
  // a doubled quote is an escaped quote to a CSV reader, a closed field and glued text to the parser
  line({13: '"a""b"'}), line({13: '"ua ""quoted"""'}), line({2: '"x""y"'}), line({12: '"GET /""a"" HTTP/1.1"'}),
  line({20: '-'}), line({20: '2147483648'}), line({21: '-'}), line({21: '2024-13-01T00:00:00Z'}), line({21: '"2024-05-01T10:00:00Z"'}),
  line({}, 17), line({}, 16), line({}, 22), line({}, 25),
  `${line()} "appended" fields 1 2 3`, `${line()} "a""b"`, `${line()} "x\\"y z"`, `${line()} "x\\y"`, `${line()} "two words" - ""`,
  `${line()} ${Array.from({length: 9}, (_, i) => `f${i}`).join(' ')}`, `${line()} `, `${line()}  `, ` ${line()}`, `${line()}\r`, line({2: 'a\rb'}),
  line({2: ''}).replace('  ', '  '), line({}).replace(' ', '  '),
  line({29: '"TID with space"'}), line({28: 'bare-string'}),
  line({3: 'host.example:80'}), line({3: '10.0.0.1:80:90'}), line({4: '"-"'}), line({4: '-:-'}), line({8: '""'}), line({8: '"-"'}), line({12: '"GET / HTTP/1.1" '}),
  line({12: '"PUT https://x:443/a?b=c HTTP/2.0"'}), line({13: '-'}), line({2: '"-"'}),
  'not an alb line at all', '"', 'http',
  // "-" and empty inside the request's parts: each part is NULL as the parser gives it, never the text "-"
  line({12: '"- http://host:80- -"'}), line({12: '"GET - HTTP/1.1"'}), line({12: '"GET http://x/ -"'}), line({12: '"- - -"'}),
  line({12: '"- http://x/ HTTP/1.1"'}), line({12: '"GET  -"'}), line({12: '"-  HTTP/1.1"'}), line({12: '"GET -- HTTP/1.1"'}),
  line({12: '"\\"-\\" / HTTP/1.1"'}), line({12: '"- -"'}), line({12: '"GET -"'}),
  // every field "-", "", "-" quoted, "" quoted, and missing (two spaces), one at a time
  ...F.flatMap((_, i) => ['-', '""', '"-"', '', '"\\-"', '--'].map((v) => line({[i]: v}))),
]

export const E = [
  '2015-05-13T23:39:43.945958Z', 'my-loadbalancer', '192.168.131.39:2817', '10.0.0.1:80', '0.000073', '0.001048', '0.000057', '200', '200', '0', '29',
  '"GET http://www.example.com:80/ HTTP/1.1"', '"curl/7.38.0"', '-', '-',
]
export const elbLine = (patch: Record<number, string> = {}, cut?: number): string => E.slice(0, cut ?? E.length).map((f, i) => patch[i] ?? f).join(' ')

