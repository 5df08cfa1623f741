/**
 * The planning child process (plan-process.ts): reads a plan's candidates into the plan database folder it is
 * given, sends progress lines and then the result (or the error) to the parent, closes the database and exits.
 */
import {readCandidates} from './listed-plan.js'
import {PLAN_READ_MEMORY_LIMIT, PlanDb} from './plan-db.js'
import {type FromPlanChild, serializeError, type ToPlanChild} from './plan-process.js'

const send = (m: FromPlanChild): Promise<void> => new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()))

// Ctrl-C reaches the whole process group: the parent decides (an interrupted run still finishes its plan), and
// this process ends with the parent (the IPC channel closes)
process.on('SIGINT', () => {})
process.once('disconnect', () => process.exit(1))

process.once('message', async (m: ToPlanChild) => {
  let db: PlanDb | undefined
  try {
    db = await PlanDb.open(m.dir, m.input.from.kind === 'inventory' ? {memoryLimit: PLAN_READ_MEMORY_LIMIT} : {})
    const result = await readCandidates(db, m.input, {
      stdin: m.input.from.kind === 'files' && m.input.from.file === '-' ? process.stdin : undefined,
      onProgress: (line) => void send({type: 'progress', line}),
    })
    // written to the file, not left in the write-ahead log for the parent to replay
    await db.run('CHECKPOINT')
    await db.close({keep: true})
    db = undefined
    await send({type: 'done', result, maxRssKiB: process.resourceUsage().maxRSS})
  } catch (err) {
    // the parent removes the folder
    await db?.close({keep: true}).catch(() => {})
    await send({type: 'error', error: serializeError(err)})
  }
  process.exit(0)
})
