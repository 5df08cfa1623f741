import {S3Client} from '@aws-sdk/client-s3'
import {SQSClient} from '@aws-sdk/client-sqs'
import {createS3Client} from '../store/s3.js'
import type {TransferClient, TransferJobSpec} from './leg.js'

/** The one place cutover builds its cloud clients (tests pass their own in CutoverDeps). */

export interface AwsOptions {
  s3Endpoint?: string
  sqsEndpoint?: string
  region?: string
}

export function createClients(opts: AwsOptions): {s3: S3Client; sqs: SQSClient} {
  const s3 = createS3Client({s3Endpoint: opts.s3Endpoint, region: opts.region})
  const endpoint = opts.sqsEndpoint ?? process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL
  const sqs = new SQSClient({
    ...(endpoint ? {endpoint} : {}),
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    maxAttempts: 5,
  })
  return {s3, sqs}
}

/** Storage Transfer Service through @google-cloud/storage-transfer (Application Default Credentials). */
export async function createTransferClient(): Promise<TransferClient> {
  const {StorageTransferServiceClient} = await import('@google-cloud/storage-transfer')
  const client = new StorageTransferServiceClient()
  return {
    async getJob(name, projectId) {
      try {
        const [job] = await client.getTransferJob({jobName: name, projectId})
        return {name: job.name ?? name, status: String(job.status ?? '')}
      } catch (err) {
        if ((err as {code?: number}).code === 5) return undefined // NOT_FOUND
        throw err
      }
    },
    async createJob(job: TransferJobSpec) {
      const [created] = await client.createTransferJob({transferJob: job})
      return {name: created.name ?? job.name}
    },
    async setStatus(name, projectId, status) {
      await client.updateTransferJob({jobName: name, projectId, transferJob: {status}, updateTransferJobFieldMask: {paths: ['status']}})
    },
  }
}
