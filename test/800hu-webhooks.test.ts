import t from 'tap'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { backoffMs } from '../daemon/webhooks/outbox.js'
import { buildRequest } from '../daemon/webhooks/deliver.js'
import { webhookId, sourceMatches } from '../daemon/webhooks/config.js'
import { until } from './helpers/sse.js'
import { uploadReport } from '../daemon/core/calls/inputs.js'
import type { RecordingRecord } from '../daemon/core/recordings/record.js'

const log = () => pino({ level: process.env.TB_TEST_LOG ?? 'silent' })

interface Hit {
  method: string
  query: Record<string, string>
  body: unknown
  headers: Record<string, unknown>
  raw: string
  answered: number
}

/** A CRM stand-in on 127.0.0.1; `answer` decides each reply; it can be stopped and restarted on its port. */
class Receiver {
  hits: Hit[] = []
  answer: (h: Hit) => number | [number, unknown] = () => 200
  app: FastifyInstance | null = null
  port = 0
  async start(port = 0): Promise<this> {
    const app = Fastify()
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))
    const handle = async (req: any, reply: any) => {
      const h: Hit = { method: req.method, query: { ...req.query }, body: undefined, headers: req.headers, raw: typeof req.body === 'string' ? req.body : '', answered: 0 }
      if (h.raw) h.body = String(req.headers['content-type']).startsWith('application/json') ? JSON.parse(h.raw) : Object.fromEntries(new URLSearchParams(h.raw))
      const a = this.answer(h)
      const [code, body] = Array.isArray(a) ? a : [a, { code: 0, message: 'OK' }]
      h.answered = code
      this.hits.push(h)
      return reply.code(code).send(body)
    }
    app.get('/api/voip.json', handle)
    app.post('/api/voip.json', handle)
    await app.listen({ host: '127.0.0.1', port })
    const a = app.server.address()
    this.port = a && typeof a === 'object' ? a.port : 0
    this.app = app
    return this
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}/api/voip.json`
  }
  async stop(): Promise<void> {
    await this.app?.close()
    this.app = null
  }
  /** notifications answered 2xx, by their id, in arrival order */
  get delivered(): Hit[] {
    return this.hits.filter((h) => h.answered >= 200 && h.answered < 300)
  }
}

function tmp(t: Tap.Test): string {
  const d = mkdtempSync(join(tmpdir(), 'tb-webhooks-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function daemonWith(dataDir: string, hooks: Record<string, unknown>[]): Promise<Daemon> {
  const d = new Daemon(parseConfig({ api: { port: 0 }, dataDir, webhooks: hooks }), { log: log() })
  await d.start()
  return d
}

const FAST = { retryBaseSeconds: 0.02, retryMaxSeconds: 0.1, timeoutSeconds: 2 }
const BOX = '800hu-000000000001'

/** one answered inbound call on a box line: ringing → talking → idle (the box clears the phone at idle) */
function call(d: Daemon, ch: string, phone: string, direction: 'inbound' | 'outbound' = 'inbound', source = BOX): void {
  d.table.update(source, ch, { state: direction === 'inbound' ? 'ringing' : 'dialing', phone, direction })
  d.table.update(source, ch, { state: 'talking' })
  d.table.update(source, ch, { state: 'idle', phone: null, direction: null })
}

/** a stored box upload, as the recording store hands it on: the `recording` event, then the call tracker's report */
function recording(d: Daemon, callid: string, extra: Record<string, unknown> = {}): void {
  const rec = {
    id: callid,
    source: BOX,
    callid,
    box: '000000000001',
    channel: 2,
    phone: '02584561234',
    direction: 'outbound',
    startTime: '2024-05-01T02:00:00.000Z',
    endTime: '2024-05-01T02:01:30.000Z',
    durationSeconds: 80,
    recorded: true,
    file: `2024/05/01/${callid}.wav`,
    ext: 'wav',
    contentType: 'audio/wav',
    size: 1234,
    md5: 'd41d8cd98f00b204e9800998ecf8427e',
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    receivedAt: new Date().toISOString(),
    ...extra,
  }
  d.bus.publish('recording', { outcome: 'stored', ...rec })
  void d.calls.report(uploadReport(rec as unknown as RecordingRecord)!)
}

t.test('config: defaults, checks, ids', async (t) => {
  const c = parseConfig({ webhooks: [{ url: 'http://crm.local/api/voip.json' }] })
  t.match(c.webhooks[0], { method: 'GET', events: ['hangup', 'recording'], sources: ['800hu-*'], timeoutSeconds: 10, retryBaseSeconds: 1, retryMaxSeconds: 60, maxEntries: 100000 })
  t.match(webhookId(c.webhooks[0]!), /^url-[0-9a-f]{12}$/, 'an id derived from the URL')
  t.throws(() => parseConfig({ webhooks: [{ url: 'ftp://x' }] }), { message: /webhooks\[0\]\.url: expected an http/ })
  t.throws(() => parseConfig({ webhooks: [{ url: 'http://u:p@x/' }] }), { message: /without user:password/ })
  t.throws(() => parseConfig({ webhooks: [{ url: 'http://x/', events: ['ring'] }] }), { message: /webhooks\[0\]\.events\[0\]/ })
  t.throws(() => parseConfig({ webhooks: [{ url: 'http://x/', sources: ['bad id!'] }] }), { message: /prefix ending in \*/ })
  t.throws(() => parseConfig({ webhooks: [{ url: 'http://x/', secret: 'short' }] }), { message: /webhooks\[0\]\.secret/ })
  t.throws(() => new Daemon(parseConfig({ api: { port: 0 }, webhooks: [{ url: 'http://x/' }, { url: 'http://x/' }] }), { log: log() }), {
    message: /webhooks\[1\]\.url: expected a URL not used by webhooks\[0\]/,
  })
  t.throws(() => new Daemon(parseConfig({ api: { port: 0 }, webhooks: [{ url: 'http://x/', headers: { 'bad name': 'v' } }] }), { log: log() }), { message: /header names/ })
  t.throws(() => new Daemon(parseConfig({ api: { port: 0 }, webhooks: [{ url: 'http://x/', retryBaseSeconds: 10, retryMaxSeconds: 5 }] }), { log: log() }), { message: /retryMaxSeconds/ })
  t.ok(sourceMatches(['800hu-*'], BOX))
  t.notOk(sourceMatches(['800hu-*'], 'lq1'))
  t.ok(sourceMatches(['*'], 'lq1'))
  t.ok(sourceMatches(['lq1'], 'lq1'))
})

t.test('a hang-up and a recording reach the webhook in the vendor shape (GET, type/peer/phone/memo)', async (t) => {
  const rx = await new Receiver().start()
  t.teardown(() => rx.stop())
  const d = await daemonWith(tmp(t), [{ url: rx.url + '?token=abc', ...FAST }])
  t.teardown(() => d.stop())
  call(d, '3', '13812345678')
  call(d, '1', '13800000000', 'inbound', 'lq1') // not a box: filtered out by the default sources
  recording(d, '7687658987667780097')
  await until(() => rx.delivered.length === 3, 5000, 'three notifications')
  await d.webhooks.drained()
  const [h, uh, r] = rx.delivered
  t.equal(h!.method, 'GET')
  t.match(h!.query, { token: 'abc', type: '3', peer: '2', phone: '13812345678', event: 'hangup', source: BOX, channel: '3' }, 'the URL query is kept; seed fields added')
  t.match(h!.query.id, /^[0-9a-f-]{36}$/)
  const memo = JSON.parse(h!.query.memo!)
  t.match(memo, { cdrPhoneNum: '13812345678', cdrLastPhoneNum: '13812345678', cdrPeer: 2, cdrExtension: '3', cdrPhonePort: '3', cdrTalktime: 0 })
  t.match(memo.cdrStartTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
  t.match(memo.cdrHangupTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
  t.match(memo.cdrId, /^[0-9a-f-]{36}$/, "cdrId: the call's id in the call log")
  t.match(uh!.query, { type: '3', peer: '1', phone: '02584561234', event: 'hangup', channel: '2' }, "the upload's call hangs up with its record")
  t.match(r!.query, { type: '4', peer: '1', phone: '02584561234', event: 'recording', channel: '2' })
  const um = JSON.parse(uh!.query.memo!)
  t.equal(JSON.parse(r!.query.memo!).cdrId, um.cdrId, 'hang-up and recording of one call share its cdrId')
  t.match(um, { callid: '7687658987667780097', cdrRecordFile: '2024/05/01/7687658987667780097.wav', cdrTalktime: 80 })
  t.match(JSON.parse(r!.query.memo!), {
    cdrId: /^[0-9a-f-]{36}$/,
    callid: '7687658987667780097',
    cdrTalktime: 80,
    cdrPeer: 1,
    cdrLastPhoneNum: '2584561234',
    cdrRecordFile: '2024/05/01/7687658987667780097.wav',
    recordingId: '7687658987667780097',
    md5: 'd41d8cd98f00b204e9800998ecf8427e',
  })
  const metrics = await (await fetch(`http://127.0.0.1:${(d.api.server.address() as any).port}/metrics`)).text()
  t.match(metrics, /telbridge_webhook_queued_total\{webhook="url-[0-9a-f]{12}"\} 3/)
  t.match(metrics, /telbridge_webhook_delivered_total\{webhook="url-[0-9a-f]{12}"\} 3/)
  t.match(metrics, /telbridge_webhook_backlog\{webhook="url-[0-9a-f]{12}"\} 0/)
})

