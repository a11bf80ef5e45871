import { untilSignal } from '../../core/cmd.js'
import { createLogger } from '../../core/log.js'
import type { VendorModule } from '../../core/module.js'
import { yantongSchema, type YantongConfig } from './config.js'
import { yantongDemoDay } from './demo.js'
import { YantongSimulator, parseYantongSimOptions } from './simulator.js'
import { YantongSource } from './source.js'

/** 言通 Yantong API (seed 004): ExtenStatus polling, call control, call records. */
export const yantongModule: VendorModule = {
  name: 'yantong',
  summary: '言通 Yantong call center over HTTP: extension states, call control, call records (GetCDRList)',
  source: { schema: yantongSchema, create: (c: YantongConfig, ctx) => new YantongSource(c, ctx) },
  commands: {
    'simulate yantong': {
      usage: `Usage: telbridge simulate yantong [--host 127.0.0.1] [--port 8088] [--path /api] [--staff 8001,8002]
                                [--companyid 8] [--auth yantong-demo] [--rate 0]
                                [--ring-seconds 3] [--talk-seconds 15]

A 言通 Yantong API server (seed 004): errno JSON as PHP writes it, companyid/auth checked, one
extension per staff id with a state machine (SendDial: ringing 8 → talking 1 → idle 0), call
records with increasing ids (GetCDRList with PId), recordings (GetRecord, and the files it names
served under /asterisk_file/ with Range), ExtenSpy 1/2/3, customer and task data, GetUserInfo.
--rate starts random calls per minute (0: only what requests start); --talk-seconds 0 keeps calls
up until HangUp.`,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8088' },
        path: { type: 'string', default: '/api' },
        staff: { type: 'string', default: '8001,8002' },
        companyid: { type: 'string', default: '8' },
        auth: { type: 'string', default: 'yantong-demo' },
        rate: { type: 'string', default: '0' },
        'ring-seconds': { type: 'string', default: '3' },
        'talk-seconds': { type: 'string', default: '15' },
      },
      async run(v) {
        const sim = new YantongSimulator(parseYantongSimOptions(v), createLogger('info'))
        await sim.start()
        process.stderr.write(`Yantong simulator: ${sim.url} (companyid ${sim.opts.companyid}, auth ${sim.opts.auth}, staff ${sim.opts.staff.join(',')})\n`)
        await untilSignal(sim)
        return 0
      },
    },
  },
  async demo(ctx) {
    // 8003 takes no random calls: the printed dial goes through it and is not refused as busy
    const sim = new YantongSimulator({ port: 0, staff: ['8001', '8002', '8003'], reserved: ['8003'], rate: 3, ringMs: 4000, talkMs: 15000 }, ctx.log.child({ component: 'yantong-simulator' }))
    await sim.start()
    const stopDay = yantongDemoDay(sim, sim.opts.staff)
    return {
      sources: [{ id: 'yt', type: 'yantong', url: sim.url, companyid: sim.opts.companyid, auth: sim.opts.auth, staff: sim.opts.staff, pollMs: 1000, cdrPollMs: 2000, cdrStart: 'all' }],
      lines: (urls) => [
        `Dial (Yantong): curl -s -XPOST ${urls.apiUrl}/v1/calls -H 'content-type: application/json' -d '{"source":"yt","agent":"8003","phone":"13900000000"}'`,
        `Hang up:        curl -s -XPOST ${urls.apiUrl}/v1/calls/hangup -H 'content-type: application/json' -d '{"source":"yt","agent":"8003"}'`,
      ],
      stop: async () => {
        stopDay()
        await sim.stop()
      },
    }
  },
}
