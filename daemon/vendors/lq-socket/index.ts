import { untilSignal } from '../../core/cmd.js'
import { createLogger } from '../../core/log.js'
import type { VendorModule } from '../../core/module.js'
import { lqSocketSchema, type LqSocketConfig } from './config.js'
import { checkLqServer, LqServer, lqServerSchema, type LqServerConfig } from './server.js'
import { LqSimulator, parseLqSimOptions } from './simulator.js'
import { LqSocketSource } from './source.js'

/**
 * 小灵呼 LQ-Connect over TCP (seed 002): one `lq-socket` source per agent's link, and the optional
 * `lqServer` that serves legacy desktop clients the pops of any source.
 */
export const lqSocketModule: VendorModule = {
  name: 'lq-socket',
  summary: "小灵呼 LQ-Connect screen-pop socket (an agent's link to the LQ server), and the LQ server for legacy desktops",
  source: { schema: lqSocketSchema, create: (c: LqSocketConfig, ctx) => new LqSocketSource(c, ctx) },
  settings: { lqServer: lqServerSchema },
  check(config) {
    checkLqServer(config.lqServer as LqServerConfig | undefined, new Set(config.sources.map((s) => s.id)), config.api)
  },
  service(ctx) {
    const cfg = ctx.config.lqServer as LqServerConfig | undefined
    return cfg ? new LqServer(cfg, ctx.pops, ctx.bus, ctx.log.child({ component: 'lq-server' }), ctx.metrics) : null
  },
  commands: {
    'simulate lq': {
      usage: `Usage: telbridge simulate lq [--host 127.0.0.1] [--port 7628] [--pop-ver t1v5] [--rate 2]
                           [--channels 8] [--agents 801,802,803,804] [--try-seconds 5] [--time-zone Asia/Shanghai]

An LQ-Connect server: accepts registrations, sends TRY_REQ every --try-seconds, and sends
realistic GBK pops (Chinese da values included) at --rate pops per second, in --pop-ver format
(t1v1, t1v2, t1v3, t1v4, t1v5 or mixed).`,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '7628' },
        'pop-ver': { type: 'string', default: 't1v5' },
        rate: { type: 'string', default: '2' },
        channels: { type: 'string', default: '8' },
        agents: { type: 'string', default: '801,802,803,804' },
        'try-seconds': { type: 'string', default: '5' },
        'time-zone': { type: 'string' },
      },
      async run(v) {
        const sim = new LqSimulator(parseLqSimOptions(v), createLogger('info'))
        const port = await sim.start()
        process.stderr.write(`LQ simulator listening on ${String(v.host)}:${port}\n`)
        await untilSignal(sim)
        return 0
      },
    },
  },
  async demo(ctx) {
    const sim = new LqSimulator({ port: ctx.lqPort, rate: 0.5, popVer: 'mixed', agents: ['801', '802'], trySeconds: 5 }, ctx.log.child({ component: 'lq-simulator' }))
    const port = await sim.start()
    return {
      sources: ['801', '802'].map((oper) => ({ id: `lq-${oper}`, type: 'lq-socket', host: '127.0.0.1', port, oper, ch: '-1', popStateSeconds: 30 })),
      lines: () => [`LQ-Connect simulator on port ${port} (two agents' links, lq-801 and lq-802)`],
      stop: () => sim.stop(),
    }
  },
}
