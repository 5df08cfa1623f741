/**
 * Numbers and nouns in human output, one way everywhere: thousands separators ("4,032", never "4032") and the
 * plural only when the count is not one ("1 LIST request", "2 prefixes", "received 1 time", "up to 1 copy").
 */

/** A count with thousands separators: 4032 -> "4,032". Fractions keep up to two decimals. */
export function count(n: number): string {
  return n.toLocaleString('en-US', {maximumFractionDigits: 2})
}

/** The plural of a noun: regular English plus the few irregular words seneka prints. */
export function pluralOf(noun: string): string {
  const irregular: Record<string, string> = {copy: 'copies', entry: 'entries', query: 'queries', policy: 'policies', index: 'indexes'}
  if (noun in irregular) return irregular[noun]
  if (/(s|x|z|ch|sh)$/.test(noun)) return `${noun}es`
  return `${noun}s`
}

/** The noun for n things, without the number: noun(1, 'row') = "row", noun(2, 'row') = "rows". */
export function noun(n: number, singular: string, plural = pluralOf(singular)): string {
  return Math.abs(n) === 1 ? singular : plural
}

/** n and its noun: plural(1, 'request') = "1 request", plural(4032, 'row') = "4,032 rows". */
export function plural(n: number, singular: string, plural_ = pluralOf(singular)): string {
  return `${count(n)} ${noun(n, singular, plural_)}`
}