t.test('call / answer events, all sources, POST JSON with an HMAC signature', async (t) => {
  const rx = await new Receiver().start()
  t.teardown(() => rx.stop())
  const secret = 'a-shared-secret-0123'
  const d = await daemonWith(tmp(t), [{ url: rx.url, id: 'crm', method: 'POST', body: 'json', events: ['call', 'answer', 'hangup'], sources: ['*'], secret, ...FAST }])
  t.teardown(() => d.stop())
  call(d, '7', '13900001111', 'outbound', 'lq1')
  // the pushes follow the call log: calls started in one tick are announced before any of them ends
  await until(() => rx.delivered.length === 3, 5000, 'the first call')
  d.table.update('lq1', '8', { state: 'ringing', phone: '13900002222', direction: 'inbound' })
  d.table.update('lq1', '8', { state: 'idle', phone: null })
  await until(() => rx.delivered.length === 5, 5000, 'five notifications')
  t.same(
    rx.delivered.map((h: any) => [h.body.event, h.body.type, h.body.channel]),
    [
      ['call', 1, '7'],
      ['answer', 2, '7'],
      ['hangup', 3, '7'],
      ['call', 1, '8'],
      ['hangup', 3, '8'],
    ],
  )
  const missed = rx.delivered[4]!.body as any
  t.match(missed, { peer: 2, phone: '13900002222', source: 'lq1' })
  t.equal(missed.memo.cdrTalktime, 0, 'not answered: no talk time')
  t.notOk('cdrAnswerTime' in missed.memo)
  const answered = rx.delivered[2]!.body as any
  t.match(answered.memo, { cdrPeer: 1, cdrPhoneNum: '13900001111' })
  t.ok(typeof answered.memo.cdrAnswerTime === 'string')
  for (const h of rx.delivered) {
    const sig = String(h.headers['x-telbridge-signature'])
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig)
    t.ok(m, 'signature header')
    t.equal(m![2], createHmac('sha256', secret).update(`${m![1]}.${h.raw}`).digest('hex'), 'HMAC over "<t>.<body>"')
  }
})

