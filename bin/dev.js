#!/usr/bin/env node
// Development entry point: rebuild first (npm run build), then run with development-mode error output.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
