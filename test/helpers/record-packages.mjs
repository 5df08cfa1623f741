// Loaded with --import: appends every package a process resolves (ESM) to the file in SENEKA_TEST_PACKAGES.
import {register} from 'node:module'

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import {appendFileSync} from 'node:fs'
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url)
  if (m && process.env.SENEKA_TEST_PACKAGES) appendFileSync(process.env.SENEKA_TEST_PACKAGES, m[1] + '\\n')
  return r
}`),
)