t.test('delivered in order, once each, retried until the receiver answers 2xx; a 2xx refusal is not retried', async (t) => {
  const rx = await new Receiver().start()
  t.teardown(() => rx.stop())
  let n = 0
  rx.answer = (h) => (++n <= 4 ? 503 : h.query.phone === '13800000005' ? [200, { code: -3, message: 'internal' }] : 200)
  const d = await daemonWith(tmp(t), [{ url: rx.url, id: 'crm', ...FAST }])
  t.teardown(() => d.stop())
  for (let i = 0; i < 20; i++) call(d, String((i % 4) + 1), `138000000${String(i).padStart(2, '0')}`)
  await until(() => rx.delivered.length === 20, 10000, 'all twenty')
  t.same(
    rx.delivered.map((h) => h.query.phone),
    Array.from({ length: 20 }, (_, i) => `138000000${String(i).padStart(2, '0')}`),
    'in the order they happened',
  )
  t.equal(new Set(rx.delivered.map((h) => h.query.id)).size, 20, 'each once')
  t.equal(rx.hits.filter((h) => h.answered === 503).length, 4)
  t.ok(
    rx.hits.slice(0, 5).every((h) => h.query.phone === '13800000000'),
    'the head is retried; nothing overtakes it',
  )
  await d.webhooks.drained() // the receiver counts a hit before telbridge has read its answer
  const st = d.webhooks.status()[0]!
  t.match(st, { id: 'crm', backlog: 0, failures: 0, lastError: null })
  const api = await fetch(`http://127.0.0.1:${(d.api.server.address() as any).port}/v1/webhooks`)
  t.match(await api.json(), { webhooks: [{ id: 'crm', url: rx.url, backlog: 0, backlogBytes: 0, failures: 0 }] }, 'GET /v1/webhooks')
  const metrics = await d.metrics.render()
  t.match(metrics, /telbridge_webhook_failed_attempts_total\{webhook="crm",reason="http_503"\} 4/)
  t.match(metrics, /telbridge_webhook_refused_total\{webhook="crm"\} 1/)
})

