import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {ExitCode, exitCodeHelp} from '../../lib/exit-codes.js'
import {cutoverFlags, cutoverOptions} from '../../flags/cutover.js'
import {openCutover, renderRollback, type RollbackResult, runRollback} from '../../lib/cutover/index.js'

export default class CutoverRollback extends BaseCommand<typeof CutoverRollback, RollbackResult> {
  static override summary = 'Roll a bucket back: restore its snapshotted configuration exactly and set its mode back.'

  static override description = `To batch (the default): puts back the notification configuration snapshotted before the first apply (byte-identical), removes seneka's statement from the queue policy (other statements are kept), deletes the transfer job and the GCS notification, Pub/Sub subscriptions and topics seneka created (never ones that existed before), and records the bucket as batch so the hourly job loads it again. --to shadow (from event-driven) only turns the batch path back on and leaves the event-driven leg running.

If someone changed the bucket's notification configuration after seneka's apply, rollback refuses (restoring would drop their change) unless --force.

${exitCodeHelp([
  [ExitCode.OK, 'rolled back (or, with --dry-run, the actions were shown)'],
  [ExitCode.ERROR, 'nothing to roll back, or the rollback could not start'],
  [ExitCode.USAGE, 'bad flags'],
  [ExitCode.PARTIAL_FAILURE, 'an action failed; what was restored is listed; run rollback again'],
  [ExitCode.CONFLICT, 'someone else holds the state, or the configuration changed after apply (see --force)'],
])}`

  static override examples = [
    {description: 'Preview a rollback:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs --dry-run'},
    {description: 'Roll back to batch:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs'},
    {description: 'Turn the batch path back on, keep the event-driven leg:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs --to shadow --reason "late rows in the stream path"'},
  ]

  static override flags = {
    ...cutoverFlags,
    bucket: Flags.string({required: true, summary: 'The bucket to roll back.'}),
    to: Flags.option({options: ['batch', 'shadow'] as const, default: 'batch' as const, summary: 'Mode to go back to.'})(),
    'dry-run': Flags.boolean({summary: 'Show what would be restored; change nothing.'}),
    force: Flags.boolean({summary: 'Restore the snapshot even if the configuration changed after apply.'}),
    reason: Flags.string({summary: 'Why; recorded in the state history.'}),
  }

  async run(): Promise<RollbackResult> {
    const {flags} = this
    const ctx = await openCutover(this.settings, cutoverOptions(flags))
    try {
      const result = await runRollback(ctx, flags.bucket, {to: flags.to, dryRun: flags['dry-run'], force: flags.force, reason: flags.reason})
      if (!this.jsonEnabled()) this.log(renderRollback(result))
      if (result.exitCode !== ExitCode.OK) process.exitCode = result.exitCode
      return result
    } finally {
      ctx.close()
    }
  }
}
