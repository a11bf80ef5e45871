import { untilSignal } from '../../core/cmd.js'
import { createLogger } from '../../core/log.js'
import type { VendorModule } from '../../core/module.js'
import { lqVackSchema, type LqVackConfig } from './config.js'
import { lqVackDemoDay } from './demo.js'
import { LqVackSimulator, parseVackSimOptions } from './simulator.js'
import { LqVackSource } from './source.js'

/** 小灵呼 LQ-SDK service calls (seed 000): `/v/vack` polling and call control, and the mode 1 callbacks. */
export const lqVackModule: VendorModule = {
  name: 'lq-vack',
  summary: '小灵呼 LQ-SDK service calls over HTTP (/v/vack): channel and agent states, queues, call control, custURL/popCRURL callbacks',
  source: { schema: lqVackSchema, create: (c: LqVackConfig, ctx) => new LqVackSource(c, ctx) },
  ingestNeeds: (config) =>
    config.sources
      .filter((s) => s.type === 'lq-vack' && (s as { callback?: { enabled?: boolean } }).callback?.enabled !== false)
      .map(
        (s) =>
          `source ${s.id}: the LQ server's custURL/popCRURL callbacks come to ${(s as { callback?: { path?: string } }).callback?.path ?? `/lq/${s.id}`}/cust and …/ivr on the ingest listener; without it no callback pops (set "callback": {"enabled": false} if the server sends none)`,
      ),
  commands: {
    'simulate lq-vack': {
      usage: `Usage: telbridge simulate lq-vack [--host 127.0.0.1] [--port 7627] [--channels 8] [--agents 801,802]
                                [--secret lcall] [--rate 0] [--miss-ratio 0] [--answer-ms 2000] [--talk-ms 8000]
                                [--cust-url URL] [--ivr-url URL] [--time-zone Asia/Shanghai]

A 小灵呼 LQ-SDK server (seed 000): POST or GET /v/vack with vo_id, answered in gb2312 XML
(_NA_ for empty values, the error attribute for a wrong _secs_, an unknown vo_id or a refused
action). --channels external lines (外线) then one agent channel (内线) per agent. A dial goes
拨号 → 通话 → 空闲 (--answer-ms to answer, --talk-ms to hang up by itself; 0: until hung up);
--rate starts random inbound calls per second, --miss-ratio of them hung up by the caller before
an agent answers (missed calls). --cust-url / --ivr-url: the mode 1 callbacks
(custURL for each inbound call that reaches an agent, popCRURL after each push2flow), e.g.
--cust-url 'http://127.0.0.1:7701/lq/lqv/cust?'.`,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '7627' },
        channels: { type: 'string', default: '8' },
        agents: { type: 'string', default: '801,802' },
        secret: { type: 'string', default: 'lcall' },
        rate: { type: 'string', default: '0' },
        'miss-ratio': { type: 'string' },
        'answer-ms': { type: 'string', default: '2000' },
        'talk-ms': { type: 'string', default: '8000' },
        'cust-url': { type: 'string' },
        'ivr-url': { type: 'string' },
        'time-zone': { type: 'string' },
      },
      async run(v) {
        const sim = new LqVackSimulator(parseVackSimOptions(v), createLogger('info'))
        await sim.start()
        process.stderr.write(`LQ vack simulator: ${sim.url} (secret ${sim.opts.secret || 'none'}; agents ${sim.opts.agents.join(',')}; ${sim.opts.channels} lines)\n`)
        await untilSignal(sim)
        return 0
      },
    },
  },
  async demo(ctx) {
    // 803 takes no random calls: the printed dial goes through it and is not refused as busy
    const sim = new LqVackSimulator({ port: 0, agents: ['801', '802', '803'], reserved: ['803'], rate: 1 / 10, answerMs: 3000, talkMs: 12000 }, ctx.log.child({ component: 'lq-vack-simulator' }))
    await sim.start()
    const stopDay = lqVackDemoDay(sim)
    return {
      sources: [{ id: 'lqv', type: 'lq-vack', url: sim.url, secret: sim.opts.secret, pollMs: 1000 }],
      started(urls) {
        sim.opts.custUrl = `${urls.ingestUrl}/lq/lqv/cust?`
      },
      lines: (urls) => [
        `Queues:         curl -s ${urls.apiUrl}/v1/queues`,
        `Dial (LQ vack): curl -s -XPOST ${urls.apiUrl}/v1/calls -H 'content-type: application/json' -d '{"source":"lqv","agent":"803","phone":"02586307627"}'`,
        `Hang up:        curl -s -XPOST ${urls.apiUrl}/v1/calls/hangup -H 'content-type: application/json' -d '{"source":"lqv","agent":"803"}'`,
      ],
      stop: async () => {
        stopDay()
        await sim.stop()
      },
    }
  },
}
