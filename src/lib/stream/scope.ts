/**
 * The objects a worker loads (--bucket, --prefix): an event naming another bucket, or a key under none of the
 * prefixes, is acknowledged and counted (events.outOfScope), never loaded. No buckets: any bucket; no prefixes:
 * any key.
 */
export interface ObjectScope {
  buckets: string[]
  prefixes: string[]
}

export function inScope(scope: ObjectScope | undefined, bucket: string, key: string): boolean {
  if (!scope) return true
  if (scope.buckets.length > 0 && !scope.buckets.includes(bucket)) return false
  return scope.prefixes.length === 0 || scope.prefixes.some((p) => key.startsWith(p))
}

/** "bucket a or b, keys under logs/" */
export function describeScope(scope: ObjectScope): string {
  const buckets = scope.buckets.length === 0 ? 'any bucket' : `bucket ${scope.buckets.join(' or ')}`
  return scope.prefixes.length === 0 ? buckets : `${buckets}, keys under ${scope.prefixes.join(' or ')}`
}
