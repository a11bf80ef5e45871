import { parseConfig } from '../config.js'
import { Daemon } from '../daemon.js'
import { createLogger } from '../log.js'
import { LqSimulator } from './lq.js'

/**
 * The daemon against its built-in simulators: one LQ server and two agents' socket links, so a
 * newcomer sees pops arrive and channels change within seconds.
 */
export async function runDemo(opts: { apiPort: number; lqPort: number; logLevel: string }): Promise<() => Promise<void>> {
  const log = createLogger(opts.logLevel)
  const sim = new LqSimulator({ port: opts.lqPort, rate: 0.5, popVer: 'mixed', agents: ['801', '802'], trySeconds: 5 }, log.child({ component: 'lq-simulator' }))
  const lqPort = await sim.start()
  const config = parseConfig({
    api: { host: '127.0.0.1', port: opts.apiPort },
    log: { level: opts.logLevel },
    timeZone: 'Asia/Shanghai',
    sources: ['801', '802'].map((oper) => ({ id: `lq-${oper}`, type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper, ch: '-1', popStateSeconds: 30 })),
  })
  const daemon = new Daemon(config, { log })
  let url: string
  try {
    ;({ apiUrl: url } = await daemon.start())
  } catch (err) {
    await sim.stop()
    throw err
  }
  process.stdout.write(`
telbridge demo is running (an LQ-Connect simulator on port ${lqPort} feeds two agents' links).

  Live page:      ${url}/
  Channels:       curl -s ${url}/v1/channels
  Recent pops:    curl -s '${url}/v1/pops?limit=5'
  Event stream:   curl -N ${url}/v1/events
  Sources:        curl -s ${url}/v1/sources
  Metrics:        curl -s ${url}/metrics

Ctrl-C stops it.
`)
  return async () => {
    await daemon.stop()
    await sim.stop()
  }
}
