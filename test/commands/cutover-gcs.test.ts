import {CreateBucketCommand} from '@aws-sdk/client-s3'
import {CreateQueueCommand} from '@aws-sdk/client-sqs'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {jsonResult, runCli} from '../helpers/cli.js'
import {startAws} from '../helpers/fauxqs.js'
import {type GcpDouble, startGcpDouble} from '../helpers/gcp-doubles.js'
import {type PubsubDouble, startPubsubDouble} from '../helpers/pubsub-double.js'
import {tempDir} from '../helpers/tmp.js'

describe('seneka cutover with a GCS -> Pub/Sub leg (built CLI, --gcs-endpoint / --pubsub-endpoint)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  let gcs: GcpDouble
  let pubsub: PubsubDouble
  let queueUrl = ''
  beforeAll(async () => {
    aws = await startAws()
    gcs = await startGcpDouble()
    pubsub = await startPubsubDouble()
    queueUrl = (await aws.sqs.send(new CreateQueueCommand({QueueName: 'cli-gcs-events'}))).QueueUrl!
    await aws.s3.send(new CreateBucketCommand({Bucket: 'cli-gcs-logs'}))
  })
  afterAll(async () => {
    await pubsub?.close()
    await gcs?.close()
    await aws?.stop()
  })

  it('apply creates the leg and prints the IAM it needs; rollback deletes what it created', async () => {
    const dir = tempDir('cutover-gcs-cli')
    const config = path.join(dir, 'seneka.json')
    const topic = 'projects/seneka-cli/topics/landing'
    writeFileSync(config, JSON.stringify({cutover: {state: path.join(dir, 'state.json'), buckets: {'cli-gcs-logs': {wave: 0, queue: queueUrl, table: 'alb_logs', leg: {stream: true, pubsub: {gcsBucket: 'cli-landing', topic}}}}}}))
    const env = {AWS_ENDPOINT_URL_S3: aws.endpoint, AWS_ENDPOINT_URL_SQS: aws.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', SENEKA_ACTOR: 'ci'}
    const cli = (...args: string[]) => runCli(['cutover', ...args, '--config', config, '--gcs-endpoint', gcs.endpoint, '--pubsub-endpoint', pubsub.endpoint], {env})

    const applied = await cli('apply', '--bucket', 'cli-gcs-logs', '--yes')
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.stdout).toMatch(/\+ pubsub-subscription\s+projects\/seneka-cli\/subscriptions\/landing-seneka/)
    expect(applied.stdout).toContain(`note: IAM (seneka grants nothing): GCS's service agent`)
    expect(applied.stdout).toContain(`roles/pubsub.publisher on ${topic}`)
    expect(applied.stdout).toMatch(/applied \+ gcs-notification gs:\/\/cli-landing/)
    expect([...pubsub.topics].sort()).toEqual([topic, `${topic}-dead-letter`])
    expect(gcs.notifications.get('cli-landing')).toHaveLength(1)

    // fauxqs does not store S3 notification configurations: rollback needs --force (see cutover.test.ts)
    const rb = await cli('rollback', '--bucket', 'cli-gcs-logs', '--force', '--json')
    expect(rb.code, rb.stderr).toBe(0)
    expect(jsonResult(rb.stdout).applied.map((a: {resource: string}) => a.resource)).toEqual(['queue-policy', 'stream', 'gcs-notification', 'pubsub-subscription', 'pubsub-subscription', 'pubsub-topic', 'pubsub-topic', 'state'])
    expect(pubsub.topics.size).toBe(0)
    expect(gcs.notifications.get('cli-landing')).toEqual([])
  })
})
