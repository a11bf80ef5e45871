/**
 * Call control through telbridge (Yantong, seed 004): what the control API adds to a dial's round
 * trip over calling the vendor directly.
 *
 * Sequential dials on 127.0.0.1 against the Yantong simulator in stateless mode (every SendDial
 * answers errno 1 and changes nothing, so each dial is the same work):
 *  - direct: `YantongClient.sendDial` (form POST, errno JSON parsed), the baseline;
 *  - source.control(): the source in-process (adds the request mapping, error mapping, the dial
 *    memory and the ExtenStatus poll it schedules);
 *  - POST /v1/calls: the daemon's API (adds fastify, JSON, body validation, routing, the timeout
 *    guard, the log line and two `call` events).
 * The kinds run interleaved in blocks of 100 so drift hits all alike; p50/p99 over all samples.
 */
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { YantongSimulator } from '../daemon/vendors/yantong/simulator.js'
import type { YantongSource } from '../daemon/vendors/yantong/source.js'
import { YantongClient } from '../protocols/yantong/index.js'
import { finish, load, roundTrips, say } from './common.js'

const BENCH = 'control'

say(`control bench: ${load()} at the start`)
const sim = new YantongSimulator({ port: 0, staff: ['8001'], stateless: true })
await sim.start()
const config = parseConfig({
  api: { port: 0 },
  sources: [{ id: 'yt', type: 'yantong', url: sim.url, companyid: 8, auth: 'yantong-demo', staff: ['8001'], pollMs: 3_600_000, cdrPollMs: 0 }],
})
const daemon = new Daemon(config, { log: pino({ level: 'silent' }) })
const { apiUrl } = await daemon.start()
const src = daemon.sources.get('yt') as YantongSource
while (src.status !== 'connected') await new Promise((r) => setTimeout(r, 10))
const direct = new YantongClient({ url: sim.url, companyid: 8, auth: 'yantong-demo' })
const body = JSON.stringify({ source: 'yt', agent: '8001', phone: '02586307627' })
const kinds: Record<string, () => Promise<void>> = {
  direct: async () => {
    await direct.sendDial({ staffid: '8001', phonenum: '02586307627' })
  },
  'source.control()': async () => {
    await src.control({ action: 'dial', source: 'yt', agent: '8001', phone: '02586307627' })
  },
  'POST /v1/calls': async () => {
    const r = await fetch(`${apiUrl}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    await r.arrayBuffer()
    if (r.status !== 202) throw new Error(`POST /v1/calls: ${r.status}`)
  },
}
await roundTrips(BENCH, 'yantong dial', kinds)
say(`  simulator requests: SendDial ${sim.sent('SendDial').length}, ExtenStatus ${sim.sent('ExtenStatus').length} (from the polls controls schedule)`)
await daemon.stop()
await sim.stop()
finish()
