import {describe, expect, it} from 'vitest'
import {editDistance, suggestCommand} from '../../src/lib/did-you-mean.js'

const IDS = ['backfill', 'reconcile', 'latency-report', 'dedupe', 'stream', 'version', 'cutover:plan', 'cutover:apply', 'cutover:status', 'cutover:rollback']

describe('did you mean', () => {
  it('counts edits, a swap of neighbours as one', () => {
    expect(editDistance('backfil', 'backfill')).toBe(1)
    expect(editDistance('recnocile', 'reconcile')).toBe(1)
    expect(editDistance('abc', 'xyz')).toBe(3)
  })

  it('suggests the closest command and keeps the words after it as arguments', () => {
    expect(suggestCommand(['backfil', 'demo-data/app'], IDS)).toEqual({id: 'backfill', consumed: 1})
    expect(suggestCommand(['cutover', 'aply', 'x'], IDS)).toEqual({id: 'cutover:apply', consumed: 2})
    expect(suggestCommand(['latency-reprot'], IDS)).toEqual({id: 'latency-report', consumed: 1})
    expect(suggestCommand(['zzz'], IDS)).toBeUndefined()
  })
})
