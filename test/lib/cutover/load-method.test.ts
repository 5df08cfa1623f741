import {describe, expect, it} from 'vitest'
import {parseCutoverConfig, selectBuckets} from '../../../src/lib/cutover/config.js'
import {streamCommand} from '../../../src/lib/cutover/leg.js'

describe('cutover: a bucket chooses its stream worker\'s BigQuery load method', () => {
  const config = (loadMethod?: unknown) =>
    parseCutoverConfig({
      buckets: {'alb-logs': {wave: 1, queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/alb-events', table: 'alb_logs', format: 'alb', ...(loadMethod === undefined ? {} : {loadMethod})}},
    })

  it('the planned stream command carries --load-method when the bucket sets it, and nothing when not', () => {
    expect(streamCommand(selectBuckets(config('load-jobs'), {wave: 1})[0])).toBe('seneka stream --queue https://sqs.eu-west-1.amazonaws.com/123456789012/alb-events --table alb_logs --format alb --load-method load-jobs')
    expect(streamCommand(selectBuckets(config(), {wave: 1})[0])).not.toContain('--load-method')
  })

  it('an unknown load method is refused where it stands', () => {
    expect(() => config('bulk')).toThrow(/buckets\.alb-logs\.loadMethod/)
  })
})
