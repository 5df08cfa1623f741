import {Flags} from '@oclif/core'
import {createInterface} from 'node:readline/promises'
import {BaseCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import {ExitCode, exitCodeHelp} from '../../lib/exit-codes.js'
import {existingFileArg} from '../../flags/index.js'
import {plural} from '../../lib/output/words.js'
import {cutoverFlags, cutoverOptions, selectionFlags} from '../../flags/cutover.js'
import {type ApplyResult, type CutoverPlan, openCutover, readPlanFile, renderApply, renderPlan, runApply, runPlan} from '../../lib/cutover/index.js'

export type CutoverApplyResult = {plan: CutoverPlan; dryRun: boolean; result: ApplyResult | null}

export default class CutoverApply extends BaseCommand<typeof CutoverApply, CutoverApplyResult> {
  static override summary = 'Apply a cutover plan: move buckets to their next mode, snapshotting every configuration first.'

  static override description = `Executes a saved plan (PLANFILE), or plans again and asks for confirmation (--yes for automation; without a terminal, --yes is required). Before changing a bucket it snapshots its notification configuration and the queue policy into the state document, so \`seneka cutover rollback\` can restore them exactly. Re-running is safe: actions already in place are skipped. On a failure the run stops and lists exactly what was applied.

Moving shadow -> event-driven requires the gates: a passing reconcile over the shadow window and latency p99 under the SLO. --force --reason TEXT bypasses a failed gate and records why.

Two operators cannot apply at once: the state document is written conditionally and holds a lease while apply runs.

${exitCodeHelp([
  [ExitCode.OK, 'every bucket moved (or was already there)'],
  [ExitCode.ERROR, 'could not start (bad config, unreachable endpoint, overlapping rule ...)'],
  [ExitCode.USAGE, 'bad flags, or no --yes without a terminal'],
  [ExitCode.PARTIAL_FAILURE, 'an action failed; the run stopped; what was applied is listed and recorded'],
  [ExitCode.GATE_FAILED, 'a gate failed for a shadow -> event-driven move (nothing was changed for that bucket)'],
  [ExitCode.CONFLICT, 'someone else holds the state, or the state/configuration changed since the plan'],
])}`

  static override examples = [
    {description: 'Apply a reviewed plan file:', command: '<%= config.bin %> <%= command.id %> --config seneka.json my-logs.plan.json'},
    {description: 'Plan wave 1 and apply it without asking (CI):', command: '<%= config.bin %> <%= command.id %> --config seneka.json --wave 1 --yes'},
    {description: 'Show what would be done, change nothing:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs --dry-run'},
    {description: 'Bypass a failed gate, recording why:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --bucket my-logs --yes --force --reason "latency breach explained by the 2024-05-02 incident"'},
  ]

  static override args = {
    planfile: existingFileArg('PLANFILE', 'Plan written by `seneka cutover plan --out` (omit to plan again).', 'Give the file `seneka cutover plan --out FILE` wrote, or omit PLANFILE to plan again.'),
  }

  static override flags = {
    ...cutoverFlags,
    ...selectionFlags,
    yes: Flags.boolean({char: 'y', summary: 'Apply without asking.'}),
    'dry-run': Flags.boolean({summary: 'Print the plan and change nothing.'}),
    force: Flags.boolean({summary: 'Move to event-driven even when a gate fails (needs --reason).', dependsOn: ['reason']}),
    reason: Flags.string({summary: 'Why the gates are bypassed; recorded in the state.', dependsOn: ['force']}),
  }

  async run(): Promise<CutoverApplyResult> {
    const {flags, args} = this
    if (args.planfile && (flags.wave !== undefined || flags.bucket !== undefined)) {
      throw new UsageError('--wave and --bucket select buckets for a new plan; a plan file already names its buckets.', 'Give either PLANFILE or --wave/--bucket.')
    }
    const ctx = await openCutover(this.settings, cutoverOptions(flags))
    try {
      const plan = args.planfile ? readPlanFile(args.planfile) : await runPlan(ctx, {wave: flags.wave, bucket: flags.bucket})
      if (!this.jsonEnabled()) this.log(renderPlan(plan))
      if (flags['dry-run']) return {plan, dryRun: true, result: null}
      if (!flags.yes && !args.planfile) await this.confirm(plan)
      const result = await runApply(ctx, plan, {force: flags.force, reason: flags.reason, warehouse: this.warehouseUri()})
      if (!this.jsonEnabled()) this.log(`\n${renderApply(result)}`)
      if (result.exitCode !== ExitCode.OK) process.exitCode = result.exitCode
      return {plan, dryRun: false, result}
    } finally {
      ctx.close()
    }
  }

  private async confirm(plan: CutoverPlan): Promise<void> {
    if (this.jsonEnabled() || !process.stdin.isTTY) {
      throw new UsageError('Refusing to apply without confirmation.', 'Review the plan, then pass --yes (or apply a saved plan file).')
    }
    const total = plan.totals.add + plan.totals.change + plan.totals.remove
    const rl = createInterface({input: process.stdin, output: process.stderr})
    const answer = await rl.question(`\nApply ${total === 1 ? 'this change' : `these ${plural(total, 'change')}`}? Only "yes" is accepted: `)
    rl.close()
    if (answer.trim() !== 'yes') throw new UsageError('Apply cancelled; nothing was changed.')
  }
}
