import { pino } from 'pino'
import { parseConfig } from '../../daemon/config.js'
import { Daemon } from '../../daemon/daemon.js'
import { LqSimulator, type LqSimOptions } from '../../daemon/vendors/lq-socket/simulator.js'
import { until } from './sse.js'

export interface Rig {
  sim: LqSimulator
  daemon: Daemon
  url: string
  stop(): Promise<void>
}

/** An LQ simulator plus a daemon wired to it, both on ephemeral 127.0.0.1 ports. */
export async function rig(opts: { sim?: Partial<LqSimOptions>; config?: Record<string, unknown>; source?: Record<string, unknown>; agents?: string[] } = {}): Promise<Rig> {
  const agents = opts.agents ?? ['801']
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 0, agents, ...opts.sim })
  const lqPort = await sim.start()
  const config = parseConfig({
    timeZone: 'Asia/Shanghai',
    ...opts.config,
    api: { port: 0, ...(opts.config?.api as object) },
    sources: agents.map((oper, i) => ({ id: i ? `lq${i + 1}` : 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper, reconnectSeconds: 0.2, ...opts.source })),
  })
  const daemon = new Daemon(config, { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) })
  const { apiUrl } = await daemon.start()
  await until(() => [...sim.clients].filter((c) => c.registration !== null).length === agents.length, 5000, 'registrations')
  return {
    sim,
    daemon,
    url: apiUrl,
    async stop() {
      await daemon.stop()
      await sim.stop()
    },
  }
}
