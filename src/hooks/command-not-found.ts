import {createInterface} from 'node:readline/promises'
import type {Hook} from '@oclif/core'
import {suggestCommand} from '../lib/did-you-mean.js'
import {ExitCode} from '../lib/exit-codes.js'
import {renderErrorText} from '../lib/output/error-text.js'
import {errorEnvelope} from '../lib/output/json.js'

/**
 * A command that does not exist: "Did you mean backfill?" everywhere. On a terminal (not under --json or CI) it
 * asks, and Y runs the suggested command with every argument and flag that was typed; elsewhere (a pipe, CI,
 * --json) it prints the suggestion and exits 127 without asking, under --json as the error envelope on stdout.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const {config} = opts
  const argv = opts.argv ?? []
  // with a space as topic separator, oclif joins the words before the first flag into the id
  const typed = opts.id.split(':')
  const ids = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])
  const found = suggestCommand(typed, ids)
  const shown = (words: string[]): string => words.join(' ')
  const mistake = shown(typed.slice(0, found?.consumed ?? 1))
  const rest = [...typed.slice(found?.consumed ?? 1), ...argv]
  const suggested = found ? shown(found.id.split(':')) : undefined
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)
  const corrected = found ? `${config.bin} ${[...found.id.split(':'), ...rest].map(quote).join(' ')}` : undefined
  const message = `${mistake} is not a ${config.bin} command.${suggested ? ` Did you mean ${suggested}?` : ''}`
  const suggestion = corrected ? `Run: ${corrected} (${config.bin} help lists the commands).` : `Run ${config.bin} help for a list of the commands.`
  const json = argv.includes('--json')
  if (found && !json && process.stdin.isTTY && process.stderr.isTTY && !process.env.CI) {
    process.stderr.write(`${mistake} is not a ${config.bin} command.\n`)
    const rl = createInterface({input: process.stdin, output: process.stderr})
    // Ctrl-C (or the end of input) is a no
    rl.on('SIGINT', () => rl.close())
    const answer = await rl
      .question(`Did you mean ${suggested}? [Y/n] `)
      .catch(() => 'n')
      .finally(() => rl.close())
    if (/^\s*(y|yes)?\s*$/i.test(answer)) return config.runCommand(found.id, rest)
  }
  if (json) process.stdout.write(`${JSON.stringify(errorEnvelope({name: 'CommandNotFound', message, exitCode: ExitCode.COMMAND_NOT_FOUND, suggestion}, []), null, 2)}\n`)
  else process.stderr.write(`${renderErrorText({message, suggestion})}\n`)
  this.exit(ExitCode.COMMAND_NOT_FOUND)
}

export default hook
