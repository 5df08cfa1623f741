// Writes oclif.manifest.json after a build: with it, `seneka CMD` imports only CMD's module (and its SDKs)
// instead of every command of the suite, which oclif does to list them when no manifest exists.
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Config} from '@oclif/core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const manifestFile = path.join(root, 'oclif.manifest.json')
const config = await Config.load({root, ignoreManifest: true})
const plugin = config.plugins.get(config.pjson.name)
if (!plugin) throw new Error(`plugin ${config.pjson.name} not found`)
const {manifest} = plugin
for (const [id, cmd] of Object.entries(manifest.commands)) {
  // what oclif's own manifest generator records, so the command module is loaded straight from its path
  cmd.isESM = true
  const parts = id.split(':')
  cmd.relativePath = ['dist', 'commands', ...parts.slice(0, -1), `${parts.at(-1)}.js`]
}
writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`)
console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`)
