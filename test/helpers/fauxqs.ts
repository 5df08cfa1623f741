import {S3Client} from '@aws-sdk/client-s3'
import {SQSClient} from '@aws-sdk/client-sqs'
import {startFauxqs} from 'fauxqs'

export type Fauxqs = Awaited<ReturnType<typeof startFauxqs>>

/**
 * An in-process S3 + SQS server on a loopback port, and real AWS SDK clients pointed at it.
 * The environment is set so code under test that builds its own clients (AWS_ENDPOINT_URL_S3 etc.) finds it.
 */
export async function startAws(): Promise<{server: Fauxqs; endpoint: string; s3: S3Client; sqs: SQSClient; stop: () => Promise<void>}> {
  const server = await startFauxqs({port: 0, logger: false})
  const endpoint = server.address
  const credentials = {accessKeyId: 'test', secretAccessKey: 'test'}
  const saved = {...process.env}
  const vars = {AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint, AWS_ENDPOINT_URL_SQS: endpoint}
  Object.assign(process.env, vars)
  const s3 = new S3Client({endpoint, region: 'us-east-1', forcePathStyle: true, credentials})
  const sqs = new SQSClient({endpoint, region: 'us-east-1', credentials})
  return {
    server,
    endpoint,
    s3,
    sqs,
    stop: async () => {
      s3.destroy()
      sqs.destroy()
      await server.stop()
      for (const k of Object.keys(vars)) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    },
  }
}
