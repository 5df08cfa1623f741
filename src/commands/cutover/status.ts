import {BaseCommand} from '../../base-command.js'
import {ExitCode, exitCodeHelp} from '../../lib/exit-codes.js'
import {cutoverFlags, cutoverOptions, selectionFlags} from '../../flags/cutover.js'
import {openCutover, renderStatus, runStatus, type StatusResult} from '../../lib/cutover/index.js'

export default class CutoverStatus extends BaseCommand<typeof CutoverStatus, StatusResult> {
  static override summary = 'Show each bucket\'s cutover mode, wave, since when, by whom and last gate results.'

  static override description = `Reads the state document (nothing else). Buckets in the config file but not in the state are in batch mode. With --json, every bucket carries skipBatch: true when the hourly batch job must skip it (mode event-driven).

${exitCodeHelp([
  [ExitCode.OK, 'the state was read'],
  [ExitCode.ERROR, 'the state or config cannot be read, or --bucket/--wave selects no bucket'],
  [ExitCode.USAGE, 'bad flags'],
])}`

  static override examples = [
    {description: 'All buckets:', command: '<%= config.bin %> <%= command.id %> --config seneka.json'},
    {description: 'Buckets the batch job must skip, for a script:', command: '<%= config.bin %> <%= command.id %> --config seneka.json --json | jq -r \'.result.buckets[] | select(.skipBatch) | .bucket\''},
  ]

  static override flags = {...cutoverFlags, ...selectionFlags}

  async run(): Promise<StatusResult> {
    const {flags} = this
    const ctx = await openCutover(this.settings, cutoverOptions(flags))
    try {
      const status = await runStatus(ctx, {wave: flags.wave, bucket: flags.bucket})
      if (!this.jsonEnabled()) this.log(renderStatus(status))
      return status
    } finally {
      ctx.close()
    }
  }
}
