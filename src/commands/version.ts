import {BaseCommand} from '../base-command.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'

export interface VersionResult {
  /** e.g. seneka/0.1.0 */
  cliVersion: string
  /** e.g. linux-x64 */
  architecture: string
  /** e.g. node-v24.21.0 */
  nodeVersion: string
}

export default class Version extends BaseCommand<typeof Version, VersionResult> {
  static override summary = 'The version of seneka, the platform and Node.js.'

  static override description = `Prints "seneka/VERSION PLATFORM-ARCH node-vVERSION" (what --version prints); with --json the same in the envelope of every command: {"status": 0, "result": {"cliVersion", "architecture", "nodeVersion"}, "warnings": []}.

${exitCodeHelp([[ExitCode.OK, 'the version was printed']])}`

  static override examples = [{description: 'As JSON:', command: '<%= config.bin %> <%= command.id %> --json'}]

  async run(): Promise<VersionResult> {
    const result: VersionResult = {cliVersion: `${this.config.name}/${this.config.version}`, architecture: `${this.config.platform}-${this.config.arch}`, nodeVersion: `node-${process.version}`}
    if (!this.jsonEnabled()) this.log(`${result.cliVersion} ${result.architecture} ${result.nodeVersion}`)
    return result
  }
}
