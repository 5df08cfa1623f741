import {CreateQueueCommand} from '@aws-sdk/client-sqs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {getQueue, setQueuePolicy} from '../../../src/lib/cutover/aws.js'
import {mergePolicy, removeFromPolicy, senekaStatement} from '../../../src/lib/cutover/queue-policy.js'
import {startAws} from '../../helpers/fauxqs.js'

const stmt = (queueArn: string) => senekaStatement({bucket: 'my-logs', bucketArn: 'arn:aws:s3:::my-logs', queueArn, account: '123456789012'})

describe('queue policy against fauxqs', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  beforeAll(async () => {
    aws = await startAws()
  })
  afterAll(async () => aws.stop())

  it('merges into an existing statement list, idempotently, and removes only its own statement', async () => {
    const {QueueUrl} = await aws.sqs.send(new CreateQueueCommand({QueueName: 'logs-events'}))
    const url = QueueUrl!
    const foreign = {Sid: 'OpsRead', Effect: 'Allow', Principal: {AWS: 'arn:aws:iam::123456789012:role/ops'}, Action: 'sqs:ReceiveMessage', Resource: '*'}
    const original = JSON.stringify({Version: '2012-10-17', Id: 'ops', Statement: [foreign]})
    await setQueuePolicy(aws.sqs, url, original)

    const q = await getQueue(aws.sqs, url)
    expect(q.fifo).toBe(false)
    expect(q.policy).toBe(original)
    const m = mergePolicy(q.policy, url, stmt(q.arn))
    expect(m.change).toBe('add')
    await setQueuePolicy(aws.sqs, url, m.after)

    const after = await getQueue(aws.sqs, url)
    const doc = JSON.parse(after.policy!)
    expect(doc.Id).toBe('ops')
    expect(doc.Statement).toHaveLength(2)
    expect(doc.Statement[0]).toEqual(foreign)
    expect(doc.Statement[1].Condition).toEqual({ArnEquals: {'aws:SourceArn': 'arn:aws:s3:::my-logs'}, StringEquals: {'aws:SourceAccount': '123456789012'}})
    expect(doc.Statement[1].Principal).toEqual({Service: 's3.amazonaws.com'})

    expect(mergePolicy(after.policy, url, stmt(q.arn)).change).toBe('none')
    expect(removeFromPolicy(after.policy, url, stmt(q.arn).Sid!)).toBe(original)
  })

  it('reports a FIFO queue', async () => {
    const {QueueUrl} = await aws.sqs.send(new CreateQueueCommand({QueueName: 'events.fifo', Attributes: {FifoQueue: 'true'}}))
    expect((await getQueue(aws.sqs, QueueUrl!)).fifo).toBe(true)
  })

  it('creates a policy document when the queue has none', () => {
    const m = mergePolicy(undefined, 'q', stmt('arn:aws:sqs:us-east-1:123456789012:q'))
    expect(m.change).toBe('add')
    expect(JSON.parse(m.after)).toMatchObject({Version: '2012-10-17', Statement: [{Sid: 'SenekaS3mylogs'}]})
  })
})
