import path from 'node:path'
import {fileURLToPath} from 'node:url'
import pLimit from 'p-limit'
import {errorMessage} from '../errors.js'
import {newCounters, scanLines} from '../loader/read-object.js'
import {openStore, parseLocation, type ObjectStore, type StoreFactories, type StoreOptions} from '../store/index.js'
import type {SourceInfo} from './compare.js'


export interface VerifyOptions {
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  concurrency?: number
}

/**
 * Counts the non-empty lines of each source object (gzip or plain, detected from the bytes), streaming, with
 * bounded concurrency. Lines are counted the way the loader counts them, so rows + rejected lines of a
 * complete load equal the count.
 */
export async function countSourceLines(uris: string[], opts: VerifyOptions = {}): Promise<Map<string, SourceInfo>> {
  const stores = new Map<string, ObjectStore>()
  const storeFor = (uri: string): {store: ObjectStore; key: string} => {
    let root: string
    let key: string
    const loc = parseLocation(uri)
    if (loc.scheme === 'file') {
      const file = uri.startsWith('file://') ? fileURLToPath(uri) : path.resolve(uri)
      root = path.dirname(file)
      key = path.basename(file)
    } else {
      root = `${loc.scheme}://${loc.bucket}/`
      key = loc.prefix
    }
    let store = stores.get(root)
    if (!store) {
      store = openStore(root, opts.storeOptions, opts.storeFactories)
      stores.set(root, store)
    }
    return {store, key}
  }
  const limit = pLimit(opts.concurrency ?? 8)
  const out = new Map<string, SourceInfo>()
  try {
    await Promise.all(
      uris.map((uri) =>
        limit(async () => {
          try {
            const {store, key} = storeFor(uri)
            if (!(await store.head(key))) {
              out.set(uri, {lines: null, error: 'the object does not exist'})
              return
            }
            // the non-empty lines, counted the way the loader sees them
            let lines = 0
            for await (const _ of scanLines(await store.read(key), newCounters(), () => lines++)) {
              // each step is one stream chunk; the callback counts
            }
            out.set(uri, {lines, error: null})
          } catch (err) {
            // bytes that do not decompress are a finding about the source; anything else means it was not read
            out.set(uri, isContentError(err) ? {lines: null, error: errorMessage(err)} : {lines: null, error: describe(err), unavailable: true})
          }
        }),
      ),
    )
  } finally {
    for (const s of stores.values()) await s.close()
  }
  return out
}

/** A corrupt or truncated gzip: the object was read, and its bytes are the finding. */
function isContentError(err: unknown): boolean {
  const code = (err as {code?: string}).code
  return code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /unexpected end of file|incorrect header check/i.test(errorMessage(err))
}

/** The error in a few words (network errors may carry only a code, e.g. an AggregateError of ECONNREFUSED). */
function describe(err: unknown): string {
  const e = err as {code?: string; name?: string; cause?: {code?: string}}
  const code = e?.code ?? e?.cause?.code
  const msg = errorMessage(err).trim()
  if (msg && code && !msg.includes(code)) return `${msg} (${code})`
  return msg || code || e?.name || 'unknown error'
}
