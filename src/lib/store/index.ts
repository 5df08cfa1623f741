import {GcsStore} from './gcs.js'
import {LocalStore} from './local.js'
import {createS3Client, S3Store} from './s3.js'
import type {ObjectStore, StoreOptions} from './types.js'
import {parseLocation, type ParsedLocation} from './uri.js'

export type {ObjectInfo, ObjectStore, RequestStats, StoreOptions} from './types.js'
export {parseLocation, type ParsedLocation} from './uri.js'

/**
 * The one place object-store clients are built. Tests replace clients by passing `factories`.
 */
export interface StoreFactories {
  s3?: (bucket: string, opts: StoreOptions) => ObjectStore
  gs?: (bucket: string, opts: StoreOptions) => ObjectStore
}

export function openStore(loc: ParsedLocation | string, opts: StoreOptions = {}, factories: StoreFactories = {}): ObjectStore {
  const l = typeof loc === 'string' ? parseLocation(loc) : loc
  switch (l.scheme) {
    case 'file':
      return new LocalStore(l.bucket)
    case 's3':
      return factories.s3 ? factories.s3(l.bucket, opts) : new S3Store(l.bucket, createS3Client(opts))
    case 'gs':
      return factories.gs ? factories.gs(l.bucket, opts) : new GcsStore(l.bucket, opts)
  }
}
