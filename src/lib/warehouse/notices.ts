/**
 * Where the warehouse layer tells the person running seneka something while it works (for now: that it waits
 * for another process to release a DuckDB file). The command layer points it at its stderr info line once per
 * process; library callers may pass their own per open (OpenWarehouseOptions.onLockWait). Silent by default.
 */
let sink: ((message: string) => void) | undefined

export function setWarehouseNotice(fn: ((message: string) => void) | undefined): void {
  sink = fn
}

export function warehouseNotice(message: string): void {
  sink?.(message)
}
