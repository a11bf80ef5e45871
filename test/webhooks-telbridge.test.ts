import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { until } from './helpers/sse.js'

/**
 * Issue 13 item 5: `format: "telbridge"` webhooks. A real receiver on 127.0.0.1 takes the raw body
 * and checks the signature with the Node function docs/webhooks.md gives receivers (read out of the
 * page, so the documented code is the code tested).
 */

const log = () => pino({ level: process.env.TB_TEST_LOG ?? 'silent' })
const SECRET = 'a-shared-secret-0123456789'

interface Hit {
  raw: string
  headers: Record<string, string | string[] | undefined>
  body: { id: string; type: string; time: string; data: any }
  answered: number
}

/** The receiver: keeps the raw body (what the signature covers), answers what `answer` says. */
async function receiver(port = 0): Promise<{ url: string; port: number; hits: Hit[]; answer: { fn: (h: Hit) => number }; server: Server; delivered: () => Hit[] }> {
  const hits: Hit[] = []
  const answer = { fn: (_h: Hit) => 200 }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const h: Hit = { raw, headers: req.headers, body: JSON.parse(raw), answered: 0 }
      h.answered = answer.fn(h)
      hits.push(h)
      res.statusCode = h.answered
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  const p = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${p}/hook`, port: p, hits, answer, server, delivered: () => hits.filter((h) => h.answered >= 200 && h.answered < 300) }
}

function tmp(t: Tap.Test): string {
  const d = mkdtempSync(join(tmpdir(), 'tb-hooks-tb-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function daemonWith(dataDir: string, hooks: Record<string, unknown>[]): Promise<Daemon> {
  const d = new Daemon(parseConfig({ api: { port: 0 }, dataDir, webhooks: hooks }), { log: log() })
  await d.start()
  return d
}

/** the receiver's verification, exactly as docs/webhooks.md shows it */
async function docsVerify(t: Tap.Test): Promise<(secret: string, raw: string, header: string | undefined, nowMs?: number, windowS?: number) => boolean> {
  const md = readFileSync(join(import.meta.dirname, '..', 'docs', 'webhooks.md'), 'utf8')
  const m = /Node:\n\n```js\n([\s\S]*?)```/.exec(md)
  if (!m) throw new Error('docs/webhooks.md has no Node verification snippet')
  const file = join(tmp(t), 'verify.mjs')
  writeFileSync(file, m[1]!)
  return ((await import(pathToFileURL(file).href)) as { verify: never }).verify
}

const sig = (h: Hit) => /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(h.headers['x-telbridge-signature']))

t.test('a receiver gets call.started (with the pop data) and call.ended, signed, verified as the docs say', async (t) => {
  const verify = await docsVerify(t)
  const rx = await receiver()
  t.teardown(() => new Promise<void>((r) => rx.server.close(() => r())))
  const d = await daemonWith(tmp(t), [{ url: rx.url, id: 'crm', format: 'telbridge', events: ['call.started', 'call.ended'], secret: SECRET, retryBaseSeconds: 0.05, retryMaxSeconds: 0.1 }])
  t.teardown(() => d.stop())
  d.table.update('lq1', '3', { state: 'ringing', phone: '13812345678', direction: 'inbound' })
  d.pops.receive('lq1', Buffer.from('H=t1v5,ch=3,ph=13812345678,ty=1,tm=081123101500,op=801,sn=77,so=0,mb=VIP,da=customer:ACME|lead:42,dm=0;'))
  await until(() => rx.delivered().length === 1, 5000, 'call.started')
  d.table.update('lq1', '3', { state: 'talking' })
  d.table.update('lq1', '3', { state: 'idle', phone: null, direction: null })
  await until(() => rx.delivered().length === 2, 5000, 'call.ended')
  const [s, e] = rx.delivered()
  t.equal(s!.body.type, 'call.started')
  t.match(s!.body.data, { source: 'lq1', channel: '3', channelId: 'lq1:3', phone: '13812345678', direction: 'inbound' })
  t.match(s!.body.data.popData, { customer: 'ACME', lead: '42', member: 'VIP' }, 'the screen pop data rides on call.started')
  t.equal(e!.body.type, 'call.ended')
  t.match(e!.body.data, { id: s!.body.data.id, disposition: 'answered', talkSeconds: 0, phone: '13812345678' })
  t.match(e!.body.id, /^[0-9a-f-]{36}$/)
  t.not(e!.body.id, s!.body.id, 'an id per notification')
  t.match(e!.body.time, /^\d{4}-\d\d-\d\dT/)
  t.same(Object.keys(e!.body), ['id', 'type', 'time', 'data'])
  t.match(e!.headers, { 'content-type': 'application/json; charset=utf-8', 'x-telbridge-event': 'call.ended', 'x-telbridge-id': e!.body.id })
  for (const h of [s!, e!]) {
    t.ok(verify(SECRET, h.raw, String(h.headers['x-telbridge-signature'])), `${h.body.type}: valid signature`)
    t.notOk(verify('another-secret-0123456789', h.raw, String(h.headers['x-telbridge-signature'])), 'another secret fails')
    t.notOk(verify(SECRET, h.raw.replace('13812345678', '13812345679'), String(h.headers['x-telbridge-signature'])), 'a changed body fails')
    t.notOk(verify(SECRET, h.raw, String(h.headers['x-telbridge-signature']), Date.now() + 301_000), 'outside the 5-minute window fails')
  }
  t.ok(d.calls.callLog!.get(e!.body.data.id), 'the record was committed before call.ended went out')
})

t.test('a retry after a 500 keeps the id and the body and is signed again with a new timestamp', async (t) => {
  const verify = await docsVerify(t)
  const rx = await receiver()
  t.teardown(() => new Promise<void>((r) => rx.server.close(() => r())))
  let n = 0
  rx.answer.fn = () => (++n === 1 ? 500 : 200)
  // base 2.2 s: the retry comes 1.1–2.2 s later, so its Unix second differs
  const d = await daemonWith(tmp(t), [{ url: rx.url, id: 'crm', format: 'telbridge', events: ['call.ended'], secret: SECRET, retryBaseSeconds: 2.2, retryMaxSeconds: 3 }])
  t.teardown(() => d.stop())
  d.table.update('gx1', '801', { state: 'ringing', phone: '02584561234', direction: 'inbound' })
  d.table.update('gx1', '801', { state: 'idle', phone: null })
  await until(() => rx.delivered().length === 1, 8000, 'delivered after the retry')
  t.equal(rx.hits.length, 2)
  const [a, b] = rx.hits
  t.equal(a!.answered, 500)
  t.equal(b!.body.id, a!.body.id, 'same id: the receiver dedupes')
  t.equal(b!.raw, a!.raw, 'same body bytes')
  t.match(b!.body.data, { disposition: 'missed', source: 'gx1' })
  t.ok(Number(sig(b!)![1]) > Number(sig(a!)![1]), `a new timestamp (${sig(a!)![1]} → ${sig(b!)![1]})`)
  t.not(sig(b!)![2], sig(a!)![2], 'a new signature')
  t.ok(verify(SECRET, a!.raw, String(a!.headers['x-telbridge-signature'])))
  t.ok(verify(SECRET, b!.raw, String(b!.headers['x-telbridge-signature'])), 'the retry verifies')
  t.match(await d.metrics.render(), /telbridge_webhook_failed_attempts_total\{webhook="crm",reason="http_500"\} 1/)
})

t.test('sources filter on data.source; events pick types; an 800hu hook beside it is unchanged', async (t) => {
  const rx = await receiver()
  const legacy = await receiver()
  t.teardown(() => new Promise<void>((r) => rx.server.close(() => r())))
  t.teardown(() => new Promise<void>((r) => legacy.server.close(() => r())))
  const d = await daemonWith(tmp(t), [
    { url: rx.url, id: 'crm', format: 'telbridge', events: ['call.ended', 'channel'], sources: ['gx*'], retryBaseSeconds: 0.05, retryMaxSeconds: 0.1 },
    { url: legacy.url, id: 'legacy', method: 'POST', body: 'json', sources: ['*'], retryBaseSeconds: 0.05, retryMaxSeconds: 0.1 },
  ])
  t.teardown(() => d.stop())
  for (const src of ['lq1', 'gx1']) {
    d.table.update(src, '1', { state: 'ringing', phone: '13900000000', direction: 'inbound' })
    d.table.update(src, '1', { state: 'idle', phone: null })
  }
  await until(() => rx.delivered().some((h) => h.body.type === 'call.ended') && legacy.delivered().length === 2, 5000, 'both hooks')
  await d.webhooks.drained()
  t.same(
    rx.delivered().map((h) => `${h.body.type}:${h.body.data.source}:${h.body.data.state ?? h.body.data.disposition}`),
    ['channel:gx1:ringing', 'channel:gx1:idle', 'call.ended:gx1:missed'],
    'gx1 only, the chosen types, in order',
  )
  t.same(
    legacy.delivered().map((h) => [(h.body as any).event, (h.body as any).source]),
    [
      ['hangup', 'lq1'],
      ['hangup', 'gx1'],
    ],
    'the 800hu-format hook gets its hang-ups',
  )
})

t.test('a bad config is a clear config error', async (t) => {
  const cfg = (hook: Record<string, unknown>) => () => parseConfig({ webhooks: [{ url: 'http://crm/x', ...hook }] })
  t.throws(cfg({ format: 'telbridge', events: ['call.ended', 'hangup'] }), {
    message: /webhooks\[0\]\.events\[1\]: expected for format "telbridge" one of call\.started, .*\("hangup" is a 800hu-format event; here: "call\.ended"\)/,
  })
  t.throws(cfg({ format: 'telbridge', events: ['call.finished'] }), { message: /webhooks\[0\]\.events\[0\]: expected one of/ }, 'an unknown event')
  t.throws(cfg({ events: ['call.ended'] }), { message: /webhooks\[0\]\.events\[0\]: expected for format "800hu" one of call, answer, hangup, recording \("call\.ended" is a telbridge-format event\)/ })
  t.throws(cfg({ format: 'telbridge', method: 'GET' }), { message: /webhooks\[0\]\.method: expected POST/ })
  t.throws(cfg({ format: 'json' }), { message: /webhooks\[0\]\.format: expected one of/ })
  t.throws(cfg({ format: 'telbridge', events: [] }), { message: /webhooks\[0\]\.events/ })
  const tb = parseConfig({ webhooks: [{ url: 'http://crm/x', format: 'telbridge' }] }).webhooks[0]!
  t.match(tb, { format: 'telbridge', method: 'POST', events: ['call.started', 'call.answered', 'call.ended', 'call.updated'], sources: ['*'] }, 'telbridge defaults')
  const hu = parseConfig({ webhooks: [{ url: 'http://crm/x' }] }).webhooks[0]!
  t.match(hu, { format: '800hu', method: 'GET', events: ['hangup', 'recording'], sources: ['800hu-*'] }, '800hu defaults, as before')
  t.match(parseConfig({ webhooks: [{ url: 'http://crm/x', format: 'telbridge', events: ['recording', 'agent', 'device', 'source', 'pop', 'channel'] }] }).webhooks[0], {
    events: ['recording', 'agent', 'device', 'source', 'pop', 'channel'],
  })
})

t.test('outbox bounds hold for telbridge notifications, and the backlog survives a restart in order', async (t) => {
  const dir = tmp(t)
  const rx = await receiver()
  const port = rx.port
  await new Promise<void>((r) => rx.server.close(() => r())) // the CRM is down
  const hook = { url: `http://127.0.0.1:${port}/hook`, id: 'crm', format: 'telbridge', events: ['call.ended'], maxEntries: 3, retryBaseSeconds: 0.05, retryMaxSeconds: 0.1 }
  const d1 = await daemonWith(dir, [hook])
  for (let i = 1; i <= 5; i++) {
    d1.table.update('gx1', '1', { state: 'ringing', phone: `1360000000${i}`, direction: 'inbound' })
    d1.table.update('gx1', '1', { state: 'idle', phone: null })
    await new Promise((r) => setImmediate(r))
  }
  await until(async () => /telbridge_webhook_dropped_total\{webhook="crm",reason="full"\} 2/.test(await d1.metrics.render()), 5000, 'two dropped')
  t.equal(d1.webhooks.status()[0]!.backlog, 3, 'the bound')
  await d1.stop()
  const d2 = await daemonWith(dir, [hook])
  t.teardown(() => d2.stop())
  t.equal(d2.webhooks.status()[0]!.backlog, 3, 'reloaded')
  const rx2 = await receiver(port)
  t.teardown(() => new Promise<void>((r) => rx2.server.close(() => r())))
  await until(() => rx2.delivered().length === 3, 5000, 'the three kept')
  t.same(
    rx2.delivered().map((h) => h.body.data.phone),
    ['13600000001', '13600000002', '13600000003'],
    'the oldest are kept, in order',
  )
})
