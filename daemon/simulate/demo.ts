import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BoxSimulator } from '../../devices/800hu/simulator.js'
import { parseConfig } from '../config.js'
import { Daemon } from '../daemon.js'
import { createLogger } from '../log.js'
import { LqSimulator } from './lq.js'

/** The demo's two 800hu boxes (allowed in its config; 4 RJ11 ports each). */
export const DEMO_BOXES = ['00:00:00:00:00:01', '00:00:00:00:00:02'] as const

/**
 * The daemon against its built-in simulators: one LQ server and two agents' socket links, plus two
 * 800hu recording boxes posting line states, uploading WAV recordings and long-polling for
 * commands, so a newcomer sees pops, channels and recordings arrive within seconds. Recordings go
 * to a temporary data directory that is deleted when the demo stops (they are generated tones).
 */
export async function runDemo(opts: { apiPort: number; lqPort: number; logLevel: string }): Promise<() => Promise<void>> {
  const log = createLogger(opts.logLevel)
  const sim = new LqSimulator({ port: opts.lqPort, rate: 0.5, popVer: 'mixed', agents: ['801', '802'], trySeconds: 5 }, log.child({ component: 'lq-simulator' }))
  const lqPort = await sim.start()
  const dataDir = mkdtempSync(join(tmpdir(), 'telbridge-demo-'))
  let daemon: Daemon
  let url: string
  let ingestUrl: string | null
  try {
    const config = parseConfig({
      api: { host: '127.0.0.1', port: opts.apiPort },
      log: { level: opts.logLevel },
      timeZone: 'Asia/Shanghai',
      // the box listener on loopback only, on a free port: the demo's boxes are in this process
      ingest: { host: '127.0.0.1', port: 0 },
      dataDir,
      boxes: { allow: [...DEMO_BOXES], names: { [DEMO_BOXES[0]]: 'Front desk', [DEMO_BOXES[1]]: 'Sales' } },
      sources: ['801', '802'].map((oper) => ({ id: `lq-${oper}`, type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper, ch: '-1', popStateSeconds: 30 })),
    })
    daemon = new Daemon(config, { log })
    ;({ apiUrl: url, ingestUrl } = await daemon.start())
  } catch (err) {
    await sim.stop()
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  const boxes = DEMO_BOXES.map(
    (mac, i) =>
      new BoxSimulator(
        { target: ingestUrl!, mac, channels: 4, intervalSeconds: 5, callRate: 3, ringSeconds: [2, 6], talkSeconds: [5, 25], ip: `192.168.1.${21 + i}` },
        log.child({ component: '800hu-simulator', mac }),
      ),
  )
  for (const b of boxes) b.start()
  process.stdout.write(`
telbridge demo is running: an LQ-Connect simulator on port ${lqPort} feeds two agents' links, and
two simulated 800hu recording boxes (4 lines each) post to the box listener at ${ingestUrl}.

  Live page:      ${url}/
  Channels:       curl -s ${url}/v1/channels
  Recent pops:    curl -s '${url}/v1/pops?limit=5'
  Event stream:   curl -N ${url}/v1/events
  Sources:        curl -s ${url}/v1/sources
  Metrics:        curl -s ${url}/metrics
  800hu boxes:    curl -s ${url}/v1/devices
  Recordings:     curl -s '${url}/v1/recordings?limit=5'
  Make box 1 dial: curl -s -X POST ${url}/v1/devices/${DEMO_BOXES[0]}/commands -H 'content-type: application/json' \\
                     -d '{"type":"dial","channel":1,"phone":"13800138000"}'

Recordings are written to ${dataDir} (deleted when the demo stops).

Ctrl-C stops it.
`)
  return async () => {
    await Promise.all(boxes.map((b) => b.stop()))
    await daemon.stop()
    await sim.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
