import {parseBatches} from '../../loader/parse-report.js'
import type {ObjectLoadRequest} from '../types.js'
import {ParsePool} from '../parse-pool.js'
import {type StageResult, stageBatches} from './stage.js'

/**
 * How DuckDB turns a load request's bytes into a staging file: in the parse workers when they run (the ALB fast
 * path included), else with the format's parser in this thread. Reports counters, rejects and the reject rule
 * (which throws before anything is committed).
 */
export async function stageRequest(req: Pick<ObjectLoadRequest, 'open' | 'format' | 'report'>, file: string): Promise<StageResult> {
  const pool = ParsePool.get()
  if (!pool) return stageBatches(parseBatches(req.open, req.format, req.report), file)
  const staged = await pool.stage(await req.open(), req.format, file, req.report.counters)
  // DuckDB parses a raw object in the commit, which reports its rejects and runs the reject rule
  if (staged.raw) return staged
  req.report.rejects(staged.rejects)
  req.report.parsed(staged.rows, staged.rejected)
  return staged
}
