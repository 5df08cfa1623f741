import {afterAll, beforeAll, expect, it} from 'vitest'
import {PinnedGcsStores} from '../../../src/lib/stream/pinned-gcs.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {jsonl} from './fixtures.js'

let gcs: GcpDouble
beforeAll(async () => {
  gcs = await startGcpDouble()
})
afterAll(async () => {
  await gcs?.close()
})

it('64 concurrent reads at their generations give every byte and no MaxListenersExceededWarning', async () => {
  const warnings: Error[] = []
  const onWarning = (w: Error): void => {
    if (w.name === 'MaxListenersExceededWarning') warnings.push(w)
  }
  process.on('warning', onWarning)
  try {
    const stores = new PinnedGcsStores({gcsEndpoint: gcs.endpoint})
    const objects = Array.from({length: 64}, (_, i) => {
      gcs.putObject('pinned', `many/${i}.log`, jsonl(3000, `o${i}`))
      return {key: `many/${i}.log`, o: gcs.objects.get(`pinned/many/${i}.log`)!}
    })
    const sizes = await Promise.all(
      objects.map(async ({key, o}) => {
        let n = 0
        for await (const chunk of await stores.at('pinned', o.generation).read(key)) n += (chunk as Buffer).length
        return n
      }),
    )
    expect(sizes).toEqual(objects.map(({o}) => o.data.length))
    // warnings are emitted on the next tick: one more turn of the event loop lets them arrive
    await new Promise((r) => setImmediate(r))
    expect(warnings.map((w) => w.message)).toEqual([])
  } finally {
    process.off('warning', onWarning)
  }
})
