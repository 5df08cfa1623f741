import os from 'node:os'
import {format} from 'node:util'
import {Flags} from '@oclif/core'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {BaseCommand} from '../src/base-command.js'
import {UsageError} from '../src/lib/errors.js'
import {ROOT} from './helpers/cli.js'

/** A command with the shared base and a little behaviour to drive from the tests. */
class Probe extends BaseCommand<typeof Probe, {ok: boolean}> {
  static override flags = {
    mode: Flags.option({options: ['ok', 'warn', 'usage', 'sdk', 'signature', 'crash'] as const, required: true})(),
  }

  async run(): Promise<{ok: boolean}> {
    switch (this.flags.mode) {
      case 'warn':
        this.info('Estimated 1.2 GiB scanned, about $0.01.')
        this.warn('the staging bucket is in another location')
        return {ok: true}
      case 'usage':
        throw new UsageError('--key has an empty part.', 'Give each key column once, e.g. --key partition,offset.')
      case 'sdk':
        // what the AWS SDK raises for an XML error body: every element copied onto the error
        throw Object.assign(new Error('Something the SDK says.'), {name: 'WeirdServiceError', AWSAccessKeyId: 'AKIAEXAMPLEKEY123456', StringToSign: 'AWS4-HMAC-SHA256\n20240501T000000Z', $metadata: {httpStatusCode: 418}})
      case 'signature':
        throw Object.assign(new Error('The request signature we calculated does not match the signature you provided. Check your key and signing method.'), {
          name: 'SignatureDoesNotMatch',
          AWSAccessKeyId: 'AKIAEXAMPLEKEY123456',
          StringToSign: 'AWS4-HMAC-SHA256\n20240501T000000Z\nsecret-ish',
          CanonicalRequest: 'GET /bucket',
          $fault: 'client',
          $metadata: {httpStatusCode: 403, attempts: 1},
        })
      case 'crash':
        throw new TypeError('Cannot read properties of undefined (reading "x")')
      default:
        return {ok: true}
    }
  }
}
Probe.id = 'probe'

interface Captured {
  stdout: string
  stderr: string
  thrown?: Error
}

async function run(...argv: string[]): Promise<Captured> {
  let stdout = ''
  let stderr = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true))
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true))
  // oclif's ux writes through console.log / console.error
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (stdout += `${format(...a)}\n`))
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (stderr += `${format(...a)}\n`))
  let thrown: Error | undefined
  try {
    await Probe.run(argv, ROOT)
  } catch (e) {
    thrown = e as Error
  } finally {
    for (const spy of [out, err, log, error]) spy.mockRestore()
  }
  return {stdout, stderr, thrown}
}

afterEach(() => {
  process.exitCode = undefined
})

describe('BaseCommand --json envelope', () => {
  it('a success is {status, result, warnings}', async () => {
    const r = await run('--mode', 'ok', '--json')
    expect(JSON.parse(r.stdout)).toEqual({status: 0, result: {ok: true}, warnings: []})
  })

  it('a warning goes to stderr and into the document; info lines go to stderr under --json too', async () => {
    const r = await run('--mode', 'warn', '--json')
    expect(JSON.parse(r.stdout)).toEqual({status: 0, result: {ok: true}, warnings: ['the staging bucket is in another location']})
    expect(r.stderr).toContain('Warning: the staging bucket is in another location')
    expect(r.stderr).toContain('Estimated 1.2 GiB scanned')
  })

  it('without --json the warning is on stderr once; --log-level error silences it', async () => {
    const r = await run('--mode', 'warn')
    expect(r.stderr.match(/Warning: the staging bucket/g)).toHaveLength(1)
    expect(r.stdout).not.toContain('Warning')
    const quiet = await run('--mode', 'warn', '--log-level', 'error')
    expect(quiet.stderr).toBe('')
  })

  it('a user error is {status, error: {name, message, exitCode, suggestion}, warnings}', async () => {
    const r = await run('--mode', 'usage', '--json')
    expect(JSON.parse(r.stdout)).toEqual({
      status: 2,
      error: {name: 'UsageError', message: '--key has an empty part.', exitCode: 2, suggestion: 'Give each key column once, e.g. --key partition,offset.'},
      warnings: [],
    })
    expect(process.exitCode).toBe(2)
  })

  it('a parse error (missing or unknown flag) is the same small document, without the parser context', async () => {
    for (const argv of [['--json'], ['--mode', 'ok', '--bogus', '--json']]) {
      const r = await run(...argv)
      const doc = JSON.parse(r.stdout)
      expect(Object.keys(doc).sort()).toEqual(['error', 'status', 'warnings'])
      expect(Object.keys(doc.error).sort()).toEqual(['exitCode', 'message', 'name', 'suggestion'])
      expect(doc).toMatchObject({status: 2, error: {name: 'UsageError', exitCode: 2, suggestion: 'See seneka probe --help.'}})
      expect(doc.error.message).toMatch(/^(Missing required flag mode|Nonexistent flag: --bogus)$/)
      expect(r.stdout.length).toBeLessThan(500)
      expect(r.stdout).not.toContain(os.homedir())
    }
  })

  it('an SDK error never carries its other fields (echoed access key, string to sign)', async () => {
    const r = await run('--mode', 'sdk', '--json')
    const doc = JSON.parse(r.stdout)
    expect(doc).toEqual({
      status: 1,
      error: {name: 'WeirdServiceError', message: 'Unexpected error: Something the SDK says.', exitCode: 1, suggestion: expect.stringContaining('--log-level debug')},
      warnings: [],
    })
    expect(r.stdout).not.toContain('AKIA')
    expect(r.stdout).not.toContain('AWS4-HMAC')
  })

  it('S3 SignatureDoesNotMatch is one sentence with what to do, human and --json', async () => {
    const j = await run('--mode', 'signature', '--json')
    const doc = JSON.parse(j.stdout)
    expect(doc.status).toBe(1)
    expect(doc.error).toEqual({name: 'UserError', message: expect.stringMatching(/^AWS rejected the request signature \(SignatureDoesNotMatch\)/), exitCode: 1, suggestion: expect.stringContaining('AWS_SECRET_ACCESS_KEY')})
    expect(j.stdout).not.toMatch(/AKIA|AWS4-HMAC|CanonicalRequest/)
    const h = await run('--mode', 'signature')
    expect(h.thrown?.message).toMatch(/^AWS rejected the request signature/)
    expect(h.thrown?.message).not.toContain('Unexpected error')
  })

  it('an unexpected error says so, with the debug hint, and exit code 1', async () => {
    const r = await run('--mode', 'crash')
    expect(r.thrown?.message).toBe('Unexpected error: Cannot read properties of undefined (reading "x")')
    expect((r.thrown as {oclif?: {exit?: number}}).oclif?.exit).toBe(1)
  })
})
