import { untilSignal, type Cmd } from '../../daemon/core/cmd.js'
import { createLogger } from '../../daemon/core/log.js'
import { BoxSimulator, parseBoxSimOptions } from './simulator.js'

/** `telbridge simulate 800hu` */
export const boxCommands: Record<string, Cmd> = {
  'simulate 800hu': {
    usage: `Usage: telbridge simulate 800hu --mac 00:00:00:00:00:01 [--target http://127.0.0.1:7701]
                              [--channels 4] [--interval 5] [--call-rate 2] [--talk-seconds 5-40]
                              [--path /upload_record] [--ip 192.168.1.20] [--seed N]
                              [--no-poll] [--no-upload] [--log-level info]

A simulated 800hu (八百呼) recording box talking to --target as a real box does (HTTP POST only):
  - cmd=channelstatus every --interval seconds and at every line change (8 kHz box, --channels RJ11 ports)
  - random calls, --call-rate per minute on the whole box (0: none): inbound ringing → talking → idle,
    outbound dialing → talking → idle, some unanswered
  - cmd=upload after each call: multipart, the vendor's fields plus fileMd5, a generated WAV
    (8 kHz 16-bit mono PCM); unanswered calls with recorded=0 and no file
  - cmd=getMessageList long poll, obeying dial (0), answer (1) and hang-up (2) commands

The box must be allowed on the daemon: "boxes": {"allow": ["00:00:00:00:00:01"]}.`,
    options: {
      target: { type: 'string', default: 'http://127.0.0.1:7701' },
      mac: { type: 'string' },
      channels: { type: 'string', default: '4' },
      interval: { type: 'string', default: '5' },
      'call-rate': { type: 'string', default: '2' },
      'talk-seconds': { type: 'string' },
      path: { type: 'string', default: '/upload_record' },
      ip: { type: 'string' },
      seed: { type: 'string' },
      'no-poll': { type: 'boolean' },
      'no-upload': { type: 'boolean' },
      'log-level': { type: 'string', default: 'info' },
    },
    async run(v) {
      const opts = parseBoxSimOptions(v)
      const log = createLogger(String(v['log-level']))
      const sim = new BoxSimulator(opts, log.child({ component: '800hu-simulator', mac: opts.mac }))
      sim.on('state', (s: { ch: number; state: number; phone: string }) => log.debug(s, 'line change'))
      sim.on('upload', (u: { callid: string; ok: boolean; status: number | null; bytes: number }) =>
        log.info({ callid: u.callid, ok: u.ok, status: u.status, bytes: u.bytes }, u.ok ? 'uploaded' : 'upload not accepted'),
      )
      sim.on('command', (c: { status: string; channel: string; phone: string; outcome: string; reason?: string }) => log.info(c, `command ${c.outcome}`))
      sim.start()
      process.stderr.write(`800hu box ${opts.mac} (${sim.opts.channels} ports) posting to ${sim.opts.target}${sim.opts.path}; Ctrl-C stops it\n`)
      await untilSignal(sim)
      return 0
    },
  },
}
