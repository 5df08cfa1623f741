import {GetObjectCommand, PutObjectCommand, type S3Client} from '@aws-sdk/client-s3'
import {randomUUID} from 'node:crypto'
import {closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync} from 'node:fs'
import path from 'node:path'
import {UserError} from '../errors.js'
import {ExitCode} from '../exit-codes.js'
import {explainS3Error} from '../store/s3.js'
import type {GateResult} from './gates.js'

/** The GCS -> Pub/Sub leg as applied: what seneka created (rollback removes exactly that). */
export interface PubsubCreated {
  notification?: {bucket: string; id: string; topic: string}
  topics?: string[]
  subscriptions?: string[]
}

export interface PubsubApplied {
  gcsBucket: string
  topic: string
  spec: unknown
  created?: PubsubCreated
}

/**
 * The cutover state document (format "seneka-cutover-state/1", documented in docs/cutover.md): one JSON
 * object per bucket with its mode, wave, since when and by whom, the last gate results, the configuration
 * snapshots taken before seneka changed anything, and what seneka applied. The hourly batch job reads it (or
 * `seneka cutover status --json`) and skips buckets whose mode is "event-driven".
 *
 * Every write is conditional: a local file is replaced by compare-and-swap on `version` under a lock file
 * and an atomic rename; an S3 object is written with If-Match (ETag) / If-None-Match: *. On top of that,
 * apply and rollback hold a lease (`lock`) in the document for their whole run, so a second operator gets
 * ExitCode.CONFLICT instead of interleaving changes.
 */

export const STATE_FORMAT = 'seneka-cutover-state/1'
export const MODES = ['batch', 'shadow', 'event-driven'] as const
export type Mode = (typeof MODES)[number]

export interface GateRecord {
  checkedAt: string
  passed: boolean
  forced: boolean
  reason?: string
  window: {since: string; until: string}
  results: GateResult[]
}

export interface HistoryEntry {
  at: string
  by: string
  operation: 'apply' | 'rollback'
  from: Mode
  to: Mode
  forced?: boolean
  reason?: string
}

export interface BucketState {
  mode: Mode
  wave: number
  since: string
  by: string
  gates?: GateRecord
  /** configuration as it was before seneka first changed it, captured verbatim */
  snapshots?: {
    takenAt: string
    /** JSON.stringify of the bucket's NotificationConfiguration (no response metadata) */
    notification: string
    queueUrl: string
    /** the queue's Policy attribute, null when it had none */
    queuePolicy: string | null
  }
  /** what seneka put in place (so rollback can tell whether someone changed it since) */
  applied?: {
    notification?: string
    queuePolicySid?: string
    stream?: {queueUrl: string; table: string; format?: string}
    transferJob?: {name: string; projectId: string}
    /** the GCS -> Pub/Sub leg: `created` lists exactly the resources seneka created (rollback deletes only those) */
    pubsub?: PubsubApplied
  }
  history: HistoryEntry[]
}

export interface StateLock {
  id: string
  by: string
  at: string
  operation: string
}

export interface CutoverState {
  format: typeof STATE_FORMAT
  version: number
  updatedAt: string | null
  updatedBy: string | null
  lock?: StateLock
  buckets: Record<string, BucketState>
}

export function emptyState(): CutoverState {
  return {format: STATE_FORMAT, version: 0, updatedAt: null, updatedBy: null, buckets: {}}
}

export class ConflictError extends UserError {
  constructor(message: string, suggestion?: string) {
    super(message, {suggestion, exitCode: ExitCode.CONFLICT})
    this.name = 'ConflictError'
  }
}

export interface StoredState {
  state: CutoverState
  /** opaque precondition token: the version (local) or ETag (S3); undefined when the document does not exist */
  token: string | undefined
}

export interface StateStore {
  readonly location: string
  read(): Promise<StoredState>
  /** writes `state` if the stored document still matches `token`; returns the new token; ConflictError otherwise */
  write(state: CutoverState, token: string | undefined): Promise<string>
}

function parseState(text: string, location: string): CutoverState {
  let doc: CutoverState
  try {
    doc = JSON.parse(text) as CutoverState
  } catch (err) {
    throw new UserError(`The cutover state ${location} is not valid JSON: ${(err as Error).message}.`, {suggestion: 'Restore it from its previous version; never edit it while an apply runs.'})
  }
  if (doc?.format !== STATE_FORMAT || typeof doc.version !== 'number' || typeof doc.buckets !== 'object') {
    throw new UserError(`The cutover state ${location} is not a ${STATE_FORMAT} document.`, {suggestion: 'Check the cutover.state path in the config file.'})
  }
  return doc
}

const serialize = (state: CutoverState) => JSON.stringify(state, null, 2) + '\n'

/** Local file: compare-and-swap on `version`, under `<file>.lock`, replaced by an atomic rename. */
export class LocalStateStore implements StateStore {
  constructor(
    readonly file: string,
    /** a lock file older than this is left over by a killed process */
    private readonly staleLockMs = 30_000,
  ) {}

  get location(): string {
    return this.file
  }

