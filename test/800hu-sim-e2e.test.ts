import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { BoxSimulator, type SimCommand, type SimUpload } from '../devices/800hu/simulator.js'
import { parseWav } from '../protocols/wav/index.js'
import { SseReader, getJson, until } from './helpers/sse.js'

const MAC = '00:00:00:00:00:0a'
const SOURCE = '800hu-00000000000a'

t.test('the simulator against a real daemon: channels appear, a queued dial is obeyed, the recording is stored, the webhook hears of it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tb-sim-e2e-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const hits: Record<string, string>[] = []
  const crm = Fastify()
  crm.get('/hook', async (req) => {
    hits.push({ ...(req.query as Record<string, string>) })
    return { code: 0, message: 'OK' }
  })
  await crm.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => crm.close())
  const daemon = new Daemon(
    parseConfig({
      api: { port: 0 },
      ingest: { host: '127.0.0.1', port: 0 },
      dataDir,
      boxes: { allow: [MAC], longPollSeconds: 2 },
      webhooks: [{ url: `http://127.0.0.1:${(crm.server.address() as any).port}/hook`, id: 'crm', retryBaseSeconds: 0.05, retryMaxSeconds: 0.2 }],
    }),
    { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) },
  )
  const { apiUrl, ingestUrl } = await daemon.start()
  t.teardown(() => daemon.stop())
  const sse = await SseReader.open(`${apiUrl}/v1/events`)
  t.teardown(() => sse.close())

  const sim = new BoxSimulator({ target: ingestUrl!, mac: MAC, channels: 4, intervalSeconds: 0.5, callRate: 0, ringSeconds: [0.1, 0.1], talkSeconds: [0.5, 0.5] })
  const uploads: SimUpload[] = []
  const commands: SimCommand[] = []
  sim.on('upload', (u: SimUpload) => uploads.push(u))
  sim.on('command', (c: SimCommand) => commands.push(c))
  sim.start()
  t.teardown(() => sim.stop())

  await until(() => daemon.table.list({ source: SOURCE }).length === 4, 5000, 'four channels')
  t.same(
    daemon.table
      .list({ source: SOURCE })
      .map((c) => [c.channel, c.state])
      .sort(),
    [
      ['1', 'idle'],
      ['2', 'idle'],
      ['3', 'idle'],
      ['4', 'idle'],
    ],
  )
  const dev = await getJson(`${apiUrl}/v1/devices`)
  t.match(dev.body.devices[0], { mac: MAC, ip: '192.168.1.20', online: true })
  await until(() => daemon.boxes.isPolling('00000000000a'), 5000, 'the box polling')

  const t0 = Date.now()
  const res = await fetch(`${apiUrl}/v1/devices/${MAC}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'dial', channel: 2, phone: '13912345678' }),
  })
  t.equal(res.status, 202)
  await until(() => commands.length === 1, 5000, 'the command at the box')
  t.match(commands[0], { status: '0', channel: '2', phone: '13912345678', outcome: 'obeyed' })
  t.ok(Date.now() - t0 < 2000, `delivered through the long poll (${Date.now() - t0} ms)`)

  await until(() => uploads.length === 1, 8000, 'the upload')
  const up = uploads[0]!
  t.match(up, { ok: true, status: 0, channel: 2, direction: 'out', phone: '13912345678' })
  const states = sse.events.filter((e) => e.event === 'channel' && (e.data as any).id === `${SOURCE}:2`).map((e) => (e.data as any).state)
  t.same(states, ['idle', 'dialing', 'talking', 'idle'], 'the channel went dialing → talking → idle on the stream')

  const rec = await sse.next((e) => e.event === 'recording')
  t.match(rec.data, { callid: up.callid, phone: '13912345678', direction: 'outbound', channel: 2, md5: up.md5 })
  const one = await getJson(`${apiUrl}/v1/recordings/${up.callid}`)
  t.equal(one.status, 200)
  t.equal(one.body.size, up.bytes)
  const audio = Buffer.from(await (await fetch(`${apiUrl}/v1/recordings/${up.callid}/audio`)).arrayBuffer())
  t.equal(createHash('md5').update(audio).digest('hex'), up.md5, 'the stored audio is the bytes the box sent')
  t.match(parseWav(audio), { sampleRate: 8000, bitsPerSample: 16, channels: 1 })

  await until(() => hits.length >= 2, 5000, 'two webhook notifications')
  t.same(
    hits.map((h) => [h.type, h.phone, h.channel]),
    [
      ['3', '13912345678', '2'],
      ['4', '13912345678', '2'],
    ],
    'hang-up, then the recording',
  )
  // cdrId is the call's id in the call log (issue 13), the box's own number is callid
  t.equal(JSON.parse(hits[1]!.memo!).callid, up.callid)
  t.equal(JSON.parse(hits[1]!.memo!).cdrId, JSON.parse(hits[0]!.memo!).cdrId, 'hang-up and recording: one cdrId')
})
