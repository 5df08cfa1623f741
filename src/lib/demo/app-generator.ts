/**
 * A small set of JSON-lines application logs as a Kafka consumer writes them (one file per partition and
 * hour, each record with its topic, partition and offset), with one redelivered batch: a few records written
 * again into the next file, as at-least-once delivery does. For the demo and the README's examples.
 */
export function generateAppLogFiles(opts: {start?: Date; hours?: number; partitions?: number; perFile?: number} = {}): Array<{key: string; body: string; lines: number}> {
  const start = (opts.start ?? new Date('2024-05-01T00:00:00Z')).getTime()
  const hours = opts.hours ?? 24
  const partitions = opts.partitions ?? 2
  const perFile = opts.perFile ?? 20
  const files: Array<{key: string; body: string; lines: number}> = []
  for (let p = 0; p < partitions; p++) {
    let offset = 0
    let redelivered: string[] = []
    for (let h = 0; h < hours; h++) {
      const lines = [...redelivered]
      redelivered = []
      for (let i = 0; i < perFile; i++) {
        const ts = new Date(start + h * 3600_000 + i * Math.floor(3600_000 / perFile)).toISOString()
        lines.push(JSON.stringify({ts, level: i % 7 === 0 ? 'warn' : 'info', message: `order ${offset} processed`, topic: 'orders', partition: p, offset}))
        offset++
      }
      // the consumer crashed before committing its last 3 offsets of hour 5: they come again in hour 6
      if (h === 5 && p === 0) redelivered = lines.slice(-3)
      const d = new Date(start + h * 3600_000).toISOString()
      files.push({key: `${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/orders-p${p}-${d.slice(11, 13)}.jsonl`, body: `${lines.join('\n')}\n`, lines: lines.length})
    }
  }
  return files
}
