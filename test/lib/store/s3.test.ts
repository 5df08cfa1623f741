import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import type {Readable} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ObjectChangedError} from '../../../src/lib/errors.js'
import {openStore} from '../../../src/lib/store/index.js'
import {startAws} from '../../helpers/fauxqs.js'

async function text(r: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of r) chunks.push(Buffer.from(c))
  return Buffer.concat(chunks).toString('utf8')
}

describe('S3Store (real AWS SDK against fauxqs)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  beforeAll(async () => {
    aws = await startAws()
    await aws.s3.send(new CreateBucketCommand({Bucket: 'pin'}))
  })
  afterAll(() => aws.stop())

  it('reads pinned to the listed ETag (If-Match): an object overwritten since is ObjectChangedError, never the new bytes', async () => {
    await aws.s3.send(new PutObjectCommand({Bucket: 'pin', Key: 'a.log', Body: 'old\n'}))
    const store = await openStore('s3://pin/', {s3Endpoint: aws.endpoint, region: 'us-east-1'})
    try {
      const listed = (await store.head('a.log'))!
      expect(await text(await store.read('a.log', {version: listed.etag}))).toBe('old\n')
      await aws.s3.send(new PutObjectCommand({Bucket: 'pin', Key: 'a.log', Body: 'new and longer\n'}))
      const err = await store.read('a.log', {version: listed.etag}).catch((e) => e)
      expect(err).toBeInstanceOf(ObjectChangedError)
      expect(err.message).toBe(`s3://pin/a.log changed after it was listed (version ${listed.etag} is gone); nothing of that version was loaded.`)
      // without a version, the current bytes
      expect(await text(await store.read('a.log'))).toBe('new and longer\n')
    } finally {
      await store.close()
    }
  })
})
