import { untilSignal } from '../../core/cmd.js'
import { createLogger } from '../../core/log.js'
import type { VendorModule } from '../../core/module.js'
import { guoxinApiRoutes } from './api.js'
import { guoxinSchema, type GuoxinConfig } from './config.js'
import { guoxinDemoDay } from './demo.js'
import { GuoxinSimulator, parseGuoxinSimOptions } from './simulator.js'
import { GuoxinSource } from './source.js'

/** 国信 Guoxin call center (seed 001): EXTNUM_STATE polling, call control, push callbacks, recordings and call log. */
export const guoxinModule: VendorModule = {
  name: 'guoxin',
  summary: '国信 Guoxin call center over HTTP: extension states, call control, push callbacks, recordings and call log',
  source: { schema: guoxinSchema, create: (c: GuoxinConfig, ctx) => new GuoxinSource(c, ctx) },
  apiRoutes: (ctx) => guoxinApiRoutes(ctx.sources),
  ingestNeeds: (config) =>
    config.sources
      .filter((s) => s.type === 'guoxin')
      .map(
        (s) =>
          `source ${s.id}: the Guoxin server pushes call states to ${(s as { pushPath?: string }).pushPath ?? `/guoxin/${s.id}/push`} on the ingest listener; without it only the EXTNUM_STATE polls see them`,
      ),
  commands: {
    'simulate guoxin': {
      usage: `Usage: telbridge simulate guoxin [--host 127.0.0.1] [--port 12121] [--extensions 8001-8008]
                               [--push http://127.0.0.1:7701/guoxin/gx/push] [--encoding utf-8]
                               [--ring-seconds 3] [--talk-seconds 15] [--calls-per-minute 0]
                               [--supervisors 8008]

A 国信 Guoxin call center (seed 001): /bridge/callctrl?opt=… answered with the documented HTTP
status codes, /bridge/jsoncfg?opt=EXTNUM_STATE, and a push callback (GET on --push) on every state
change. Dial → the agent's phone → the customer rings → talking → idle, each step --ring-seconds
apart; calls last --talk-seconds (0: until hung up). Finished calls appear in CALL_LOG_QUERY and
have a recording at /Oms/FileDownServlet?callid=…. --supervisors may monitor, barge and
force-hang-up (default: the last extension). --calls-per-minute starts random calls.`,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '12121' },
        extensions: { type: 'string', default: '8001-8008' },
        push: { type: 'string' },
        encoding: { type: 'string', default: 'utf-8' },
        'ring-seconds': { type: 'string', default: '3' },
        'talk-seconds': { type: 'string', default: '15' },
        'calls-per-minute': { type: 'string', default: '0' },
        supervisors: { type: 'string' },
      },
      async run(v) {
        const sim = new GuoxinSimulator(parseGuoxinSimOptions(v), createLogger('info'))
        await sim.start()
        process.stderr.write(`Guoxin simulator: http://${sim.opts.host}:${sim.port} (extensions ${sim.opts.extensions.join(',')}; pushes to ${sim.opts.push ?? 'nowhere'})\n`)
        await untilSignal(sim)
        return 0
      },
    },
  },
  async demo(ctx) {
    // 8004 takes no random calls: the printed dial goes through it and is not refused as busy
    const sim = new GuoxinSimulator(
      { port: 0, extensions: ['8001', '8002', '8003', '8004'], reserved: ['8004'], callsPerMinute: 3, ringMs: 4000, talkMs: 15000 },
      ctx.log.child({ component: 'guoxin-simulator' }),
    )
    await sim.start()
    const stopDay = guoxinDemoDay(sim)
    return {
      sources: [{ id: 'gx', type: 'guoxin', url: sim.url, pollMs: 1000 }],
      started(urls) {
        sim.opts.push = `${urls.ingestUrl}/guoxin/gx/push`
      },
      lines: (urls) => [
        `Dial (Guoxin):  curl -s -XPOST ${urls.apiUrl}/v1/calls -H 'content-type: application/json' -d '{"source":"gx","agent":"8004","phone":"13800000000"}'`,
        `Hang up:        curl -s -XPOST ${urls.apiUrl}/v1/calls/hangup -H 'content-type: application/json' -d '{"source":"gx","agent":"8004"}'`,
      ],
      stop: async () => {
        stopDay()
        await sim.stop()
      },
    }
  },
}
