import {describe, expect, it} from 'vitest'
import {compareSequencers, decodeS3Key, parseMessage} from '../../../src/lib/stream/events.js'
import {KeyLock} from '../../../src/lib/stream/key-lock.js'
import {notification, snsEnvelope, TEST_EVENT} from './fixtures.js'

const base = {bucket: 'logs', etag: '"d41d8cd98f00b204e9800998ecf8427e"', size: 12, sequencer: '0055AED6DCD90281E5'}

describe('parseMessage', () => {
  it('reads every record of a notification, decoding keys (+ is a space, %XX escapes)', () => {
    const p = parseMessage(notification({...base, key: 'app/2024/05/01/a b+c (1)é.log'}, {...base, key: 'app/x.log', sequencer: '0055AED6DCD90281E6'}))
    expect(p.kind).toBe('events')
    if (p.kind !== 'events') return
    expect(p.events.map((e) => e.key)).toEqual(['app/2024/05/01/a b+c (1)é.log', 'app/x.log'])
    expect(p.events[0]).toMatchObject({bucket: 'logs', etag: 'd41d8cd98f00b204e9800998ecf8427e', size: 12, sequencer: '0055AED6DCD90281E5', eventName: 'ObjectCreated:Put'})
    expect(p.events[0].eventTime).toBeInstanceOf(Date)
  })

  it('decodes the raw forms S3 sends', () => {
    expect(decodeS3Key('logs/a+b%2Bc%3D.gz')).toBe('logs/a b+c=.gz')
    expect(decodeS3Key('%E6%97%A5%E6%9C%AC/x')).toBe('日本/x')
  })

  it('unwraps an SNS envelope', () => {
    const p = parseMessage(snsEnvelope(notification({...base, key: 'k.log'})))
    expect(p.kind === 'events' && p.events[0].key).toBe('k.log')
  })

  it('recognises the s3:TestEvent, also inside SNS', () => {
    expect(parseMessage(TEST_EVENT)).toEqual({kind: 'test'})
    expect(parseMessage(snsEnvelope(TEST_EVENT))).toEqual({kind: 'test'})
  })

  it('keeps ObjectCreated events and counts the others as ignored', () => {
    const p = parseMessage(notification({...base, key: 'a', eventName: 'ObjectRemoved:Delete'}, {...base, key: 'b', eventName: 'ObjectCreated:CompleteMultipartUpload'}))
    expect(p.kind === 'events' && p.events.map((e) => e.key)).toEqual(['b'])
    expect(p.kind === 'events' && p.ignored).toEqual([{eventName: 'ObjectRemoved:Delete', bucket: 'logs', key: 'a'}])
  })

  it('reads S3 events routed through EventBridge (keys not encoded)', () => {
    const p = parseMessage(
      JSON.stringify({version: '0', 'detail-type': 'Object Created', source: 'aws.s3', time: '2024-05-01T00:00:00Z', detail: {bucket: {name: 'logs'}, object: {key: 'a b.log', size: 5, etag: 'abc', sequencer: '00617F08299329D189'}, reason: 'PutObject'}}),
    )
    expect(p.kind === 'events' && p.events[0]).toMatchObject({bucket: 'logs', key: 'a b.log', etag: 'abc', sequencer: '00617F08299329D189'})
  })

  it('reports what it cannot understand instead of throwing', () => {
    for (const body of ['not json', '[]', '{"hello":1}', '{"Records":[{"eventName":"ObjectCreated:Put"}]}', JSON.stringify({Type: 'Notification', Message: '{oops'}), notification({...base, key: 'bad%ZZ'}).replace('bad%25ZZ', 'bad%ZZ')]) {
      const p = parseMessage(body)
      expect(p.kind, body).toBe('invalid')
      expect(p.kind === 'invalid' && p.reason.length).toBeGreaterThan(5)
    }
  })
})

describe('compareSequencers', () => {
  it('left-pads with zeros and compares as strings', () => {
    expect(compareSequencers('0055AED6DCD90281E5', '0055AED6DCD90281E6')).toBeLessThan(0)
    expect(compareSequencers('FF', '0100')).toBeLessThan(0) // 00FF < 0100
    expect(compareSequencers('0100', 'FF')).toBeGreaterThan(0)
    expect(compareSequencers('00ab', 'AB')).toBe(0)
  })
})

describe('KeyLock', () => {
  it('runs work for one key one at a time and different keys together', async () => {
    const lock = new KeyLock()
    const log: string[] = []
    const task = (key: string, name: string, ms: number) =>
      lock.run(key, async () => {
        log.push(`start ${name}`)
        await new Promise((r) => setTimeout(r, ms))
        log.push(`end ${name}`)
      })
    await Promise.all([task('a', 'a1', 30), task('a', 'a2', 1), task('b', 'b1', 1)])
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'))
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'))
    expect(lock.size).toBe(0)
  })
})