t.test('outbox survives a daemon restart while the receiver is down: everything arrives once, in order', async (t) => {
  const dir = tmp(t)
  const rx = await new Receiver().start()
  const port = rx.port
  await rx.stop() // the CRM is down
  const hook = { url: `http://127.0.0.1:${port}/api/voip.json`, id: 'crm', ...FAST }
  const d1 = await daemonWith(dir, [hook])
  const expected: string[] = []
  for (let i = 0; i < 10; i++) {
    call(d1, '1', `1390000${String(i).padStart(4, '0')}`)
    expected.push(`hangup:1390000${String(i).padStart(4, '0')}`)
    if (i % 4 === 0) {
      recording(d1, `9000${i}`, { phone: `1390000${String(i).padStart(4, '0')}` })
      expected.push(`hangup:1390000${String(i).padStart(4, '0')}`, `recording:1390000${String(i).padStart(4, '0')}`)
    }
  }
  await until(() => d1.webhooks.status()[0]!.backlog === expected.length, 5000, 'all queued on disk')
  await until(() => d1.webhooks.status()[0]!.failures >= 2, 5000, 'attempts failing')
  t.match(d1.webhooks.status()[0]!.lastError, /^cannot connect: ECONNREFUSED$/, 'the error, without the URL (its query holds data and tokens)')
  await d1.stop()
  const files = readdirSync(join(dir, 'outbox', 'crm')).filter((f) => f.endsWith('.json'))
  t.equal(files.length, expected.length, 'one file per pending notification')

  const d2 = await daemonWith(dir, [hook])
  t.teardown(() => d2.stop())
  t.equal(d2.webhooks.status()[0]!.backlog, expected.length, 'reloaded at start')
  const rx2 = await new Receiver().start(port) // the CRM is back
  t.teardown(() => rx2.stop())
  await until(() => rx2.delivered.length >= expected.length, 10000, 'the backlog')
  await d2.webhooks.drained()
  t.same(
    rx2.delivered.map((h) => `${h.query.event}:${h.query.phone}`),
    expected,
    'every notification, in order',
  )
  t.equal(new Set(rx2.delivered.map((h) => h.query.id)).size, expected.length, 'none twice')
  t.same(
    readdirSync(join(dir, 'outbox', 'crm')).filter((f) => f.endsWith('.json')),
    [],
    'outbox empty',
  )
})

