/** A clock the test moves (a LoaderClock): timers run when it passes their time, in time order. */
export function manualClock() {
  let now = 0
  const timers = new Map<number, {at: number; fn: () => void}>()
  let seq = 0
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      timers.set(++seq, {at: now + ms, fn})
      return seq
    },
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    advance(ms: number) {
      const until = now + ms
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0]
        if (!next || next[1].at > until) break
        timers.delete(next[0])
        now = next[1].at
        next[1].fn()
      }
      now = until
    },
  }
}
