import type {Column, ColumnType} from '../../formats/types.js'
import {DEFAULT_TIME_FIELDS} from '../../formats/jsonl.js'

/**
 * The raw path of JSON lines into DuckDB (raw.ts has the file and the line reader): each line one VARCHAR, read
 * as JSON by DuckDB (`json_extract` of the fields the format reads, one parse per line) and typed in SQL exactly as
 * the JSON-lines parser (formats/jsonl.ts) types it. A line SQL cannot prove it handles the same way goes to the
 * parser (the raw path's fallback), so rejects and unusual values stay the parser's:
 * - JSON that JSON.parse might read differently or refuse: DuckDB's reader (yyjson) also takes trailing commas and
 *   NaN/Infinity (a line with `,]`, `,}` or a value starting `nan`/`inf` anywhere, strings included, goes to the
 *   parser); a duplicate key is the first to DuckDB, the last to JSON.parse (a line naming one of the fields read
 *   twice goes to the parser); any `\u` escape (a key written with escapes, a lone surrogate, an escaped control
 *   character) goes to the parser; a line that is not an object (or not valid JSON, the parser's reject) too.
 * - Values: strings, `null` and missing fields in SQL; a number or `true`/`false` where the parser would print it
 *   as JSON (JSON.stringify) only when DuckDB writes the same text (integers, booleans); objects and arrays there
 *   go to the parser.
 * - Time fields (toMicros): epoch numbers (s, ms, µs by magnitude; Math.round's half-up rounding) and digit
 *   strings up to 2^53 µs; ISO strings with `Z` or an offset, seconds 00-59, years from 0001, a day that exists
 *   (DuckDB's date cast); anything else (lowercase `t`/`z`, second 60, Date.parse's other forms) to the parser.
 * - Typed columns (int, bigint, double, timestamp) as the parser converts them: JSON integers and strings of
 *   digits in range; doubles from JSON numbers and plain decimal strings, finite; other forms to the parser.
 */