t.test('a corrupt or unfinished outbox file at start is skipped with a log, not a crash', async (t) => {
  const dir = tmp(t)
  const rx = await new Receiver().start()
  const port = rx.port
  await rx.stop()
  const hook = { url: `http://127.0.0.1:${port}/api/voip.json`, id: 'crm', ...FAST }
  const d1 = await daemonWith(dir, [hook])
  call(d1, '1', '13700000001')
  call(d1, '1', '13700000002')
  await until(() => d1.webhooks.status()[0]!.backlog === 2, 5000, 'queued')
  await d1.stop()
  const box = join(dir, 'outbox', 'crm')
  const [first] = readdirSync(box)
    .filter((f) => f.endsWith('.json'))
    .sort()
  writeFileSync(join(box, first!), '{"format":"telbridge.webhook/1","seq":') // cut off mid-write (no fsync'd rename would do this; a disk fault could)
  writeFileSync(join(box, '00000000000000001.json'), 'garbage')
  writeFileSync(join(box, '.00000000000000003.json.tmp'), '{"partial":')
  writeFileSync(join(box, 'notes.txt'), 'someone left this here')
  const lines: string[] = []
  const d2 = new Daemon(parseConfig({ api: { port: 0 }, dataDir: dir, webhooks: [hook] }), {
    log: pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }),
  })
  await d2.start()
  t.teardown(() => d2.stop())
  const rx2 = await new Receiver().start(port)
  t.teardown(() => rx2.stop())
  await until(() => rx2.delivered.length === 1, 5000, 'the good entry')
  await d2.webhooks.drained()
  t.equal(rx2.delivered[0]!.query.phone, '13700000002')
  t.same(readdirSync(join(box, 'corrupt')).sort(), ['00000000000000001.json', first].sort(), 'corrupt files kept aside for a person')
  t.notOk(existsSync(join(box, '.00000000000000003.json.tmp')), 'unfinished write removed')
  t.ok(existsSync(join(box, 'notes.txt')), 'unknown files left alone')
  const text = lines.join('')
  t.match(text, /skipping a corrupt outbox entry/)
  t.match(text, /removed unfinished outbox writes/)
  t.match(await d2.metrics.render(), /telbridge_webhook_corrupt_total\{webhook="crm"\} 2/)
})

t.test('the outbox is bounded: past maxEntries new notifications are dropped and counted, queued ones kept', async (t) => {
  const dir = tmp(t)
  const rx = await new Receiver().start()
  const port = rx.port
  await rx.stop()
  const hook = { url: `http://127.0.0.1:${port}/api/voip.json`, id: 'crm', maxEntries: 3, ...FAST }
  const d = await daemonWith(dir, [hook])
  t.teardown(() => d.stop())
  for (let i = 1; i <= 5; i++) call(d, '1', `1360000000${i}`)
  await until(async () => /telbridge_webhook_dropped_total\{webhook="crm",reason="full"\} 2/.test(await d.metrics.render()), 5000, 'two dropped')
  t.equal(d.webhooks.status()[0]!.backlog, 3)
  const rx2 = await new Receiver().start(port)
  t.teardown(() => rx2.stop())
  await until(() => rx2.delivered.length === 3, 5000, 'the three kept')
  t.same(
    rx2.delivered.map((h) => h.query.phone),
    ['13600000001', '13600000002', '13600000003'],
    'the oldest are kept',
  )
  call(d, '1', '13600000006')
  await until(() => rx2.delivered.length === 4, 5000, 'accepting again')
})

