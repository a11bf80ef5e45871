import t from 'tap'
import { existsSync } from 'node:fs'
import { runDemo, DEMO_BOXES } from '../daemon/demo.js'
import { getJson } from './helpers/sse.js'

t.test('the demo runs two 800hu boxes against its ingest listener and cleans its data directory up', async (t) => {
  let banner = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((s: string | Uint8Array) => ((banner += String(s)), true)) as typeof process.stdout.write
  let stop: () => Promise<void>
  try {
    stop = await runDemo({ apiPort: 0, lqPort: 0, logLevel: 'fatal' })
  } finally {
    process.stdout.write = write
  }
  const api = /Channels: +curl -s (http:\/\/127\.0\.0\.1:\d+)\/v1\/channels/.exec(banner)?.[1]
  const dataDir = /Recordings are written to (\S+) \(deleted/.exec(banner)?.[1]
  t.ok(api, 'API URL in the banner')
  t.ok(dataDir && existsSync(dataDir), 'a temporary data directory')
  t.match(banner, /post to the box listener at http:\/\/127\.0\.0\.1:\d+/)
  let devices: any[] = []
  const deadline = Date.now() + 10000
  for (;;) {
    const r = await getJson(`${api}/v1/devices`)
    devices = r.body.devices ?? []
    if (devices.length === 2 && devices.every((d: any) => d.online && d.channels.length === 4)) break
    if (Date.now() > deadline) throw new Error(`boxes not online: ${JSON.stringify(r.body).slice(0, 300)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  t.same(
    devices.map((d: any) => d.mac),
    [...DEMO_BOXES],
  )
  t.same(
    devices.map((d: any) => d.name),
    ['Front desk', 'Sales'],
  )
  await stop!()
  t.notOk(existsSync(dataDir!), 'data directory removed on stop')
})
