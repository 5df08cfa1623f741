import {UsageError} from '../../../errors.js'
import type {GroupPolicy} from '../../../cost/quotas.js'
import type {LoaderClock} from '../loader.js'

/**
 * Object groups of the Write API loader: objects that are parsed and ready wait here for ONE pending stream
 * together. A group closes when it is full (`maxObjects`, `maxBytes`), when nothing else is being read or parsed
 * (nobody else would join soon), or `lingerMs` after its first object joined; a closed group then waits for a
 * CreateWriteStream token: a bucket refilled at `streamsPerHour` (the worker's share of the project's 10,000 an
 * hour), so a worker never creates more streams than that, whatever its rate of objects: above it objects share
 * streams, below it each one commits at once.
 */

// the policies are quota figures, kept with the quotas (the cost model prices them too)
export {BULK_GROUPS, type GroupPolicy, STREAM_GROUPS} from '../../../cost/quotas.js'

function positive(env: NodeJS.ProcessEnv, name: string, example: string): number | undefined {
  const v = env[name]?.trim()
  if (v === undefined || v === '') return undefined
  if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`${name} must be a positive whole number, not "${v}".`, `Set it to, for example, ${example}, or unset it for the default.`)
  return Number(v)
}

/**
 * The group policy with the environment's settings: SENEKA_WRITE_STREAMS_PER_HOUR (this worker's CreateWriteStream
 * budget: the project's 10,000 an hour divided among the workers and shards that run at once),
 * SENEKA_WRITE_GROUP_OBJECTS (objects per stream at most) and SENEKA_WRITE_LOOKUP_INTERVAL_MS (ledger look-ups of a
 * table at least this far apart: latency against billed statements).
 */
export function groupPolicy(base: GroupPolicy, env: NodeJS.ProcessEnv = process.env): GroupPolicy {
  const streamsPerHour = positive(env, 'SENEKA_WRITE_STREAMS_PER_HOUR', '2000 (5 workers in one project)')
  const maxObjects = positive(env, 'SENEKA_WRITE_GROUP_OBJECTS', '100')
  const lookupIntervalMs = positive(env, 'SENEKA_WRITE_LOOKUP_INTERVAL_MS', '1000 (a quarter of the look-ups, about a second more per object)')
  return {...base, ...(streamsPerHour ? {streamsPerHour} : {}), ...(maxObjects ? {maxObjects} : {}), ...(lookupIntervalMs ? {lookupIntervalMs} : {})}
}

interface Pending<M> {
  members: M[]
  bytes: number
  since: number
  timer?: unknown
}

export class StreamGroups<M extends {bytes: number}> {
  private readonly pending = new Map<string, Pending<M>>()
  private tokens: number
  private refilledAt: number
  private readonly burst: number
  /** loads between their start and their joining a group (being looked up or parsed) */
  private busy = 0
  /** groups handed to `write` so far */
  groups = 0

  constructor(
    private readonly policy: GroupPolicy,
    private readonly clock: LoaderClock,
    /** writes one closed group (its members' outcomes are its business) */
    private readonly write: (table: string, members: M[]) => void,
    /**
     * The committed lane (a few streams the worker keeps): a closed group it `fits` needs no stream of its own and
     * no token; while none of its streams is `free` the group stays open and grows (`poke` when one is free).
     */
    private readonly lane?: {fits: (members: readonly M[]) => boolean; free: (table: string) => boolean},
  ) {
    // ten seconds' worth of streams may go at once (at least one)
    this.burst = Math.max(1, Math.floor(policy.streamsPerHour / 360))
    this.tokens = this.burst
    this.refilledAt = clock.now()
  }

  /** A load began (it may join a group later). */
  enter(): void {
    this.busy++
  }

  /** A load that entered leaves: it joins a group (`member`) or ends without one. */
  leave(table?: string, member?: M): void {
    this.busy--
    if (table !== undefined && member !== undefined) {
      let p = this.pending.get(table)
      if (!p) {
        p = {members: [], bytes: 0, since: this.clock.now()}
        this.pending.set(table, p)
      }
      p.members.push(member)
      p.bytes += member.bytes
    }
    for (const t of [...this.pending.keys()]) this.check(t)
  }

  /** A stream of the committed lane is free again: a group waiting for one goes. */
  poke(table: string): void {
    this.check(table)
  }

  /** Takes CreateWriteStream calls from the budget (a group's rejects stream, a group written again). */
  spend(streams: number): void {
    this.refill()
    this.tokens -= streams
  }

  private refill(): void {
    const now = this.clock.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.policy.streamsPerHour) / 3_600_000)
    this.refilledAt = now
  }

  private check(table: string): void {
    const p = this.pending.get(table)
    if (!p || p.members.length === 0) return
    if (p.timer !== undefined) {
      this.clock.clearTimeout(p.timer)
      p.timer = undefined
    }
    // the committed lane saves no stream by waiting: a group goes as soon as one of its streams is free, and grows
    // while none is (the lane's own back-pressure)
    if (this.lane?.fits(p.members)) {
      if (this.lane.free(table)) this.hand(table, p)
      return
    }
    const now = this.clock.now()
    const full = p.members.length >= this.policy.maxObjects || p.bytes >= this.policy.maxBytes
    const closed = full || this.busy === 0 || now - p.since >= this.policy.lingerMs
    if (!closed) {
      p.timer = this.clock.setTimeout(() => this.check(table), p.since + this.policy.lingerMs - now)
      return
    }
    this.refill()
    if (this.tokens < 1) {
      const wait = Math.ceil(((1 - this.tokens) * 3_600_000) / this.policy.streamsPerHour)
      p.timer = this.clock.setTimeout(() => this.check(table), wait)
      return
    }
    this.tokens -= 1
    this.hand(table, p)
  }

  /** A closed group goes to be written. */
  private hand(table: string, p: Pending<M>): void {
    this.pending.delete(table)
    this.groups++
    this.write(table, p.members)
  }

  close(): void {
    for (const p of this.pending.values()) if (p.timer !== undefined) this.clock.clearTimeout(p.timer)
  }
}
