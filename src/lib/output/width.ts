/**
 * How wide the human report may be: the terminal's columns when stdout is a terminal, unlimited otherwise (a
 * pipe or a log file keeps every character). The command sets it once (base-command); renderers fit long cells
 * (object URIs) into it by cutting their middle, so a line never wraps on the terminal and both ends of a path
 * (bucket and file name) stay readable.
 */
let width: number | undefined

export function setOutputWidth(columns: number | undefined): void {
  width = columns && columns > 0 ? Math.max(columns, 40) : undefined
}

export function outputWidth(): number | undefined {
  return width
}

/** The text cut in its middle to at most `max` characters ("s3://bucket/AWSLogs/…/x.log.gz"). */
export function fitMiddle(text: string, max: number): string {
  if (text.length <= max) return text
  if (max <= 1) return '…'.slice(0, max)
  const tail = Math.floor((max - 1) / 2)
  return `${text.slice(0, max - 1 - tail)}…${text.slice(text.length - tail)}`
}

/**
 * A line "PREFIX + LONG + SUFFIX" fitted to the output width by cutting LONG (a URI) in its middle, keeping at
 * least 24 of its characters; the whole line when there is no width.
 */
export function fitLine(prefix: string, long: string, suffix: string): string {
  const max = outputWidth()
  if (max === undefined) return `${prefix}${long}${suffix}`
  return `${prefix}${fitMiddle(long, Math.max(24, max - prefix.length - suffix.length))}${suffix}`
}
