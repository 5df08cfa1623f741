import type {NotificationConfiguration} from '@aws-sdk/client-s3'
import {describe, expect, it} from 'vitest'
import {eventsOverlap, filtersOverlap, mergeNotification, senekaQueueConfiguration, withoutSeneka} from '../../../src/lib/cutover/notification.js'
import {UserError} from '../../../src/lib/errors.js'

const QUEUE = 'arn:aws:sqs:eu-west-1:123456789012:logs-events'
const ours = (prefix?: string, suffix?: string) => senekaQueueConfiguration({bucket: 'my-logs', queueArn: QUEUE, prefix, suffix})

/** A configuration as GetBucketNotificationConfiguration returns it: an SNS topic and a Lambda function. */
const existing: NotificationConfiguration = {
  TopicConfigurations: [
    {Id: 'deletes-to-sns', TopicArn: 'arn:aws:sns:eu-west-1:123456789012:deletes', Events: ['s3:ObjectRemoved:*']},
  ],
  LambdaFunctionConfigurations: [
    {
      Id: 'thumbnails',
      LambdaFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:thumbs',
      Events: ['s3:ObjectCreated:Put'],
      Filter: {Key: {FilterRules: [{Name: 'prefix', Value: 'images/'}, {Name: 'suffix', Value: '.jpg'}]}},
    },
  ],
}

describe('event and filter overlap', () => {
  it('wildcards cover their specific events and nothing else', () => {
    expect(eventsOverlap('s3:ObjectCreated:*', 's3:ObjectCreated:Put')).toBe(true)
    expect(eventsOverlap('s3:ObjectCreated:CompleteMultipartUpload', 's3:ObjectCreated:*')).toBe(true)
    expect(eventsOverlap('s3:ObjectCreated:*', 's3:ObjectRemoved:*')).toBe(false)
    expect(eventsOverlap('s3:ObjectCreated:Put', 's3:ObjectCreated:Post')).toBe(false)
  })
  it('prefixes and suffixes overlap when they nest or are empty', () => {
    expect(filtersOverlap({prefix: 'logs/', suffix: ''}, {prefix: 'logs/2024/', suffix: '.gz'})).toBe(true)
    expect(filtersOverlap({prefix: '', suffix: ''}, {prefix: 'images/', suffix: '.jpg'})).toBe(true)
    expect(filtersOverlap({prefix: 'logs/', suffix: ''}, {prefix: 'images/', suffix: ''})).toBe(false)
    expect(filtersOverlap({prefix: 'logs/', suffix: '.gz'}, {prefix: 'logs/', suffix: '.json'})).toBe(false)
    expect(filtersOverlap({prefix: '', suffix: 'log.gz'}, {prefix: '', suffix: '.gz'})).toBe(true)
  })
})

describe('mergeNotification', () => {
  it('adds a queue configuration to an empty configuration', () => {
    const m = mergeNotification({}, 'my-logs', ours('AWSLogs/'))
    expect(m.change).toBe('add')
    expect(m.after).toEqual({
      QueueConfigurations: [{Id: 'seneka-my-logs', QueueArn: QUEUE, Events: ['s3:ObjectCreated:*'], Filter: {Key: {FilterRules: [{Name: 'prefix', Value: 'AWSLogs/'}]}}}],
    })
  })

  it('keeps existing SNS and Lambda configurations verbatim when filters do not overlap', () => {
    const m = mergeNotification(existing, 'my-logs', ours('AWSLogs/', '.log.gz'))
    expect(m.change).toBe('add')
    expect(m.after.TopicConfigurations).toEqual(existing.TopicConfigurations)
    expect(m.after.LambdaFunctionConfigurations).toEqual(existing.LambdaFunctionConfigurations)
    expect(m.after.QueueConfigurations).toHaveLength(1)
  })

  it('refuses when an existing Lambda rule for ObjectCreated:Put overlaps ObjectCreated:*', () => {
    // no prefix: every key, which includes images/*.jpg
    expect(() => mergeNotification(existing, 'my-logs', ours())).toThrow(UserError)
    expect(() => mergeNotification(existing, 'my-logs', ours('images/'))).toThrow(/overlaps seneka's.*lambda "thumbnails"/)
  })

  it('is not confused by a rule on other event types with the same filter', () => {
    // the SNS rule is ObjectRemoved:* on every key: no overlap with ObjectCreated:*
    const m = mergeNotification({TopicConfigurations: existing.TopicConfigurations}, 'my-logs', ours())
    expect(m.change).toBe('add')
  })

  it('refuses another queue rule with overlapping filters', () => {
    const other: NotificationConfiguration = {QueueConfigurations: [{Id: 'legacy', QueueArn: 'arn:aws:sqs:eu-west-1:123456789012:legacy', Events: ['s3:ObjectCreated:*'], Filter: {Key: {FilterRules: [{Name: 'Prefix' as never, Value: 'AWSLogs/123/'}]}}}]}
    expect(() => mergeNotification(other, 'my-logs', ours('AWSLogs/'))).toThrow(/queue "legacy"/)
  })

  it('is idempotent: a second merge changes nothing', () => {
    const first = mergeNotification(existing, 'my-logs', ours('AWSLogs/'))
    const second = mergeNotification(first.after, 'my-logs', ours('AWSLogs/'))
    expect(second.change).toBe('none')
    expect(second.after).toEqual(first.after)
  })

  it('updates its own rule in place when the config changed', () => {
    const first = mergeNotification(existing, 'my-logs', ours('AWSLogs/'))
    const second = mergeNotification(first.after, 'my-logs', ours('AWSLogs/', '.gz'))
    expect(second.change).toBe('change')
    expect(second.after.QueueConfigurations).toHaveLength(1)
    expect(second.after.QueueConfigurations?.[0].Filter?.Key?.FilterRules).toContainEqual({Name: 'suffix', Value: '.gz'})
  })

  it('withoutSeneka gives back the configuration before the merge', () => {
    const m = mergeNotification(existing, 'my-logs', ours('AWSLogs/'))
    expect(withoutSeneka(m.after, 'my-logs')).toEqual(existing)
  })
})
