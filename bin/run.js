#!/usr/bin/env node
// Refuse an old Node in one sentence, before anything is imported (the AWS SDK and oclif warn about it in
// their own words otherwise). Keep in step with "engines" in package.json.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `seneka needs Node.js 22.12 or newer, and this is Node.js ${process.versions.node}: in a checkout, run \`npm ci\` and then \`npx seneka ...\` (npx uses the Node 24 the project pins), or install a newer Node.js.\n`,
  )
  process.exit(1)
}

const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
