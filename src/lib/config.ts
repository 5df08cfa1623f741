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
  return `${keys.length > 0 ? keys.join('.') : '(top level)'}: ${issue.message}`
}
