// Preloaded into a benchmarked process (`node --import`): at exit it writes its resource usage (CPU of every
// thread, peak RSS) to the file named by SENEKA_USAGE_FILE.
import {writeFileSync} from 'node:fs'

const file = process.env.SENEKA_USAGE_FILE
if (file) {
  process.on('exit', () => {
    const ru = process.resourceUsage()
    writeFileSync(file, JSON.stringify({cpuMs: (ru.userCPUTime + ru.systemCPUTime) / 1000, maxRssMiB: ru.maxRSS / 1024}))
  })
}
