/** JSON lines that probe every rule of the JSON-lines parser (formats/jsonl.ts), for the raw path's equivalence tests. */

const TS = '2024-05-01T10:00:00.123456Z'
const rec = (fields: Record<string, string>): string => `{${Object.entries(fields).map(([k, v]) => `"${k}":${v}`).join(',')}}`
export const withTs = (ts: string, more: Record<string, string> = {}): string => rec({ts, level: '"info"', message: '"m"', partition: '1', offset: '2', ...more})

/** time field values: every rule of toMicros (epoch s/ms/µs by magnitude, ISO with a zone, days that do not exist) */
const TIMES = [
  '1714557600', '1714557600.5', '1714557600.123456', '1714557600.1234567', '-1714557600.5', '0', '-0', '0.5', '-0.5', '1e3', '1.5e9', '1E9',
  '99999999999', '100000000000', '1714557600123', '1714557600123.5', '-1714557600123', '99999999999999', '100000000000000', '1714557600123456',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740991', '12345678901234567890', '1e400', '-1e400', '1.7976931348623157e308',
  '0.0000005', '0.0000015', '2.5e-7', '4503599627370495.5', '1e-7', '89999999999.9999995',
  '"1714557600"', '"1714557600.5"', '"1714557600123"', '"1714557600123456"', '"0"', '"00001714557600"', '"1714557600."', '"-1714557600"', '"+1714557600"',
  '" 1714557600"', '"1e9"', '"9007199254740993"', '"99999999999"',
  `"${TS}"`, '"2024-05-01T10:00:00Z"', '"2024-05-01 10:00:00Z"', '"2024-05-01T10:00:00.1Z"', '"2024-05-01T10:00:00.1234567Z"', '"2024-05-01T10:00:00.123456789Z"',
  '"2024-05-01T10:00:00.1234567891Z"', '"2024-05-01T10:00:00z"', '"2024-05-01t10:00:00Z"', '"2024-05-01T10:00:00+01:00"', '"2024-05-01T10:00:00-0130"',
  '"2024-05-01T10:00:00.5+05:45"', '"2024-05-01T10:00:00+99:99"', '"2024-05-01T10:00:00+1:00"', '"2024-05-01T10:00:00"', '"2024-05-01"', '"2024-05-01T10:00Z"',
  '"2024-02-29T00:00:00Z"', '"2023-02-29T00:00:00Z"', '"2024-02-30T00:00:00Z"', '"2024-02-30T00:00:00+01:00"', '"2024-13-01T00:00:00Z"', '"2024-00-10T00:00:00Z"',
  '"2024-05-01T24:00:00Z"', '"2024-05-01T23:60:00Z"', '"2024-05-01T23:59:60Z"', '"2024-05-01T23:59:61Z"', '"2024-12-31T23:59:60.5Z"',
  '"0001-01-01T00:00:00Z"', '"0001-01-01T00:30:00+01:00"', '"0000-01-01T00:00:00Z"', '"0099-12-31T23:59:59.999Z"', '"9999-12-31T23:59:59.999999Z"',
  '"9999-12-31T23:59:59.999999-01:00"', '"1969-12-31T23:59:59.999999Z"', '"1900-02-29T00:00:00Z"', '"2000-02-29T00:00:00Z"',
  '"Wed, 01 May 2024 10:00:00 GMT"', '"2024-05-01T10:00:00.123+02:00"', '"yesterday"', '""', '"-"', 'null', 'true', 'false', '[1]', '{}', '{"a":1}', '"\\u0032024-05-01T10:00:00Z"',
  '"2024-05-01T10:00:00\\u005a"', '"2024\\u002d05-01T10:00:00Z"', '"2024-05-01T10:00:00\\/"', '"\\"2024\\""',
]

