import {readFileSync} from 'node:fs'
import {z} from 'zod'
import {UserError} from './errors.js'

/**
 * The one config file format (JSON). Every key is optional; flags win over the file, the file over defaults.
 */
export const ConfigSchema = z
  .object({
    warehouse: z.string().optional(),
    s3Endpoint: z.url().optional(),
    region: z.string().optional(),
    concurrency: z.number().int().min(1).max(256).optional(),
    /** per-command sections are validated by the command that reads them */
    backfill: z.record(z.string(), z.unknown()).optional(),
    reconcile: z.record(z.string(), z.unknown()).optional(),
    latency: z.record(z.string(), z.unknown()).optional(),
    dedupe: z.record(z.string(), z.unknown()).optional(),
    stream: z.record(z.string(), z.unknown()).optional(),
    cutover: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()

export type SenekaConfig = z.infer<typeof ConfigSchema>

export function loadConfig(file: string | undefined): SenekaConfig {
  if (!file) return {}
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UserError(`Cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, {
      suggestion: 'Check the --config path.',
      cause: err,
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new UserError(`The config file ${file} is not valid JSON: ${(err as Error).message}.`, {cause: err})
  }
  const parsed = ConfigSchema.safeParse(json)
  if (!parsed.success) {
    throw new UserError(`The config file ${file} is invalid at ${issueWhere(parsed.error)}.`, {
      suggestion: 'See docs/configuration.md for the keys seneka accepts.',
    })
  }
  return parsed.data
}

/** "key.path: message" of a schema error's first issue, under an optional top-level key. */
export function issueWhere(error: z.ZodError, under?: string): string {
  const issue = error.issues[0]
  const keys = [...(under ? [under] : []), ...issue.path.map(String)]
  // a record key the key schema refused: say which key and why (the schema's own message), not "Invalid key in record"
  const inner = issue.code === 'invalid_key' ? (issue as {issues?: Array<{message: string}>}).issues?.[0]?.message : undefined
  const message = inner ? `"${String(issue.path.at(-1))}" is not a valid name: ${inner}` : issue.message
  return `${keys.length > 0 ? keys.join('.') : '(top level)'}: ${message}`
}

/** The config-file section of each command that reads one (cutover has its own schema: lib/cutover/config.ts). */
export const COMMAND_SECTIONS: Record<string, 'backfill' | 'reconcile' | 'latency' | 'dedupe' | 'stream'> = {
  backfill: 'backfill',
  reconcile: 'reconcile',
  'latency-report': 'latency',
  dedupe: 'dedupe',
  stream: 'stream',
}

/** What a command-section key must look like: one of the command's flags. */
export interface FlagSpec {
  name: string
  kind: 'boolean' | 'option'
  multiple?: boolean
  allowNo?: boolean
}

/** flags a section may not set: they say which file to read or how to print, not what to do */
const NOT_IN_SECTIONS = new Set(['config', 'json', 'help', 'version'])

/**
 * The command-line tokens that a command's config section supplies (`{"backfill": {"format": "elb",
 * "max-rejects": 10, "include": ["*.gz"], "dry-run": true}}` -> `--format=elb --max-rejects=10 ...`): keys are
 * the command's flag names, values a string or number (an array of them for a repeatable flag) or a boolean
 * for a switch. A flag given on the command line (or by its environment variable) wins: its key is left out.
 * The tokens go through the command's own flag parser, so the values are checked exactly as on the command line.
 * An unknown key or a value of the wrong shape is a UserError naming the key path.
 */
export function sectionArgv(opts: {
  file: string
  section: string
  values: Record<string, unknown> | undefined
  flags: FlagSpec[]
  given: ReadonlySet<string>
  command: string
}): string[] {
  const {file, section, values} = opts
  if (!values) return []
  const byName = new Map(opts.flags.filter((f) => !NOT_IN_SECTIONS.has(f.name)).map((f) => [f.name, f]))
  const invalid = (key: string, why: string, suggestion: string): UserError =>
    new UserError(`The config file ${file} is invalid at ${section}.${key}: ${why}.`, {suggestion})
  const argv: string[] = []
  for (const [key, value] of Object.entries(values)) {
    const flag = byName.get(key)
    if (!flag) {
      const near = [...byName.keys()].find((n) => n.replaceAll('-', '').toLowerCase() === key.replaceAll(/[-_]/g, '').toLowerCase())
      throw invalid(
        key,
        `${opts.command} has no --${key} flag`,
        near ? `Did you mean "${near}"? The keys of a section are the command's flag names.` : `The keys of a section are the command's flag names (${opts.command} --help).`,
      )
    }
    if (opts.given.has(key)) continue
    if (flag.kind === 'boolean') {
      if (typeof value !== 'boolean') throw invalid(key, `expected true or false, got ${JSON.stringify(value)}`, `Write "${key}": true.`)
      if (value) argv.push(`--${key}`)
      else if (flag.allowNo) argv.push(`--no-${key}`)
      continue
    }
    const scalar = (v: unknown): string => {
      if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return String(v)
      throw invalid(key, `expected a string or a number, got ${JSON.stringify(v)}`, `Write the value as on the command line, e.g. "${key}": "..."`)
    }
    if (Array.isArray(value)) {
      if (!flag.multiple) throw invalid(key, 'expected one value, got a list', `--${key} takes one value.`)
      for (const v of value) argv.push(`--${key}=${scalar(v)}`)
    } else argv.push(`--${key}=${scalar(value)}`)
  }
  return argv
}
