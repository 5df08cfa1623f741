import {UsageError} from '../errors.js'

export interface Shard {
  index: number
  count: number
  /** where index and count came from: "--shard", "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT", "JOB_COMPLETION_INDEX/SENEKA_SHARD_COUNT" ... */
  source?: string
}

export function parseShard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim())
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
    throw new UsageError(`--shard "${value}" is not of the form i/n with 0 <= i < n.`, 'For 4 jobs use --shard 0/4, 1/4, 2/4 and 3/4.')
  }
  return {index: Number(m[1]), count: Number(m[2])}
}

/** The environment variables the platforms set on each task of a job (read by resolveShard). */
export const SHARD_ENV = {
  /** Cloud Run Jobs: the task's index (0-based) and the job's task count */
  cloudRunIndex: 'CLOUD_RUN_TASK_INDEX',
  cloudRunCount: 'CLOUD_RUN_TASK_COUNT',
  /** Kubernetes Indexed Jobs (completionMode: Indexed): the index only; the count comes from seneka */
  indexedJobIndex: 'JOB_COMPLETION_INDEX',
  /** the shard count for an Indexed Job (or --shard-count) */
  count: 'SENEKA_SHARD_COUNT',
} as const

function wholeNumber(value: string, name: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`${name} "${value}" is not a whole number.`, 'Set it to a shard index or count such as 0 or 50.')
  return Number(value)
}

function checkIndex(index: number, count: number, indexName: string, countName: string): void {
  if (count < 1) throw new UsageError(`${countName} is ${count}: a shard count must be at least 1.`, 'Set it to the number of tasks (completions) the job runs.')
  if (index >= count) throw new UsageError(`${indexName} is ${index} but ${countName} is ${count}: the index must be below the count.`, 'Set the count to the number of tasks (completions) the job runs.')
}

/**
 * The shard of this run: --shard i/n when given; else the task index a job platform sets, with its count:
 * CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT (Cloud Run Jobs), or JOB_COMPLETION_INDEX (Kubernetes Indexed
 * Jobs) with the count from --shard-count or SENEKA_SHARD_COUNT. Inconsistent values are a usage error in one
 * sentence; nothing set means no sharding. The result says where the shard came from.
 */
export function resolveShard(opts: {flag?: Shard; count?: number; env: Record<string, string | undefined>}): Shard | undefined {
  const get = (name: string) => (opts.env[name]?.trim() ? opts.env[name]!.trim() : undefined)
  const envCount = get(SHARD_ENV.count)
  const countName = opts.count === undefined ? SHARD_ENV.count : '--shard-count'
  const count = opts.count ?? (envCount === undefined ? undefined : wholeNumber(envCount, SHARD_ENV.count))
  if (opts.flag) {
    if (count !== undefined && count !== opts.flag.count) throw new UsageError(`${countName} is ${count} but --shard is ${opts.flag.index}/${opts.flag.count}: the counts differ.`, `Give one of them, or the same count in both.`)
    return {...opts.flag, source: '--shard'}
  }
  const [runIndex, runCount, jobIndex] = [get(SHARD_ENV.cloudRunIndex), get(SHARD_ENV.cloudRunCount), get(SHARD_ENV.indexedJobIndex)]
  if (runIndex !== undefined && jobIndex !== undefined) {
    throw new UsageError(`Both ${SHARD_ENV.cloudRunIndex} and ${SHARD_ENV.indexedJobIndex} are set: seneka cannot tell which is the task index.`, 'Give --shard i/n to choose.')
  }
  if (runIndex !== undefined || runCount !== undefined) {
    if (runIndex === undefined || runCount === undefined) {
      const [set, unset] = runIndex === undefined ? [SHARD_ENV.cloudRunCount, SHARD_ENV.cloudRunIndex] : [SHARD_ENV.cloudRunIndex, SHARD_ENV.cloudRunCount]
      throw new UsageError(`${set} is set but ${unset} is not: a Cloud Run Job sets both.`, 'Unset it, or give --shard i/n.')
    }
    const index = wholeNumber(runIndex, SHARD_ENV.cloudRunIndex)
    const n = wholeNumber(runCount, SHARD_ENV.cloudRunCount)
    if (count !== undefined && count !== n) throw new UsageError(`${countName} is ${count} but ${SHARD_ENV.cloudRunCount} is ${n}: the counts differ.`, `Leave ${countName} out on Cloud Run: the job's task count is the shard count.`)
    checkIndex(index, n, SHARD_ENV.cloudRunIndex, SHARD_ENV.cloudRunCount)
    return {index, count: n, source: `${SHARD_ENV.cloudRunIndex}/${SHARD_ENV.cloudRunCount}`}
  }
  if (jobIndex !== undefined) {
    const index = wholeNumber(jobIndex, SHARD_ENV.indexedJobIndex)
    if (count === undefined) {
      throw new UsageError(`${SHARD_ENV.indexedJobIndex} is set (a Kubernetes Indexed Job) but the shard count is not.`, `Set ${SHARD_ENV.count} (or --shard-count) to the Job's completions.`)
    }
    checkIndex(index, count, SHARD_ENV.indexedJobIndex, countName)
    return {index, count, source: `${SHARD_ENV.indexedJobIndex}/${countName}`}
  }
  if (count !== undefined) throw new UsageError(`${countName} is set but no shard index is: seneka reads it from ${SHARD_ENV.indexedJobIndex} (a Kubernetes Indexed Job).`, `Give --shard i/n instead, or unset ${countName}.`)
  return undefined
}

/** FNV-1a, 32 bits: stable across machines and Node versions. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Whether an object belongs to a shard: a hash of its URI, so every object lands in exactly one shard. */
export function inShard(uri: string, shard: Shard | undefined): boolean {
  return !shard || fnv1a(uri) % shard.count === shard.index
}
