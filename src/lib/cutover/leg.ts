import type {ResolvedBucket} from './config.js'

/**
 * The event-driven leg of a bucket: `seneka stream` reading the queue, a Storage Transfer Service
 * event-driven job reading the same queue, and/or a GCS Pub/Sub notification on the destination bucket
 * (gcs-leg.ts).
 */

export interface TransferJobSpec {
  name: string
  projectId: string
  description: string
  status: 'ENABLED'
  transferSpec: {
    awsS3DataSource: {bucketName: string; path?: string; roleArn?: string}
    gcsDataSink: {bucketName: string; path?: string}
    objectConditions?: {includePrefixes?: string[]}
    transferOptions: {overwriteWhen: 'DIFFERENT'; metadataOptions: {timeCreated: 'TIME_CREATED_PRESERVE_AS_CUSTOM_TIME'}}
  }
  eventStream: {name: string}
}

/** The calls cutover makes to Storage Transfer Service (the real client is in clients.ts; tests inject one). */
export interface TransferClient {
  /** returns undefined when there is no such job */
  getJob(name: string, projectId: string): Promise<{name: string; status?: string} | undefined>
  createJob(job: TransferJobSpec): Promise<{name: string}>
  setStatus(name: string, projectId: string, status: 'ENABLED' | 'DISABLED' | 'DELETED'): Promise<void>
}

/** A deterministic job name, so a re-run finds the job created by an interrupted run instead of creating a second one. */
export function transferJobName(bucket: string): string {
  return `transferJobs/seneka-${bucket.replaceAll('.', '-')}`
}

export function transferJobSpec(b: ResolvedBucket): TransferJobSpec | undefined {
  const t = b.leg.transfer
  if (!t) return undefined
  const srcPath = b.prefix && b.prefix.endsWith('/') ? b.prefix : undefined
  return {
    name: transferJobName(b.name),
    projectId: t.projectId,
    description: `seneka cutover: s3://${b.name} -> gs://${t.gcsBucket} (event-driven)`,
    status: 'ENABLED',
    transferSpec: {
      awsS3DataSource: {bucketName: b.name, ...(srcPath ? {path: srcPath} : {}), ...(t.roleArn ? {roleArn: t.roleArn} : {})},
      gcsDataSink: {bucketName: t.gcsBucket, ...(t.gcsPath ? {path: t.gcsPath} : {})},
      ...(b.prefix && !srcPath ? {objectConditions: {includePrefixes: [b.prefix]}} : {}),
      // the S3 LastModified becomes the GCS object's customTime: the start of the per-hop latency (latency-report --measure hops)
      transferOptions: {overwriteWhen: 'DIFFERENT', metadataOptions: {timeCreated: 'TIME_CREATED_PRESERVE_AS_CUSTOM_TIME'}},
    },
    eventStream: {name: b.queueArn},
  }
}

export function streamCommand(b: ResolvedBucket): string {
  return `seneka stream --queue ${b.queueUrl} --table ${b.table}${b.format ? ` --format ${b.format}` : ''}${b.loadMethod ? ` --load-method ${b.loadMethod}` : ''}`
}