t.test('an unknown webhook outbox is reported, not deleted; stop aborts a slow delivery and keeps it queued', async (t) => {
  const dir = tmp(t)
  const rx = await new Receiver().start()
  t.teardown(() => rx.stop())
  rx.answer = () => 200
  // a slow receiver: the first request never answers within the test
  const slow = Fastify({ forceCloseConnections: true })
  slow.get('/slow', () => new Promise(() => {}))
  await slow.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => slow.close())
  const slowUrl = `http://127.0.0.1:${(slow.server.address() as any).port}/slow`
  const d1 = await daemonWith(dir, [{ url: slowUrl, id: 'old', timeoutSeconds: 30 }])
  call(d1, '1', '13500000001')
  await until(() => d1.webhooks.status()[0]!.backlog === 1, 5000, 'queued')
  await new Promise((r) => setTimeout(r, 50))
  const t0 = Date.now()
  await d1.stop()
  t.ok(Date.now() - t0 < 2000, 'stop does not wait for the 30 s timeout')
  t.equal(readdirSync(join(dir, 'outbox', 'old')).filter((f) => f.endsWith('.json')).length, 1, 'still queued')
  const lines: string[] = []
  const d2 = new Daemon(parseConfig({ api: { port: 0 }, dataDir: dir, webhooks: [{ url: rx.url, id: 'new' }] }), { log: pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }) })
  await d2.start()
  t.teardown(() => d2.stop())
  t.match(lines.join(''), /not configured \(id old\): 1 notification/)
  t.equal(readdirSync(join(dir, 'outbox', 'old')).filter((f) => f.endsWith('.json')).length, 1, 'kept')
})

t.test('request building and backoff', async (t) => {
  const hook = parseConfig({ webhooks: [{ url: 'http://crm/x?a=1', method: 'POST' }] }).webhooks[0]!
  const n = { id: 'i', event: 'hangup' as const, time: '2024-01-01T00:00:00.000Z', source: BOX, channel: '1', fields: { type: '3', peer: '1', phone: '1', memo: '{"cdrId":"x"}' } }
  const req = buildRequest(hook, n)
  t.equal(req.url, 'http://crm/x?a=1')
  t.equal(req.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8')
  t.equal(req.body, 'type=3&peer=1&phone=1&memo=%7B%22cdrId%22%3A%22x%22%7D&id=i&event=hangup&source=800hu-000000000001&channel=1&time=2024-01-01T00%3A00%3A00.000Z')
  t.equal(
    backoffMs(1, 1, 60, () => 0),
    500,
  )
  t.equal(
    backoffMs(1, 1, 60, () => 1),
    1000,
  )
  t.equal(
    backoffMs(3, 1, 60, () => 1),
    4000,
  )
  t.equal(
    backoffMs(50, 1, 60, () => 1),
    60000,
    'capped',
  )
  t.equal(
    backoffMs(5000, 1, 60, () => 0),
    30000,
    'no overflow',
  )
})

t.test('an outbox that cannot be written drops the notification with an error log and metric, and recovers', async (t) => {
  const dir = tmp(t)
  const rx = await new Receiver().start()
  t.teardown(() => rx.stop())
  const lines: string[] = []
  const d = new Daemon(parseConfig({ api: { port: 0 }, dataDir: dir, webhooks: [{ url: rx.url, id: 'crm', ...FAST }] }), {
    log: pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }),
  })
  await d.start()
  t.teardown(() => d.stop())
  const box = join(dir, 'outbox', 'crm')
  rmSync(box, { recursive: true })
  writeFileSync(box, 'not a directory') // root ignores permissions; a file in the way fails for everyone
  call(d, '1', '13400000001')
  await until(async () => /telbridge_webhook_dropped_total\{webhook="crm",reason="write_failed"\} 1/.test(await d.metrics.render()), 5000, 'dropped')
  t.match(lines.join(''), /cannot write to the outbox \(ENOTDIR\)/)
  rmSync(box)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(box)
  call(d, '1', '13400000002')
  await until(() => rx.delivered.length === 1, 5000, 'delivered after recovery')
  t.equal(rx.delivered[0]!.query.phone, '13400000002')
  t.match(lines.join(''), /accepting notifications again/)
})

