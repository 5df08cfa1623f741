const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes(bytes: number): string {
  let v = bytes
  let i = 0
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${UNITS[i]}`
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return `- ${unit}/s`
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M ${unit}/s`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k ${unit}/s`
  return `${perSecond.toFixed(1)} ${unit}/s`
}
