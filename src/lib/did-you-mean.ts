/**
 * "Did you mean ...?" for a mistyped command: the closest command id to the first words typed. Pure: words and
 * command ids in, a suggestion out (the oclif hook in src/hooks asks or prints it).
 */

/** Edit distance (insertions, deletions, substitutions, and a swap of two neighbours counted as one). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

export interface CommandSuggestion {
  /** the command id, words joined by ':' (oclif's form) */
  id: string
  /** how many of the typed words the command replaces; the words after them are its arguments */
  consumed: number
}

/**
 * The command closest to what was typed: each command id is compared with as many typed words as it has (so
 * `backfil demo-data/app` suggests `backfill` and keeps `demo-data/app` as its argument). None when nothing is
 * close (more than a third of the letters, at least 2, would have to change).
 */
export function suggestCommand(typed: string[], commandIds: string[]): CommandSuggestion | undefined {
  let best: (CommandSuggestion & {distance: number}) | undefined
  for (const id of commandIds) {
    const words = id.split(':')
    if (typed.length < words.length) continue
    const candidate = typed.slice(0, words.length).join(' ')
    const distance = editDistance(candidate.toLowerCase(), words.join(' '))
    const allowed = Math.max(2, Math.floor(words.join(' ').length / 3))
    if (distance > allowed) continue
    if (!best || distance < best.distance || (distance === best.distance && words.length > best.consumed)) best = {id, consumed: words.length, distance}
  }
  return best && {id: best.id, consumed: best.consumed}
}
