import t from 'tap'
import { createHash } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import { BoxSimulator, parseBoxSimOptions, type SimCommand, type SimUpload } from '../devices/800hu/simulator.js'
import { parseWav } from '../protocols/wav/index.js'
import { until } from './helpers/sse.js'

interface Seen {
  path: string
  contentType: string
  fields: Record<string, string>
  fieldOrder: string[]
  file?: { name: string; mime: string; bytes: Buffer; field: string }
}

/** A stand-in server that records every request as a box sent it, and answers like the vendor. */
async function recorder(opts: { commands?: Record<string, unknown>[][]; failUploads?: number } = {}) {
  const seen: Seen[] = []
  const commands = opts.commands ?? []
  let failUploads = opts.failUploads ?? 0
  const app: FastifyInstance = Fastify()
  await app.register(multipart, { limits: { fileSize: 50 << 20 } })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  const waiting: (() => void)[] = []
  app.post('/upload_record', async (req, reply) => {
    const s: Seen = { path: req.url, contentType: String(req.headers['content-type']), fields: {}, fieldOrder: [] }
    if (req.isMultipart()) {
      for await (const part of req.parts()) {
        s.fieldOrder.push(part.fieldname)
        if (part.type === 'file') s.file = { name: part.filename, mime: part.mimetype, bytes: await part.toBuffer(), field: part.fieldname }
        else s.fields[part.fieldname] = String(part.value)
      }
    } else {
      s.fields = req.body as Record<string, string>
      s.fieldOrder = Object.keys(s.fields)
    }
    seen.push(s)
    const now = String(Date.now())
    if (s.fields.cmd === 'getMessageList') {
      const next = commands.shift()
      if (next) return { data: next, status: 0 }
      // hold like a real long poll, briefly, so the test does not spin
      await new Promise<void>((r) => {
        const tm = setTimeout(r, 100)
        waiting.push(() => (clearTimeout(tm), r()))
      })
      return { time: now, status: 3003, message: '没有可处理的消息' }
    }
    if (s.fields.cmd === 'upload') {
      if (failUploads > 0) {
        failUploads--
        return reply.code(503).send('busy')
      }
      return { time: now, status: 0, callid: s.fields.callid }
    }
    return { time: now, status: 0 }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  const url = `http://127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}`
  return { app, url, seen, commands, close: () => app.close() }
}

const FAST = { ringSeconds: [0.05, 0.05] as const, talkSeconds: [0.3, 0.3] as const, intervalSeconds: 60, callRate: 0 }

t.test('channelstatus carries exactly the seed fields, as a form post', async (t) => {
  const r = await recorder()
  t.teardown(r.close)
  const sim = new BoxSimulator({ target: r.url, mac: '00:00:00:00:00:01', channels: 8, poll: false, ...FAST })
  t.teardown(() => sim.stop())
  sim.start()
  const post = await until(() => r.seen.find((s) => s.fields.cmd === 'channelstatus'), 3000, 'a status post')
  t.match(post.contentType, /^application\/x-www-form-urlencoded/)
  t.same(post.fieldOrder, ['cmd', 'satellite', 'time', 'status'])
  t.equal(post.fields.satellite, '00:00:00:00:00:01', 'satellite: the MAC as configured')
  t.match(post.fields.time, /^\d{13}$/, 'time: unix ms')
  const status = JSON.parse(post.fields.status!)
  t.same(Object.keys(status), ['diskUsagePercent', 'diskSize', 'diskSurplusSize', 'diskStatus', 'ip', 'channels'])
  t.equal(status.diskStatus, 0)
  t.equal(typeof status.diskUsagePercent, 'string', 'strings as in the vendor example')
  t.equal(status.channels.length, 8, 'one entry per RJ11 port')
  for (const [i, c] of status.channels.entries()) {
    t.same(Object.keys(c), ['ch', 'state', 'phone', 'timelen', 'peer', 'serial'])
    t.match(c, { ch: String(i + 1), state: '1', phone: '', peer: '', serial: '1' })
  }
})

t.test('a call: ringing → talking → idle in status posts, then a multipart upload with the seed fields and a real WAV', async (t) => {
  const r = await recorder()
  t.teardown(r.close)
  const sim = new BoxSimulator({ target: r.url, mac: '000000000002', channels: 4, poll: false, ...FAST })
  t.teardown(() => sim.stop())
  const uploads: SimUpload[] = []
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.start()
  await until(() => sim.stats.statusPosts === 1, 3000, 'the first status post')
  t.ok(sim.ring(3, '13812345678', true))
  t.notOk(sim.ring(3), 'a busy line takes no second call')
  await until(() => uploads.length === 1, 5000, 'the upload')
  const states = r.seen.filter((s) => s.fields.cmd === 'channelstatus').map((s) => JSON.parse(s.fields.status!).channels[2])
  const seq = states.map((c: any) => c.state).filter((s: string, i: number, a: string[]) => i === 0 || a[i - 1] !== s)
  t.same(seq, ['1', '2', '4', '1'], 'idle → ringing → talking → idle, each posted')
  const ringing = states.find((c: any) => c.state === '2')
  t.match(ringing, { phone: '13812345678', peer: '2' }, 'inbound: peer 2')
  const up = r.seen.find((s) => s.fields.cmd === 'upload')!
  t.match(up.contentType, /^multipart\/form-data; boundary=/)
  t.same(
    up.fieldOrder,
    ['cmd', 'satellite', 'channel', 'start_time_secs', 'start_time_hangup', 'direction', 'callid_dialed', 'duration_secs', 'id', 'recorded', 'callid', 'fileMd5', 'file'],
    'seed fields, file last',
  )
  t.match(up.fields, { satellite: '000000000002', channel: '3', direction: 'in', callid_dialed: '13812345678', recorded: '1', id: '1' })
  t.match(up.fields.callid, /^\d{19}$/, 'a 19-digit callid like the vendor example')
  t.ok(Number(up.fields.start_time_hangup) >= Number(up.fields.start_time_secs))
  t.match(up.fields.start_time_secs, /^\d{10}$/, 'unix seconds')
  t.equal(up.file?.field, 'file')
  t.equal(up.file?.mime, 'audio/wav')
  t.match(up.file?.name, /^\d{14}_13812345678_3\.wav$/)
  const bytes = up.file!.bytes
  t.equal(createHash('md5').update(bytes).digest('hex'), up.fields.fileMd5, 'fileMd5 is the MD5 of the file sent')
  t.match(parseWav(bytes), { sampleRate: 8000, channels: 1, bitsPerSample: 16 })
  t.match(uploads[0], { ok: true, status: 0, callid: up.fields.callid, direction: 'in', recorded: true })
  t.equal(sim.stats.uploads, 1)
})

t.test('an unanswered call is uploaded with direction unkown, recorded 0, no file', async (t) => {
  const r = await recorder()
  t.teardown(r.close)
  const sim = new BoxSimulator({ target: r.url, mac: '00-00-00-00-00-03', channels: 2, poll: false, ...FAST })
  t.teardown(() => sim.stop())
  const uploads: SimUpload[] = []
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.start()
  sim.ring(1, '02584561234', false)
  await until(() => uploads.length === 1, 5000, 'the upload')
  const up = r.seen.find((s) => s.fields.cmd === 'upload')!
  t.match(up.fields, { direction: 'unkown', recorded: '0', duration_secs: '0', callid_dialed: '02584561234' })
  t.equal(up.file, undefined)
  t.notOk('fileMd5' in up.fields)
})

t.test('getMessageList: a dial is obeyed (dialing → talking → idle + upload), a hang-up ends a call, bad commands are ignored', async (t) => {
  const r = await recorder({
    commands: [
      [{ status: '0', mdcWan: '2', mdcCode: '1', phone: '13900001111', memo: { functionname: 'list' } }],
      [
        { status: '0', mdcWan: '9', mdcCode: '1', phone: '13900001111' },
        { status: '0', mdcWan: '1', mdcCode: '1', phone: 'not a number' },
        { status: '7', mdcWan: '1', mdcCode: '1', phone: '' },
        { status: '51', mdcWan: '1', mdcCode: '1', phone: '', memo: { functionname: 'list', paramvalue: 'a=b' } },
      ],
    ],
  })
  t.teardown(r.close)
  const sim = new BoxSimulator({ target: r.url, mac: '00:00:00:00:00:04', channels: 2, ...FAST, talkSeconds: [0.4, 0.4] })
  t.teardown(() => sim.stop())
  const cmds: SimCommand[] = []
  const uploads: SimUpload[] = []
  sim.on('command', (c: SimCommand) => cmds.push(c))
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.start()
  await until(() => uploads.length === 1, 8000, 'the dialled call uploaded')
  const poll = r.seen.find((s) => s.fields.cmd === 'getMessageList')!
  t.same(poll.fields, { cmd: 'getMessageList', satellite: '00:00:00:00:00:04' }, 'a poll carries cmd and satellite')
  t.match(cmds[0], { status: '0', channel: '2', phone: '13900001111', outcome: 'obeyed' })
  t.same(
    cmds.slice(1).map((c) => [c.status, c.outcome]),
    [
      ['0', 'ignored'],
      ['0', 'ignored'],
      ['7', 'ignored'],
      ['51', 'obeyed'],
    ],
  )
  t.match(cmds[1]!.reason, /no RJ11 port/)
  t.match(cmds[2]!.reason, /cannot dial/)
  const states = r.seen.filter((s) => s.fields.cmd === 'channelstatus').map((s) => JSON.parse(s.fields.status!).channels[1])
  const seq = states.map((c: any) => c.state).filter((s: string, i: number, a: string[]) => i === 0 || a[i - 1] !== s)
  t.same(seq, ['1', '3', '4', '1'], 'idle → dialing → talking → idle')
  t.match(
    states.find((c: any) => c.state === '3'),
    { phone: '13900001111', peer: '1' },
    'outbound: peer 1',
  )
  t.match(uploads[0], { ok: true, channel: 2, direction: 'out', phone: '13900001111', recorded: true })

  // hang-up command while talking
  sim.opts.talkSeconds = [30, 30]
  t.ok(sim.dial(1, '13700002222', { answer: true }))
  await until(() => sim.channels[0]!.state === 4, 5000, 'talking')
  r.commands.push([{ status: '2', mdcWan: '1', mdcCode: '1', phone: '' }])
  await until(() => uploads.length === 2, 5000, 'the hung-up call uploaded')
  t.equal(sim.channels[0]!.state, 1, 'idle after the hang-up command')
  t.match(uploads[1], { channel: 1, direction: 'out', phone: '13700002222' })
  t.ok(sim.stats.polls >= 2)
})

t.test('an upload is retried after a 5xx; stop() ends a held poll at once', async (t) => {
  const r = await recorder({ failUploads: 1 })
  t.teardown(r.close)
  const sim = new BoxSimulator({ target: r.url, mac: '00:00:00:00:00:05', channels: 1, ...FAST, uploadAttempts: 3 })
  const uploads: SimUpload[] = []
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.start()
  sim.dial(1, '13600003333', { answer: true })
  await until(() => uploads.length === 1, 8000, 'the upload')
  t.equal(uploads[0]!.ok, true, 'delivered on the second attempt')
  t.equal(r.seen.filter((s) => s.fields.cmd === 'upload').length, 2)
  const t0 = Date.now()
  await sim.stop()
  t.ok(Date.now() - t0 < 1000, 'stopped promptly')
  t.notOk(sim.isRunning)
})

t.test('a server that is down is counted, not thrown', async (t) => {
  const r = await recorder()
  await r.close()
  const sim = new BoxSimulator({ target: r.url, mac: '00:00:00:00:00:06', channels: 1, ...FAST })
  sim.start()
  await until(() => sim.stats.statusFailures >= 1 && sim.stats.pollFailures >= 1, 5000, 'failures counted')
  await sim.stop()
  t.pass()
})

t.test('CLI options are checked', async (t) => {
  t.match(parseBoxSimOptions({ mac: '00:00:00:00:00:01', channels: '8', interval: '2', 'call-rate': '3', target: 'http://127.0.0.1:9/' }), {
    mac: '00:00:00:00:00:01',
    target: 'http://127.0.0.1:9',
    channels: 8,
    intervalSeconds: 2,
    callRate: 3,
  })
  t.same(parseBoxSimOptions({ mac: '000000000001', 'talk-seconds': '3-9' }).talkSeconds, [3, 9])
  t.throws(() => parseBoxSimOptions({}), /--mac/)
  // five octets are a MAC since issue 12 item 7 (the seed's own satellite example): four are not
  t.throws(() => parseBoxSimOptions({ mac: '00:00:00:00' }), /--mac/)
  t.throws(() => parseBoxSimOptions({ mac: '000000000001', target: 'https://x' }), /HTTP only/)
  t.throws(() => parseBoxSimOptions({ mac: '000000000001', target: 'nope' }), /--target/)
  t.throws(() => parseBoxSimOptions({ mac: '000000000001', channels: '0' }), /--channels/)
  t.throws(() => parseBoxSimOptions({ mac: '000000000001', 'talk-seconds': '9-3' }), /--talk-seconds/)
})

t.test('telbridge simulate 800hu: usage, a bad option, and a real run stopped by SIGTERM', async (t) => {
  const { spawn, spawnSync } = await import('node:child_process')
  const cli = new URL('../dist/daemon/cli.js', import.meta.url).pathname
  const help = spawnSync(process.execPath, [cli, 'simulate', '800hu', '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  t.match(help.stdout, /Usage: telbridge simulate 800hu --mac/)
  const bad = spawnSync(process.execPath, [cli, 'simulate', '800hu', '--mac', 'nope'], { encoding: 'utf8' })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /--mac must be a MAC address/)
  const r = await recorder()
  t.teardown(r.close)
  const child = spawn(
    process.execPath,
    [cli, 'simulate', '800hu', '--target', r.url, '--mac', '00:00:00:00:00:07', '--channels', '2', '--interval', '0.2', '--call-rate', '0', '--log-level', 'warn'],
    { stdio: 'ignore' },
  )
  t.teardown(() => child.kill('SIGKILL'))
  await until(() => r.seen.filter((s) => s.fields.cmd === 'channelstatus').length >= 2, 10000, 'status posts from the CLI')
  await until(() => r.seen.some((s) => s.fields.cmd === 'getMessageList'), 5000, 'a poll')
  const exit = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  child.kill('SIGTERM')
  t.equal(await exit, 0, 'exits 0 on SIGTERM')
  t.equal(JSON.parse(r.seen.find((s) => s.fields.cmd === 'channelstatus')!.fields.status!).channels.length, 2)
})
