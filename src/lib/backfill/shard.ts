import {UsageError} from '../errors.js'

export interface Shard {
  index: number
  count: number
}

export function parseShard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim())
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
    throw new UsageError(`--shard "${value}" is not of the form i/n with 0 <= i < n.`, 'For 4 jobs use --shard 0/4, 1/4, 2/4 and 3/4.')
  }
  return {index: Number(m[1]), count: Number(m[2])}
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
