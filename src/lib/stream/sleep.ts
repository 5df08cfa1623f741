/** Resolves after `ms`, or as soon as `stop` resolves. */
export function sleep(ms: number, stop?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    stop?.then(() => {
      clearTimeout(t)
      resolve()
    })
  })
}