/** typed columns (partition:int, offset:bigint, score:double, at:timestamp, tags:json, who:string): every rule of convert() */
const VALUES: Record<string, string[]> = {
  partition: ['0', '-1', '2147483647', '2147483648', '-2147483648', '-2147483649', '3e9', '3.0', '3.5', '1e2', '"7"', '"+7"', '"-7"', '"007"', '" 7"', '"7 "', '""', '"abc"', '"3.0"', '"99999999999"', 'true', 'false', '[7]', '{}', 'null', '-0', '"-0"', '"٣"'],
  offset: ['9007199254740993', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551616', '1e19', '1e21', '1.0', '9007199254740993.0', '"9007199254740993"', '"+9223372036854775807"', '"9223372036854775808"', '"00000000000000000000042"', '"1e3"', '"abc"', 'true', '[1]', 'null', '-0', '1200'],
  score: ['2.5', '-2.5', '1e308', '1e309', '-1e400', '5e-324', '0.1', '0.30000000000000004', '123456789012345678901234567890', '"2.5"', '" 2.5 "', '"0x10"', '".5"', '"5."', '"1e3"', '"Infinity"', '"-Infinity"', '"NaN"', '""', '"abc"', 'true', '[1]', '{}', 'null', '-0', '"-0"', '1E2'],
  at: ['1714557600', '"2024-05-01T10:00:00+02:00"', '"2024-02-30T00:00:00Z"', '"9999-12-31T23:59:59.999999Z"', 'true', '""', 'null', '"x"', '1e20'],
  tags: ['[1,2]', '{"a":1}', '{ "a" : [1, 2.50] }', '"s"', '"with \\"quote\\""', '"tab\\tthere"', '"slash\\/"', '"ünï"', '5', '-5', '5.0', '1e2', '-0', '9007199254740993', 'true', 'false', 'null', '""'],
  who: ['"alice"', '7', '7.0', '1e2', '-0', 'true', 'false', '[1]', '{"a":1}', 'null', '""', '"-"', '"with \\"quote\\" and \\\\ backslash"', '"line\\nbreak"', '"ctl\\u0001"', '"\\u00e9"', '"é"', '"emoji 🙂"', '"\\ud83d\\ude42"', '"\\ud800"'],
}

/** JSON that JSON.parse and DuckDB might read differently, and everything else an ordinary line is not */
const HARD_LINES = [
  '{"ts":1714557600,"level":"info","message":"trailing comma",}', '{"ts":1714557600,"a":[1,2,],"message":"array trailing comma"}', '{"ts":1714557600,"a":NaN}',
  '{"ts":1714557600,"a":Infinity}', '{"ts":1714557600,"a":-inf}', '{"ts":1714557600,"a":nan}', '{"ts":1714557600,"message":"NaN, Infinity and ,] in a string"}',
  '{"ts":1714557600,"message":"a, }"}', '{"ts":1714557600, "level" : "x" ,"message":"spaces"}', ' {"ts":1714557600,"message":"leading space"}', '\t{"ts":1714557600}',
  '{"ts":1714557600} ', '{"ts":1714557600}\t', '{"ts":1714557600}{"ts":1}', '{"ts":1714557600} x', '[{"ts":1714557600}]', '"just a string"', '42', 'null', 'true', '{}',
  '{"ts":1714557600,"ts":1714557601}', '{"ts":1714557600,"level":"a","level":"b"}', '{"ts":1714557600,"message":"a","message":null}', '{"ts":1714557600,"msg":"a","msg":"b"}',
  '{"ts":1714557600,"user":{"ts":"nested","level":"nested"}}', '{"ts":1714557600,"l\\u0065vel":"escaped key"}', '{"ts":1714557600,"level":"x","l\\u0065vel":"y"}',
  '{"t\\u0073":1714557600}', '{"time":null,"ts":1714557600}', '{"time":1714557600,"ts":"bad"}', '{"timestamp":"2024-05-01T10:00:00Z","ts":"bad"}',
  '{"@timestamp":"2024-05-01T10:00:00Z"}', '{"TS":1714557600}', '{"ts":1714557600,"level":null,"severity":"sev"}', '{"ts":1714557600,"severity":"sev"}',
  '{"ts":1714557600,"level":"","severity":"sev"}', '{"ts":1714557600,"level":30}', '{"ts":1714557600,"level":30.0}', '{"ts":1714557600,"level":{"a":1}}',
  '{"ts":1714557600,"message":null,"msg":"from msg"}', '{"ts":1714557600,"message":["a"]}', '{"ts":1714557600,"message":"quote \\" backslash \\\\ slash \\/ tab \\t nl \\n"}',
  '{"ts":1714557600,"message":"\\b\\f\\r"}', '{"ts":1714557600,"message":"raw\ttab"}', '{"ts":1714557600,"message":"\x1f"}', '{"ts":1714557600,"message":"\x7f"}',
  '{"ts":1714557600,"message":"\u2028\u2029"}', '{"ts":1714557600,"message":"ünïcödé 🙂"}', '{"ts":1714557600,"message":"\\ud83d\\ude42"}', '{"ts":1714557600,"message":"\\ud800"}',
  '{"ts":1714557600,"message":"\\u0000"}', '{"ts":1714557600,"message":"\\x41"}', "{'ts':1714557600}", '{"ts":1714557600,"a":01}', '{"ts":1714557600,"a":+1}',
  '{"ts":1714557600,"a":.5}', '{"ts":1714557600,"a":1.}', '{"ts":1714557600,"a":0x10}', '{"ts":1714557600,"a":True}', '{"ts":1714557600,"a":undefined}',
  '{"ts":1714557600 /* comment */}', '{"ts":1714557600} // comment', '{"ts":1714557600,"a":"unterminated}', '{"ts":1714557600', '{', '}', '-', '"-"', '- - -',
  `{"ts":1714557600,"deep":${'['.repeat(5000)}${']'.repeat(5000)}}`, `{"ts":1714557600,"deep":${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}}`,
  '{"ts":1714557600,"level":"-","message":"-","partition":"-","offset":"-","score":"-","at":"-","tags":"-","who":"-"}',
  '{"ts":"-","level":"-","message":"-"}', '{"ts":1714557600,"new_field_1":"a","new_field_2":{"b":[1,2,3]},"zzz":null}',
  '{"ts":1714557600,"partition":1,"partition":2}', '{"ts":1714557600,"offset":"1","offset":2}', '{"ts":1714557600,"partition":2147483648,"offset":1}',
  '{"ts":1714557600,"message":"a \\"ts\\": 1, \\"ts\\": 2"}', '{"ts":1714557600,"kind":"ts","x":"ts"}', '{"ts":1714557600,"@timestamp":"2024-05-01T10:00:00Z"}',
]

export function edgeLines(): string[] {
  const lines = [...TIMES.map((t) => withTs(t)), ...TIMES.map((t) => rec({time: t, msg: '"via time"'})), ...TIMES.map((t) => rec({ts: '1714557600', at: t}))]
  for (const [name, values] of Object.entries(VALUES)) for (const v of values) lines.push(withTs('1714557600', {[name]: v}))
  lines.push(...HARD_LINES)
  return lines
}

/** epoch numbers and ISO strings spread over every magnitude and rounding case (a seeded generator) */
export function randomLines(n: number): string[] {
  let seed = 42
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const mag = [1e9, 5e9, 1e12, 5e12, 1e15, 1e3, 1][i % 7]
    const digits = Math.floor(rnd() * 10)
    const v = (rnd() * mag * (rnd() < 0.1 ? -1 : 1)).toFixed(digits)
    const iso = new Date(Math.floor(rnd() * 2e13) - 6e12).toISOString().replace('Z', `${String(Math.floor(rnd() * 1000)).padStart(3, '0')}${['Z', '+02:00', '-0530', 'Z'][i % 4]}`)
    const ts = i % 3 === 0 ? v : i % 3 === 1 ? `"${iso}"` : `"${v.replace('-', '')}"`
    lines.push(rec({ts, level: '"info"', message: `"n ${i}"`, partition: String(i % 9), offset: String(Math.floor(rnd() * 2 ** 62)), score: (rnd() * 1e6).toFixed(i % 12), at: `"${iso}"`, tags: [`"t${i}"`, String(i), 'true', 'null'][i % 4], who: `"w${i}"`}))
  }
  return lines
}
