import {CreateBucketCommand} from '@aws-sdk/client-s3'
import {CreateQueueCommand} from '@aws-sdk/client-sqs'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import CutoverPlanCommand from '../../src/commands/cutover/plan.js'
import {jsonResult, runCli, runCommand} from '../helpers/cli.js'
import {startAws} from '../helpers/fauxqs.js'
import {tempDir} from '../helpers/tmp.js'

describe('seneka cutover (built CLI against fauxqs)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  let queueUrl = ''
  beforeAll(async () => {
    aws = await startAws()
    queueUrl = (await aws.sqs.send(new CreateQueueCommand({QueueName: 'cli-events'}))).QueueUrl!
    await aws.s3.send(new CreateBucketCommand({Bucket: 'cli-logs'}))
  })
  afterAll(async () => aws.stop())

  it('plans, refuses to apply without --yes, applies, shows status, rolls back', async () => {
    const dir = tempDir('cutover-cli')
    const config = path.join(dir, 'seneka.json')
    writeFileSync(config, JSON.stringify({cutover: {state: path.join(dir, 'state.json'), buckets: {'cli-logs': {wave: 0, queue: queueUrl, table: 'alb_logs', prefix: 'AWSLogs/'}}}}))
    const env = {AWS_ENDPOINT_URL_S3: aws.endpoint, AWS_ENDPOINT_URL_SQS: aws.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', SENEKA_ACTOR: 'ci'}
    const cli = (...args: string[]) => runCli(['cutover', ...args, '--config', config], {env})

    const planFile = path.join(dir, 'p.json')
    const plan = await cli('plan', '--wave', '0', '--out', planFile)
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toContain('batch -> shadow')
    expect(plan.stdout).toMatch(/Plan: 3 to add, 1 to change, 0 to remove\./)

    const refused = await cli('apply', '--bucket', 'cli-logs')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/Refusing to apply without confirmation/)

    const applied = await cli('apply', planFile, '--json')
    expect(applied.code, applied.stderr).toBe(0)
    const a = jsonResult(applied.stdout)
    expect(a.result.buckets[0]).toMatchObject({bucket: 'cli-logs', outcome: 'applied', to: 'shadow'})

    // the same plan file again: the state moved on, so it is stale
    const stale = await cli('apply', planFile, '--json')
    expect(stale.code).toBe(14)
    expect(JSON.parse(stale.stdout).error.message).toMatch(/plan was made at version 0/)

    const status = await cli('status', '--json')
    expect(status.code).toBe(0)
    expect(jsonResult(status.stdout).buckets).toEqual([expect.objectContaining({bucket: 'cli-logs', mode: 'shadow', wave: 0, by: 'ci', skipBatch: false})])
    const table = await cli('status')
    expect(table.stdout).toMatch(/cli-logs\s+0\s+shadow/)

    // fauxqs accepts but does not store notification configurations, so to rollback the bucket's configuration
    // looks changed since apply (seneka's rule is gone): it refuses to clobber it unless --force
    const changed = await cli('rollback', '--bucket', 'cli-logs', '--json')
    expect(changed.code).toBe(14)
    expect(JSON.parse(changed.stdout).error.message).toMatch(/changed after seneka applied its rule/)
    const rb = await cli('rollback', '--bucket', 'cli-logs', '--force', '--json')
    expect(rb.code, rb.stderr).toBe(0)
    expect(jsonResult(rb.stdout)).toMatchObject({from: 'shadow', to: 'batch'})
    expect(jsonResult((await cli('status', '--json')).stdout).buckets[0].mode).toBe('batch')
  })

  it('names the config key path of an error', async () => {
    const dir = tempDir('cutover-cli')
    const config = path.join(dir, 'seneka.json')
    writeFileSync(config, JSON.stringify({cutover: {buckets: {'cli-logs': {wave: -1, queue: queueUrl, table: 't'}}}}))
    const r = await runCli(['cutover', 'status', '--config', config])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cutover\.buckets\.cli-logs\.wave/)
  })

  describe('config errors: one sentence that names the file and what to add (in process)', () => {
    it('no config at all, a config without a cutover section, a bucket name S3 refuses', async () => {
      const dir = tempDir('cutover-cli')
      const none = await runCommand(CutoverPlanCommand, [])
      expect(none.code).toBe(1)
      expect(none.error?.message).toBe('The cutover commands need a config file with a "cutover" section, and none was given.')
      expect(none.stderr + String((none.error as {suggestions?: string[]})?.suggestions)).toMatch(/--config FILE/)
      const config = path.join(dir, 'seneka.json')
      writeFileSync(config, JSON.stringify({warehouse: 'duckdb:x.duckdb'}))
      const noSection = await runCommand(CutoverPlanCommand, ['--config', config])
      expect(noSection.error?.message).toBe(`The config file ${config} has no "cutover" section.`)
      expect((noSection.error as {suggestions?: string[]}).suggestions?.[0]).toMatch(new RegExp(`^Add to ${config.replaceAll('/', '\\/')}: "cutover": \\{"buckets"`))
      writeFileSync(config, JSON.stringify({cutover: {buckets: {b: {wave: 0, queue: queueUrl, table: 't'}}}}))
      const bad = await runCommand(CutoverPlanCommand, ['--config', config])
      expect(bad.error?.message).toBe(
        `The config file ${config} is invalid at cutover.buckets.b: "b" is not a valid name: an S3 bucket name is 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.`,
      )
    })
  })
})
