import {Flags} from '@oclif/core'

const SOURCES = ['inventory', 'files-from', 'plan']

/** backfill: where the plan's objects come from instead of listing the sources, and where the plan is written. */
export const planSourceFlags = {
  inventory: Flags.string({
    summary: 'Plan from an S3 Inventory instead of listing: its manifest.json (s3://... or a local path).',
    exclusive: SOURCES.filter((s) => s !== 'inventory'),
  }),
  'files-from': Flags.string({
    summary: 'Plan from a file with one key or URI per line ("-" for standard input) instead of listing.',
    exclusive: SOURCES.filter((s) => s !== 'files-from'),
  }),
  plan: Flags.string({
    summary: 'Run exactly the objects of a plan written by --dry-run --plan-out (their ETags pinned).',
    exclusive: SOURCES.filter((s) => s !== 'plan'),
  }),
  'plan-out': Flags.string({summary: 'Write the plan (URIs, keys, sizes, ETags, shard) to this CSV file, for review and a later --plan.'}),
}
