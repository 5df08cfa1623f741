import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {ExitCode, exitCodeHelp} from '../../lib/exit-codes.js'
import {cutoverFlags, cutoverOptions, selectionFlags} from '../../flags/cutover.js'
import {type CutoverPlan, openCutover, renderPlan, runPlan} from '../../lib/cutover/index.js'

export default class CutoverPlanCommand extends BaseCommand<typeof CutoverPlanCommand, CutoverPlan> {
  static override summary = 'Show every action needed to move buckets to their next mode; changes nothing.'

  static override description = `Like a Terraform plan: for each selected bucket (batch -> shadow -> event-driven), lists the actions with their before and after: the S3 notification configuration gaining a queue configuration for s3:ObjectCreated:* (merged with the existing queue, topic and Lambda configurations), the SQS queue policy statement allowing the bucket, the event-driven leg (seneka stream, a Storage Transfer Service event-driven job, and the GCS -> Pub/Sub leg: topic, dead-letter topic and its subscription, the subscription with a dead-letter policy, the GCS notification) and the state change, then the IAM bindings the leg needs (seneka grants none). It only reads (GetBucketNotificationConfiguration, GetQueueAttributes, and the GCS notifications, topics and subscriptions). Save the plan with --out and apply exactly that plan with \`seneka cutover apply FILE\`.

${exitCodeHelp([
  [ExitCode.OK, 'the plan was computed'],
  [ExitCode.ERROR, 'a bucket cannot be moved (overlapping notification rule, FIFO queue, access denied ...)'],
  [ExitCode.USAGE, 'bad flags'],
])}`

  static override examples = [
    {description: 'Plan wave 0 (staging):', command: '<%= config.bin %> <%= command.id %> --config seneka.json --wave 0'},
    {description: 'Plan one bucket and save the plan for review and apply:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs --out my-logs.plan.json'},
  ]

  static override flags = {
    ...cutoverFlags,
    ...selectionFlags,
    out: Flags.string({summary: 'Write the plan to this file (apply it with `seneka cutover apply FILE`).'}),
  }

  async run(): Promise<CutoverPlan> {
    const {flags} = this
    const ctx = await openCutover(this.settings, cutoverOptions(flags))
    try {
      const plan = await runPlan(ctx, {wave: flags.wave, bucket: flags.bucket, out: flags.out})
      if (!this.jsonEnabled()) this.log(renderPlan(plan))
      if (flags.out) this.info(`Plan written to ${flags.out}; apply it with: seneka cutover apply ${flags.out}`)
      return plan
    } finally {
      ctx.close()
    }
  }
}
