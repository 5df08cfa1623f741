// Lets the benchmarks load the TypeScript test doubles (test/helpers/*.ts) with Node's own type stripping: a
// relative import of a .js file that does not exist resolves to the .ts file beside it (the sources import
// with .js extensions, as NodeNext wants). Registered with `node --import ./bench/lib/ts-hooks.mjs`.
import {registerHooks} from 'node:module'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

registerHooks({
  resolve(specifier, context, next) {
    if ((specifier.startsWith('.') || specifier.startsWith('/')) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      const url = new URL(specifier, context.parentURL)
      if (!existsSync(fileURLToPath(url))) return next(specifier.replace(/\.js$/, '.ts'), context)
    }
    return next(specifier, context)
  },
})