  async read(): Promise<StoredState> {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {state: emptyState(), token: undefined}
      throw new UserError(`Cannot read the cutover state ${this.file}: ${(err as NodeJS.ErrnoException).code}.`, {cause: err})
    }
    const state = parseState(text, this.file)
    return {state, token: String(state.version)}
  }

  private cannotWrite(err: unknown): UserError {
    return new UserError(`Cannot write the cutover state ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, {
      suggestion: 'Check that the folder of cutover.state (or --state) exists and is writable.',
      cause: err,
    })
  }

  private acquire(): () => void {
    const lockFile = `${this.file}.lock`
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockFile, 'wx')
        writeSync(fd, JSON.stringify({pid: process.pid, at: new Date().toISOString()}))
        closeSync(fd)
        return () => unlinkSync(lockFile)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.cannotWrite(err)
        let age = 0
        try {
          age = Date.now() - statSync(lockFile).mtimeMs
        } catch {
          continue
        }
        if (age > this.staleLockMs) {
          try {
            unlinkSync(lockFile)
          } catch {}
          continue
        }
        throw new ConflictError(`The cutover state ${this.file} is being written by another seneka process.`, 'Wait for the other operator\'s command to finish, then run yours again.')
      }
    }
    throw new ConflictError(`Could not lock the cutover state ${this.file}.`, 'Run the command again.')
  }

  async write(state: CutoverState, token: string | undefined): Promise<string> {
    const release = this.acquire()
    try {
      const current = await this.read()
      if (current.token !== token) {
        throw new ConflictError(
          `The cutover state ${this.file} changed while this command ran (version ${token ?? 'none'} expected, ${current.token ?? 'none'} found).`,
          'Another operator applied a change: run `seneka cutover status`, then plan again.',
        )
      }
      const next = {...state, version: (current.state.version ?? 0) + 1}
      const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`)
      try {
        const fd = openSync(tmp, 'w')
        try {
          writeSync(fd, serialize(next))
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        renameSync(tmp, this.file)
      } catch (err) {
        throw this.cannotWrite(err)
      }
      state.version = next.version
      return String(next.version)
    } finally {
      release()
    }
  }
}

/** S3 object: conditional PutObject (If-Match on the ETag read, If-None-Match: * when creating). */
export class S3StateStore implements StateStore {
  constructor(
    readonly bucket: string,
    readonly key: string,
    private readonly client: S3Client,
  ) {}

  get location(): string {
    return `s3://${this.bucket}/${this.key}`
  }

  async read(): Promise<StoredState> {
    try {
      const res = await this.client.send(new GetObjectCommand({Bucket: this.bucket, Key: this.key}))
      const text = (await res.Body?.transformToString('utf8')) ?? ''
      return {state: parseState(text, this.location), token: res.ETag}
    } catch (err) {
      const e = err as {name?: string; $metadata?: {httpStatusCode?: number}}
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return {state: emptyState(), token: undefined}
      throw explainS3Error(err, this.bucket, this.key)
    }
  }

  async write(state: CutoverState, token: string | undefined): Promise<string> {
    const next = {...state, version: state.version + 1}
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key,
          Body: serialize(next),
          ContentType: 'application/json',
          ...(token === undefined ? {IfNoneMatch: '*'} : {IfMatch: token}),
        }),
      )
      state.version = next.version
      return res.ETag ?? ''
    } catch (err) {
      const e = err as {name?: string; $metadata?: {httpStatusCode?: number}}
      if (e.$metadata?.httpStatusCode === 412 || e.$metadata?.httpStatusCode === 409 || e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict') {
        throw new ConflictError(`The cutover state ${this.location} changed while this command ran.`, 'Another operator applied a change: run `seneka cutover status`, then plan again.')
      }
      throw explainS3Error(err, this.bucket, this.key)
    }
  }
}

export function openStateStore(location: string, s3: () => S3Client): StateStore {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location)
  if (m) return new S3StateStore(m[1], m[2], s3())
  if (/^gs:\/\//.test(location)) {
    throw new UserError('A gs:// cutover state is not supported yet.', {suggestion: 'Keep the state in an s3:// object or a local file (cutover.state).'})
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) throw new UserError(`Unsupported cutover state location "${location}".`, {suggestion: 'Use a local path or s3://bucket/key.'})
  return new LocalStateStore(path.resolve(location))
}

/**
 * Runs `fn` holding the state's lease: the lock is written conditionally first (so of two operators starting
 * at once, exactly one wins), `save` writes intermediate progress, and the lease is released with the final write.
 */
export async function withLease<T>(
  store: StateStore,
  opts: {actor: string; operation: string; timeoutMs: number; now: () => Date; expectVersion?: number},
  fn: (state: CutoverState, save: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const {state, token: t0} = await store.read()
  const now = opts.now()
  if (state.lock && now.getTime() - Date.parse(state.lock.at) < opts.timeoutMs) {
    throw new ConflictError(
      `${state.lock.by} is running "${state.lock.operation}" on the cutover state ${store.location} (since ${state.lock.at}).`,
      `Wait for it to finish; a lease older than the lock timeout is taken over automatically.`,
    )
  }
  if (opts.expectVersion !== undefined && state.version !== opts.expectVersion) {
    throw new ConflictError(
      `The cutover state ${store.location} is at version ${state.version}, but the plan was made at version ${opts.expectVersion}.`,
      'Someone applied a change since the plan was made: run `seneka cutover plan` again and review it.',
    )
  }
  const lock: StateLock = {id: randomUUID(), by: opts.actor, at: now.toISOString(), operation: opts.operation}
  state.lock = lock
  let token = await store.write(state, t0)
  const stamp = () => {
    state.updatedAt = opts.now().toISOString()
    state.updatedBy = opts.actor
  }
  const save = async () => {
    stamp()
    token = await store.write(state, token)
  }
  let out: T
  try {
    out = await fn(state, save)
  } catch (err) {
    delete state.lock
    stamp()
    // release the lease, keeping what was recorded; the original error is what the operator needs to see
    await store.write(state, token).catch(() => undefined)
    throw err
  }
  delete state.lock
  stamp()
  token = await store.write(state, token)
  return out
}