t.test('the 800hu push from call events: once per call, no hang-up without an end, a box line waits for its upload', async (t) => {
  const { CallPushes } = await import('../daemon/webhooks/notify.js')
  const p = new CallPushes('Asia/Shanghai')
  const callEv = (extra: Record<string, unknown> = {}) => ({
    id: 'c1',
    source: BOX,
    channel: '1',
    channelId: `${BOX}:1`,
    agent: null,
    direction: 'inbound',
    phone: '13300000001',
    startedAt: '2024-05-01T00:00:00.000Z',
    answeredAt: null,
    endedAt: null,
    ringSeconds: null,
    talkSeconds: null,
    disposition: 'unknown',
    recordings: [],
    vendorIds: {},
    popData: null,
    memo: null,
    inputs: ['line'],
    ...extra,
  })
  const started = p.onCall('call.started', callEv(), 1000)
  t.same(
    started.map((n) => n.event),
    ['call'],
  )
  t.match(JSON.parse(started[0]!.fields!.memo), { cdrId: 'c1', cdrExtension: `${BOX}:1`, cdrStartTime: '2024-05-01 08:00:00', cdrPeer: 2 })
  t.same(p.onCall('call.ended', callEv({ disposition: 'unknown' }), 2000), [], 'line went offline mid-call: no hang-up invented')
  const ended = p.onCall('call.updated', callEv({ endedAt: '2024-05-01T00:00:30.000Z', talkSeconds: 0, ringSeconds: 30, disposition: 'missed', inputs: ['line', 'log'] }), 3000)
  t.same(
    ended.map((n) => n.event),
    ['hangup'],
    'a vendor record gives the end: hung up then',
  )
  t.match(JSON.parse(ended[0]!.fields!.memo), { cdrId: 'c1', cdrHangupTime: '2024-05-01 08:00:30', cdrTalktime: 0, cdrRingTime: 30, cdrHangupReasonText: 'missed' })
  t.same(p.onCall('call.updated', callEv({ endedAt: '2024-05-01T00:00:30.000Z', inputs: ['line', 'log'] }), 4000), [], 'hung up once')
  // a box line (vendor.cdr = upload): the line's end is not the hang-up, the upload is
  p.onChannel({ id: `${BOX}:2`, changed: ['state'], vendor: { cdr: 'upload' } })
  const box = (extra: Record<string, unknown> = {}) => callEv({ id: 'c2', channel: '2', channelId: `${BOX}:2`, endedAt: '2024-05-01T00:01:00.000Z', ...extra })
  t.same(p.onCall('call.ended', box(), 5000), [], 'waits for the upload')
  p.onStored({
    id: 'u1',
    callid: 'u1',
    box: '000000000001',
    source: BOX,
    channel: 2,
    phone: '13300000001',
    direction: 'inbound',
    startTime: '2024-05-01T00:00:05.000Z',
    endTime: '2024-05-01T00:01:01.000Z',
    durationSeconds: 40,
    recorded: true,
    file: '2024/05/01/u1.wav',
    size: 10,
    md5: 'm',
    sha256: 's',
    contentType: 'audio/wav',
    receivedAt: '',
  })
  const up = p.onCall('call.updated', box({ inputs: ['line', 'upload'], vendorIds: { callid: 'u1' }, recordings: [{ kind: 'local', id: 'u1', contentType: 'audio/wav', size: 10 }] }), 6000)
  t.same(
    up.map((n) => n.event),
    ['hangup', 'recording'],
  )
  for (const n of up) t.match(JSON.parse(n.fields!.memo), { cdrId: 'c2', callid: 'u1', cdrRecordFile: '2024/05/01/u1.wav', cdrStartTime: '2024-05-01 08:00:05', cdrTalktime: 40, recordingId: 'u1' })
  t.same(p.onCall('call.updated', box({ inputs: ['line', 'upload'], vendorIds: { callid: 'u1' }, recordings: [{ kind: 'local', id: 'u1' }] }), 7000), [], 'each pushed once')
  p.onChannel({ id: `${BOX}:2`, changed: ['removed'] })
  t.same(
    p.onCall('call.ended', box({ id: 'c3' }), 8000).map((n) => n.event),
    ['hangup'],
    'a removed line is no box line any more',
  )
  t.same(p.onCall('call.ended', null, 0), [])
  t.same(p.onCall('call.ended', { nonsense: true }, 0), [])
  p.onChannel(null)
  p.onStored({ nonsense: true })
})