/** whether DuckDB can read a field of this name with a JSON path (`$."name"`), the same key JSON.parse reads */
const PATH_KEY = /^[^"\\/\x00-\x1f\x7f]+$/

/** The format options the raw path of JSON lines understands. */
export interface JsonlRawOptions {
  timeField?: string
}

/**
 * Whether DuckDB can parse this JSON-lines format: every field it reads has a plain name, and none is one a
 * JavaScript object inherits (a record without `constructor` still has one for the parser).
 */
export function jsonlRawFormat(columns: readonly Column[], options: JsonlRawOptions | undefined): boolean {
  return keysOf(columns, options).every((k) => PATH_KEY.test(k) && !(k in Object.prototype))
}

function keysOf(columns: readonly Column[], options: JsonlRawOptions | undefined): string[] {
  const time = options?.timeField ? [options.timeField] : DEFAULT_TIME_FIELDS
  const extra = columns.slice(3, -1).map((c) => c.name)
  return [...new Set([...time, 'level', 'severity', 'message', 'msg', ...extra])]
}

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`

/** the ISO-8601 forms with a zone that SQL computes (toMicros' ISO_ZONED, narrowed) */
const ISO = String.raw`\d{4}-\d\d-\d\d[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)`
/** the common case, read by DuckDB's timestamp cast as it is */
const ISO_Z6 = String.raw`\d{4}-\d\d-\d\d[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z`
const SAFE = '9007199254740991'


/** Math.round (half up) of a DOUBLE `x`, as a BIGINT when it is a safe integer, else NULL */
function jsRound(x: string): string {
  return `(CASE WHEN abs(${x}) <= ${SAFE} THEN CAST(floor(${x}) + CASE WHEN ${x} - floor(${x}) >= 0.5 THEN 1 ELSE 0 END AS BIGINT) END)`
}

const dbl = (n: string): string => `CAST(${n} AS DOUBLE)`

/** toMicros of an epoch number (DOUBLE `v`), NULL where SQL does not give the parser's answer */
function epochMicros(v: string): string {
  return `(CASE WHEN NOT isfinite(${v}) THEN NULL WHEN abs(${v}) < ${dbl('1e11')} THEN ${jsRound(`(${v} * ${dbl('1e6')})`)} WHEN abs(${v}) < ${dbl('1e14')} THEN ${jsRound(`(${v} * ${dbl('1e3')})`)} WHEN abs(${v}) <= ${SAFE} AND ${v} = floor(${v}) THEN CAST(${v} AS BIGINT) END)`
}

/** toMicros of an ISO string `s` with a zone (ISO), the fraction cut to microseconds, the offset subtracted */
function isoMicros(s: string): string {
  const frac = `CAST(rpad(left(regexp_extract(${s}, '^.{19}\\.(\\d+)', 1), 6), 6, '0') AS BIGINT)`
  const zone = `regexp_extract(${s}, '([+-])(\\d\\d):?(\\d\\d)$', ['sign', 'h', 'm'])`
  const offset = `(CASE WHEN ${zone}.sign = '-' THEN -1 ELSE 1 END * (CAST(${zone}.h AS BIGINT) * 60 + CAST(${zone}.m AS BIGINT)) * 60000000)`
  return `(epoch_us(TRY_CAST(left(${s}, 19) AS TIMESTAMP)) + CASE WHEN substr(${s}, 20, 1) = '.' THEN ${frac} ELSE 0 END - CASE WHEN ends_with(${s}, 'Z') THEN 0 ELSE ${offset} END)`
}

const NUMBER = String.raw`-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`

/**
 * One field of the format read in SQL, by layer over the previous one's columns: `x` its JSON text as DuckDB writes
 * it (NULL when missing), `s` its string value (NULL when it is not a string), `d` its number (NULL when it is not
 * one); then `v` the column's value and `ok` whether `v` is the parser's value (NULL or false: the parser decides).
 * Regular expressions only where no cheaper test decides (CASE evaluates a branch for its rows only).
 */
function field(n: number, type: ColumnType | 'text'): {layer4: string[]; value: string; ok: string} {
  const x = `x${n}`
  const s = `s${n}`
  const d = `d${n}`
  const isNull = `(${x} IS NULL OR ${x} = 'null')`
  // JSON.stringify(v) of a non-string where DuckDB writes the same text: safe integers, booleans
  const asJson = `(${x} IN ('true', 'false') OR regexp_full_match(${x}, '-?[1-9]\\d{0,14}|0'))`
  // DuckDB writes a JSON number with a fraction or an exponent unless it is an integer
  const integer = `NOT (contains(${x}, '.') OR contains(${x}, 'e') OR contains(${x}, 'E'))`
  const v = `v${n}`
  switch (type) {
    case 'text':
    case 'string':
      return {layer4: [`CASE WHEN ${isNull} THEN NULL WHEN ${s} IS NOT NULL THEN ${s} ELSE ${x} END AS ${v}`], value: v, ok: `CASE WHEN ${isNull} OR ${s} IS NOT NULL THEN true ELSE ${asJson} END`}
    case 'json':
      // JSON.stringify of a string without escapes is its JSON text; other strings, objects and arrays: the parser
      return {layer4: [`CASE WHEN ${isNull} THEN NULL ELSE ${x} END AS ${v}`], value: v, ok: `CASE WHEN ${isNull} THEN true WHEN ${s} IS NOT NULL THEN NOT contains(${x}, '\\') ELSE ${asJson} END`}
    case 'int':
    case 'bigint': {
      const sql = type === 'int' ? 'INTEGER' : 'BIGINT'
      // a JSON integer or a string of digits (JSON.parse's Number() of it, exact here)
      const value = `CASE WHEN ${s} IS NOT NULL THEN CASE WHEN regexp_full_match(${s}, '[+-]?\\d{1,19}') THEN TRY_CAST(${s} AS ${sql}) END WHEN ${d} IS NOT NULL AND ${integer} THEN TRY_CAST(${x} AS ${sql}) END`
      return {layer4: [`${value} AS ${v}`], value: v, ok: `(${isNull} OR ${v} IS NOT NULL)`}
    }
    case 'double': {
      const value = `CASE WHEN ${s} IS NOT NULL THEN CASE WHEN regexp_full_match(${s}, '${NUMBER}') THEN TRY_CAST(${s} AS DOUBLE) END ELSE ${d} END`
      return {layer4: [`${value} AS ${v}`], value: v, ok: `(${isNull} OR isfinite(${v}))`}
    }
    case 'timestamp': {
      const fromString = `CASE WHEN regexp_full_match(${s}, '${ISO_Z6}') THEN CASE WHEN ${s} >= '0001' THEN epoch_us(TRY_CAST(${s} AS TIMESTAMP)) END WHEN regexp_full_match(${s}, '\\d+(?:\\.\\d+)?') THEN ${epochMicros(`TRY_CAST(${s} AS DOUBLE)`)} WHEN ${s} >= '0001' AND regexp_full_match(${s}, '${ISO}') THEN ${isoMicros(s)} END`
      const value = `CASE WHEN ${s} IS NOT NULL THEN ${fromString} WHEN ${d} IS NOT NULL THEN ${epochMicros(d)} END`
      return {layer4: [`${value} AS ${v}`], value: `make_timestamp(${v})`, ok: `(${isNull} OR ${v} IS NOT NULL)`}
    }
  }
}

/**
 * How the JSON-lines format's columns come from one raw file read by rawRead (columns `line`, `l`): `from(src)` is
 * the relation of `line`, the values `select` names and `seneka_ord` (true when SQL gives the parser's row; the
 * line itself is the record column, `holder`, which keeps a line's text for the parser otherwise).
 */
export function jsonlSelect(columns: readonly Column[], options: JsonlRawOptions | undefined, quoteIdent: (s: string) => string): {select: string; from: (src: string) => string; holder: string} {
  const keys = keysOf(columns, options)
  const at = (k: string): string => `j[${keys.indexOf(k) + 1}]`
  const time = options?.timeField ? [options.timeField] : DEFAULT_TIME_FIELDS
  const paths = keys.map((k) => sqlString(`$."${k}"`)).join(', ')
  // a line JSON.parse reads as DuckDB does: an object, none of DuckDB's extensions (trailing commas, NaN and
  // Infinity), no \u escape (it could hide a key), no field read here named twice (a key then `:` again after it)
  const twice = keys.map((k) => {
    const q = `"${k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\s*:`
    return `${q}.*${q}`
  })
  const unusual = sqlString(`(?is),\\s*[\\]}]|[:,\\[]\\s*[+-]?(?:nan|inf)|${twice.join('|')}`)
  const json = `CASE WHEN CASE WHEN starts_with(l, '{') THEN true ELSE starts_with(ltrim(l, ' ' || chr(9)), '{') END AND NOT contains(l, '\\u') AND NOT regexp_matches(l, ${unusual}) THEN try(json_extract(l, [${paths}])) END`
  const pick = (a: string, b: string): string => `CASE WHEN ${at(a)} IS NULL OR ${at(a)} = 'null' THEN ${at(b)} ELSE ${at(a)} END`
  const types: Array<ColumnType | 'text'> = ['timestamp', 'text', 'text', ...columns.slice(3, -1).map((c) => c.type)]
  const texts = [`coalesce(${time.map(at).join(', ')})`, pick('level', 'severity'), pick('message', 'msg'), ...columns.slice(3, -1).map((c) => at(c.name))]
  const fields = types.map((t, n) => field(n, t))
  const layer2 = ['line', 'l', 'j IS NOT NULL AS seneka_json', ...texts.map((x, n) => `${x} AS x${n}`)]
  const layer3 = [
    '*',
    ...texts.map((_, n) => `CASE WHEN starts_with(x${n}, '"') THEN CASE WHEN contains(x${n}, '\\') THEN json_extract_string(x${n}, '$') ELSE substr(x${n}, 2, length(x${n}) - 2) END END AS s${n}`),
    // a JSON number: any value DuckDB writes that is not a string, an object, an array, true, false or null
    ...types.flatMap((t, n) => (t === 'text' || t === 'string' || t === 'json' ? [] : [`CASE WHEN x${n} IS NULL OR x${n} IN ('null', 'true', 'false') OR starts_with(x${n}, '"') OR starts_with(x${n}, '{') OR starts_with(x${n}, '[') THEN NULL ELSE TRY_CAST(x${n} AS DOUBLE) END AS d${n}`])),
  ]
  const layer4 = ['*', ...fields.flatMap((f) => f.layer4)]
  // the time field must be there and not null (else the parser rejects the line)
  const ordinary = ['seneka_json', 'x0 IS NOT NULL', "x0 <> 'null'", ...fields.map((f) => f.ok)].join(' AND ')
  const exprs = [...fields.map((f) => f.value), 'l']
  const select = columns.map((c, i) => `${exprs[i]} AS ${quoteIdent(c.name)}`).join(', ')
  const from = (src: string): string =>
    `(SELECT *, coalesce(${ordinary}, false) AS seneka_ord FROM (SELECT ${layer4.join(', ')} FROM (SELECT ${layer3.join(', ')} FROM (SELECT ${layer2.join(', ')} FROM (SELECT line, l, CAST(${json} AS VARCHAR[]) AS j FROM ${src} WHERE l IS NOT NULL)))))`
  return {select, from, holder: columns.at(-1)!.name}
}
