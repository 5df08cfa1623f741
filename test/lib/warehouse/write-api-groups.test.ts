import {describe, expect, it} from 'vitest'
import {groupPolicy, StreamGroups, STREAM_GROUPS} from '../../../src/lib/warehouse/bigquery/write-api/groups.js'
import {manualClock} from '../../helpers/manual-clock.js'

describe('object groups of the Write API loader', () => {
  it('a group closes when nothing else is loading, after the linger, or when full', () => {
    const clock = manualClock()
    const written: number[] = []
    const g = new StreamGroups<{bytes: number}>({...STREAM_GROUPS, maxObjects: 3, maxBytes: 1000, lingerMs: 250, streamsPerHour: 3600}, clock, (_t, m) => written.push(m.length))
    // alone: written at once
    g.enter()
    g.leave('t', {bytes: 1})
    expect(written).toEqual([1])
    // another still parsing: the first waits for it until the linger
    g.enter()
    g.enter()
    g.leave('t', {bytes: 1})
    expect(written).toEqual([1])
    clock.advance(249)
    expect(written).toEqual([1])
    clock.advance(1)
    expect(written).toEqual([1, 1])
    g.leave()
    // full: written without waiting for the others
    for (let i = 0; i < 5; i++) g.enter()
    for (let i = 0; i < 3; i++) g.leave('t', {bytes: 1})
    expect(written).toEqual([1, 1, 3])
  })

  it('never creates more streams an hour than its budget, whatever the rate: above it objects share streams', () => {
    const clock = manualClock()
    const written: number[] = []
    const g = new StreamGroups<{bytes: number}>({...STREAM_GROUPS, streamsPerHour: 360}, clock, (_t, m) => written.push(m.length))
    // 10 objects a second for an hour, each alone (nothing else loading when it joins)
    for (let s = 0; s < 3600 * 10; s++) {
      g.enter()
      g.leave('t', {bytes: 1})
      clock.advance(100)
    }
    clock.advance(60_000)
    // 360 an hour plus the first burst (ten seconds' worth: 1)
    expect(written.length).toBeLessThanOrEqual(361)
    expect(written.length).toBeGreaterThanOrEqual(359)
    expect(written.reduce((a, b) => a + b, 0)).toBe(36_000)
    g.close()
  })

  it('takes its budget and group size from the environment, refusing what is not a count', () => {
    expect(groupPolicy(STREAM_GROUPS, {SENEKA_WRITE_STREAMS_PER_HOUR: '2000', SENEKA_WRITE_GROUP_OBJECTS: '10'})).toMatchObject({streamsPerHour: 2000, maxObjects: 10})
    expect(groupPolicy(STREAM_GROUPS, {})).toEqual(STREAM_GROUPS)
    expect(() => groupPolicy(STREAM_GROUPS, {SENEKA_WRITE_STREAMS_PER_HOUR: 'many'})).toThrow('SENEKA_WRITE_STREAMS_PER_HOUR must be a positive whole number, not "many".')
  })
})
