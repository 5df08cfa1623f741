import type {PoisonObject} from '../types.js'
import {MAX_SAMPLES, type WorkerContext} from './types.js'

/** Deliveries after which a failing object is poison, when neither --max-deliveries nor the queue says. */
export const DEFAULT_MAX_DELIVERIES = 5

const TRACKED_MAX = 100_000

/**
 * Counts the deliveries of messages that fail (a load failed, or they cannot be parsed), and decides when
 * one is poison: after `limit` deliveries it is recorded (counter, summary sample, hook) once and left to
 * the dead-letter queue or topic. Redeliveries of a message already seen failing are not new work: they
 * never keep --stop-when-idle from stopping.
 */
export class DeliveryTracker {
  /** message id -> deliveries seen by this worker, for messages that failed at least once */
  private readonly failing = new Map<string, number>()
  private readonly recorded = new Set<string>()

  constructor(
    private readonly ctx: WorkerContext,
    readonly limit: number,
    readonly deadLetter: string | null,
  ) {}

  /** whether this message failed here before (its redelivery is not activity) */
  isRedeliveryOfFailure(id: string): boolean {
    return this.failing.has(id)
  }

  /** deliveries of a message: what the service says, else what this worker counted */
  deliveries(id: string, reported: number | null): number {
    const local = (this.failing.get(id) ?? 0) + 1
    return reported !== null && reported > 0 ? Math.max(reported, local) : local
  }

  isPoison(id: string): boolean {
    return this.recorded.has(id)
  }

  /** Records a failed delivery; returns true when the message is poison (reached the limit). */
  failed(id: string, deliveries: number, uri: string | null, reason: string, deadLetter: string | null = this.deadLetter): boolean {
    this.failing.delete(id)
    this.failing.set(id, deliveries)
    if (this.failing.size > TRACKED_MAX) this.failing.delete(this.failing.keys().next().value as string)
    if (deliveries < this.limit) return false
    if (!this.recorded.has(id)) {
      this.recorded.add(id)
      const p: PoisonObject = {uri, messageId: id, deliveries, reason, deadLetter}
      this.ctx.counters.poison++
      if (this.ctx.result.poisonObjects.length < MAX_SAMPLES) this.ctx.result.poisonObjects.push(p)
      this.ctx.hooks.onPoison?.(p)
    }
    return true
  }

  succeeded(id: string): void {
    this.failing.delete(id)
  }
}
