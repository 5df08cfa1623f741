import {type DuckDBAppender, type DuckDBConnection, type DuckDBDataChunk, DuckDBInstance, type DuckDBValue} from '@duckdb/node-api'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {alive} from '../warehouse/duckdb/file-lease.js'

const PREFIX = 'seneka-plan-'

/** Plan folders of processes that are gone (killed runs). */
function removeLeftovers(): void {
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1])
    if (!pid || pid === process.pid || alive(pid)) continue
    rmSync(path.join(os.tmpdir(), name), {recursive: true, force: true})
  }
}

/**
 * DuckDB's memory while planning: rows beyond it spill to the plan database's temporary folder. 64 MB fits the
 * reads and the selection, but not the ledger join of 10M planned objects against 9M entries (bench/inventory).
 */
const PLAN_MEMORY_LIMIT = '128MB'
/**
 * The planning child's when it reads an inventory (one data file at a time through the selection): the reads, the
 * selection and the join back of one data file fit, and the child's peak was about 60 MiB lower than with 128 MB
 * (bench/inventory, 1M and 10M objects). A file list or a plan is one table of every candidate: the
 * de-duplication of a 10M-key file list runs out of memory at 64 MB, so they keep PLAN_MEMORY_LIMIT.
 */
export const PLAN_READ_MEMORY_LIMIT = '64MB'

/**
 * A temporary embedded DuckDB database that holds a large plan (inventory rows, the ledger, the planned objects):
 * in memory up to a bound, beyond it in its file and a spill folder, so planning, the ledger diff and the plan's
 * output work in bounded memory whatever the object count, and the rows come back sorted, a chunk at a time. Removed on close; folders left by killed runs are removed on the next open.
 */
export class PlanDb {
  private constructor(
    readonly dir: string,
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    /** appenders write on their own connection: a result streamed on `conn` meanwhile stays valid */
    private readonly writer: DuckDBConnection,
  ) {}

  /**
   * A new plan folder in the temporary folder, named after this process (removed by a later run once the process
   * is gone); folders of processes that are gone are removed first.
   */
  static makeDir(): string {
    removeLeftovers()
    return mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`))
  }

  /**
   * Opens the plan database: a new one in a new folder, or the one in `dir` (made by makeDir, possibly written by
   * another process: the planning child of listed-plan.ts). The folder is removed on close, and if opening fails.
   */
  static async open(dir: string = PlanDb.makeDir(), opts: {memoryLimit?: string} = {}): Promise<PlanDb> {
    try {
      // a file, not ':memory:': DuckDB can evict a file's table blocks when memory is short, not in-memory ones
      const instance = await DuckDBInstance.create(path.join(dir, 'plan.duckdb'), {
        memory_limit: process.env.SENEKA_PLAN_MEMORY_LIMIT || opts.memoryLimit || PLAN_MEMORY_LIMIT,
        temp_directory: path.join(dir, 'spill'),
        preserve_insertion_order: 'false',
      })
      return new PlanDb(dir, instance, await instance.connect(), await instance.connect())
    } catch (err) {
      rmSync(dir, {recursive: true, force: true})
      throw err
    }
  }

  /** a file name inside the plan's temporary folder */
  file(name: string): string {
    return path.join(this.dir, name)
  }

  async run(sql: string, params?: Record<string, DuckDBValue>): Promise<void> {
    await this.conn.run(sql, params)
  }

  /**
   * Runs fn with DuckDB on one thread: each thread of a read, a join or an insert holds its own buffers, hash
   * partitions and row groups beside the pool, and memory freed after them stays with the process.
   */
  async oneThread<T>(fn: () => Promise<T>): Promise<T> {
    await this.conn.run(`SET threads = 1`)
    try {
      return await fn()
    } finally {
      await this.conn.run(`RESET threads`)
    }
  }

  /** a small result (counts, sums, per-day rows) as plain objects */
  async all(sql: string, params?: Record<string, DuckDBValue>): Promise<Array<Record<string, unknown>>> {
    const reader = await this.conn.runAndReadAll(sql, params)
    return reader.getRowObjectsJS() as Array<Record<string, unknown>>
  }

  /** a large result, one DuckDB chunk (about 2,048 rows) at a time: never held whole */
  async *chunks(sql: string, params?: Record<string, DuckDBValue>): AsyncIterable<DuckDBDataChunk> {
    const result = await this.conn.stream(sql, params)
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) yield chunk
  }

  async appender(table: string): Promise<DuckDBAppender> {
    return this.writer.createAppender(table)
  }

  /** Closes the database and removes its folder; `keep`: closes it only (another process opens it next). */
  async close(opts: {keep?: boolean} = {}): Promise<void> {
    try {
      this.conn.closeSync()
      this.writer.closeSync()
      this.instance.closeSync()
    } finally {
      if (!opts.keep) rmSync(this.dir, {recursive: true, force: true})
    }
  }
}

/** A SQL string literal (file paths given to read_csv / read_parquet / COPY, which take no parameters). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
