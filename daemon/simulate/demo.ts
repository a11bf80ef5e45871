import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BoxSimulator } from '../../devices/800hu/simulator.js'
import { parseConfig } from '../config.js'
import { Daemon } from '../daemon.js'
import { createLogger } from '../log.js'
import { GuoxinSimulator } from './guoxin.js'
import { LqSimulator } from './lq.js'
import { LqVackSimulator } from './lq-vack.js'
import { YantongSimulator } from './yantong.js'

/** The demo's two 800hu boxes (allowed in its config; 4 RJ11 ports each). */
export const DEMO_BOXES = ['00:00:00:00:00:01', '00:00:00:00:00:02'] as const

/**
 * The daemon against its built-in simulators: one LQ server and two agents' socket links, and (unless
 * `vendors: false`) the three call-control vendors — an LQ vack server, a Guoxin and a Yantong call
 * center, each with random calls and a source polling it — so a newcomer sees pops arrive, lines ring
 * and talk, and can place calls through POST /v1/calls within seconds. Two 800hu recording boxes
 * post line states, upload WAV recordings (into a temporary data directory deleted when the demo
 * stops) and long-poll for commands.
 */
export async function runDemo(opts: { apiPort: number; lqPort: number; logLevel: string; vendors?: boolean }): Promise<() => Promise<void>> {
  const log = createLogger(opts.logLevel)
  const vendors = opts.vendors ?? true
  const stops: (() => Promise<void>)[] = []
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
  }
  try {
    const sim = new LqSimulator({ port: opts.lqPort, rate: 0.5, popVer: 'mixed', agents: ['801', '802'], trySeconds: 5 }, log.child({ component: 'lq-simulator' }))
    const lqPort = await sim.start()
    stops.push(() => sim.stop())
    const sources: Record<string, unknown>[] = ['801', '802'].map((oper) => ({ id: `lq-${oper}`, type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper, ch: '-1', popStateSeconds: 30 }))
    let lqv: LqVackSimulator | null = null
    let gx: GuoxinSimulator | null = null
    let yt: YantongSimulator | null = null
    if (vendors) {
      lqv = new LqVackSimulator({ port: 0, agents: ['801', '802'], rate: 1 / 20, answerMs: 3000, talkMs: 12000 }, log.child({ component: 'lq-vack-simulator' }))
      gx = new GuoxinSimulator({ port: 0, extensions: ['8001', '8002', '8003', '8004'], callsPerMinute: 3, ringMs: 4000, talkMs: 15000 }, log.child({ component: 'guoxin-simulator' }))
      yt = new YantongSimulator({ port: 0, staff: ['8001', '8002', '8003'], rate: 3, ringMs: 4000, talkMs: 15000 }, log.child({ component: 'yantong-simulator' }))
      for (const v of [lqv, gx, yt]) {
        await v.start()
        stops.push(() => v.stop())
      }
      sources.push(
        { id: 'lqv', type: 'lq-vack', url: lqv.url, secret: lqv.opts.secret, pollMs: 1000 },
        { id: 'gx', type: 'guoxin', url: gx.url, pollMs: 1000 },
        { id: 'yt', type: 'yantong', url: yt.url, companyid: yt.opts.companyid, auth: yt.opts.auth, staff: yt.opts.staff, pollMs: 1000, cdrPollMs: 2000, cdrStart: 'all' },
      )
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'telbridge-demo-'))
    stops.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    const config = parseConfig({
      api: { host: '127.0.0.1', port: opts.apiPort },
      log: { level: opts.logLevel },
      timeZone: 'Asia/Shanghai',
      // boxes post here and the vendors' callbacks (Guoxin pushes, LQ custURL) come in here; loopback
      // only, on a free port: the demo's devices are in this process
      ingest: { host: '127.0.0.1', port: 0 },
      dataDir,
      boxes: { allow: [...DEMO_BOXES], names: { [DEMO_BOXES[0]]: 'Front desk', [DEMO_BOXES[1]]: 'Sales' } },
      sources,
    })
    const daemon = new Daemon(config, { log })
    const { apiUrl: url, ingestUrl } = await daemon.start()
    stops.push(() => daemon.stop())
    if (gx && ingestUrl) gx.opts.push = `${ingestUrl}/guoxin/gx/push`
    if (lqv && ingestUrl) lqv.opts.custUrl = `${ingestUrl}/lq/lqv/cust?`
    const boxes = DEMO_BOXES.map(
      (mac, i) =>
        new BoxSimulator(
          { target: ingestUrl!, mac, channels: 4, intervalSeconds: 5, callRate: 3, ringSeconds: [2, 6], talkSeconds: [5, 25], ip: `192.168.1.${21 + i}` },
          log.child({ component: '800hu-simulator', mac }),
        ),
    )
    for (const b of boxes) {
      b.start()
      stops.push(() => b.stop())
    }
    const dial = (body: string) => `curl -s -XPOST ${url}/v1/calls -H 'content-type: application/json' -d '${body}'`
    process.stdout.write(`
telbridge demo is running (an LQ-Connect simulator on port ${lqPort} feeds two agents' links${vendors ? ';\nLQ vack, Guoxin and Yantong simulators place random calls' : ''}).

  Live page:      ${url}/
  Channels:       curl -s ${url}/v1/channels
  Recent pops:    curl -s '${url}/v1/pops?limit=5'
  Event stream:   curl -N ${url}/v1/events
  Sources:        curl -s ${url}/v1/sources
  Metrics:        curl -s ${url}/metrics
  800hu boxes:    curl -s ${url}/v1/devices
  Recordings:     curl -s '${url}/v1/recordings?limit=5'
  Box 1 dials:    curl -s -XPOST ${url}/v1/devices/${DEMO_BOXES[0]}/commands -H 'content-type: application/json' -d '{"type":"dial","channel":1,"phone":"13800138000"}'
${
  vendors
    ? `  Queues:         curl -s ${url}/v1/queues
  Dial (LQ vack): ${dial('{"source":"lqv","agent":"801","phone":"02586307627"}')}
  Dial (Guoxin):  ${dial('{"source":"gx","agent":"8001","phone":"13800000000"}')}
  Dial (Yantong): ${dial('{"source":"yt","agent":"8001","phone":"13900000000"}')}
  Hang up:        curl -s -XPOST ${url}/v1/calls/hangup -H 'content-type: application/json' -d '{"source":"yt","agent":"8001"}'
  Simulators:     LQ vack ${lqv!.url}, Guoxin ${gx!.url}, Yantong ${yt!.url}
`
    : ''
}
Two simulated 800hu recording boxes (4 lines each) post to the box listener at ${ingestUrl}.
Recordings are written to ${dataDir} (deleted when the demo stops).

Ctrl-C stops it.
`)
    return stopAll
  } catch (err) {
    await stopAll()
    throw err
  }
}
