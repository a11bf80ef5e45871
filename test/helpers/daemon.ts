import type { Daemon } from '../../daemon/daemon.js'
import type { LqSimulator, LqSimOptions } from '../../daemon/vendors/lq-socket/simulator.js'
import { daemonRig, startLqSocket } from './rig.js'
import { until } from './sse.js'

export interface Rig {
  sim: LqSimulator
  daemon: Daemon
  url: string
  stop(): Promise<void>
}

/** An LQ simulator plus a daemon wired to it, both on ephemeral 127.0.0.1 ports (built on rig.ts). */
export async function rig(opts: { sim?: Partial<LqSimOptions>; config?: Record<string, unknown>; source?: Record<string, unknown>; agents?: string[] } = {}): Promise<Rig> {
  const agents = opts.agents ?? ['801']
  const lq = await startLqSocket({ agents, ...opts.sim })
  const d = await daemonRig({
    timeZone: 'Asia/Shanghai',
    ...opts.config,
    sources: agents.map((oper, i) => ({ id: i ? `lq${i + 1}` : 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lq.port, oper, reconnectSeconds: 0.2, ...opts.source })),
  })
  await until(() => [...lq.sim.clients].filter((c) => c.registration !== null).length === agents.length, 5000, 'registrations')
  return {
    sim: lq.sim,
    daemon: d.daemon,
    url: d.api,
    async stop() {
      await d.stop()
      await lq.stop()
    },
  }
}
