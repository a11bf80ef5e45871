// The live page (daemon/page/index.html) in a real headless Chromium, against an in-process
// daemon fed by the LQ simulator. Needs /usr/bin/chromium (Debian `chromium`; test/prepare.sh installs
// it); without it every test here skips, saying so.
// Locators auto-wait (up to WAIT ms each); there are no fixed sleeps.
import { createServer, type Server } from 'node:http'
import t from 'tap'
import { pino } from 'pino'
import type { Browser, Locator, Page, Request } from 'playwright-core'
import { Daemon } from '../daemon/daemon.js'
import { parseConfig } from '../daemon/config.js'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { chromiumMissing, launchBrowser } from './helpers/browser.js'
import { until } from './helpers/sse.js'

const WAIT = 8000
const SCREENSHOT = '/tmp/telbridge-page.png'
const SCREENSHOT_NARROW = '/tmp/telbridge-page-narrow.png'
const TOKEN = 'tb-page-test-0123456789abcdefXYZ' // 32 chars
const ZONE = 'Asia/Shanghai'
const POP_CH3 = 'H=t1v5,ch=3,ph=13812345678,ty=1,tm=081123101500,op=801,sn=77,so=0,mb=2001,da=城市:南京|会员等级:金卡,dm=0;'

/** All the helpers need from a tap test. */
interface Teardown {
  teardown(fn: () => unknown): void
}

interface Rig {
  sim: LqSimulator
  daemon: Daemon
  url: string
  stop(): Promise<void>
}

/** Simulator + daemon (one lq-socket source `lq1`, agent 801), registered and ready. */
async function rig(api: Record<string, unknown> = {}): Promise<Rig> {
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 1, agents: ['801'] })
  const lqPort = await sim.start()
  const daemon = new Daemon(
    parseConfig({
      api: { port: 0, ...api },
      timeZone: ZONE,
      sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper: '801' }],
    }),
    { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) },
  )
  const stop = async () => {
    await daemon.stop()
    await sim.stop()
  }
  try {
    const { apiUrl } = await daemon.start()
    await until(() => [...sim.clients].some((c) => c.agent === '801'), 5000, 'the daemon to register with the simulator as agent 801')
    const auth: Record<string, string> = typeof api.token === 'string' ? { authorization: `Bearer ${api.token}` } : {}
    CALL_API_PENDING = (await fetch(`${apiUrl}/v1/cdr`, { headers: auth })).status === 404
    return { sim, daemon, url: apiUrl, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function start(t: Teardown, api: Record<string, unknown> = {}): Promise<Rig> {
  const r = await rig(api)
  t.teardown(() => r.stop())
  return r
}

/** A fresh browser context + page that records requests and page errors (an English browser: the page follows navigator.language). */
async function open(t: Teardown, browser: Browser, locale = 'en-US'): Promise<{ page: Page; requests: Request[]; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale, timezoneId: ZONE })
  t.teardown(() => ctx.close())
  const page = await ctx.newPage()
  page.setDefaultTimeout(WAIT)
  const requests: Request[] = []
  const errors: string[] = []
  page.on('request', (r) => requests.push(r))
  page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`))
  page.on('console', (m) => {
    const where = m.location().url
    // GET /v1/cdr and /v1/agents come with the call-log API (issue 13, another branch): until it is merged they are 404 and the page says so in its panels
    if (m.type() === 'error' && !(CALL_API_PENDING && /status of 404/.test(m.text()) && /\/v1\/(cdr|agents)\b/.test(where))) errors.push(`console: ${m.text()} (${where})`)
  })
  return { page, requests, errors }
}

const pathOf = (r: Request) => new URL(r.url()).pathname
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The channel table row whose first cell is exactly `<source> · <ch>`. */
const row = (page: Page, source: string, ch: string) => page.locator('#channels tr', { has: page.locator('td:first-child', { hasText: new RegExp(`^${escape(source)} · ${escape(ch)}$`) }) })

/** Wait until an element matching `loc` shows exactly `text`; return its text. */
async function textOf(loc: Locator, text: string): Promise<string> {
  const hit = loc.filter({ hasText: new RegExp(`^\\s*${escape(text)}\\s*$`) }).first()
  await hit.waitFor({ state: 'visible' })
  return (await hit.textContent())?.trim() ?? ''
}

/** Wait until `loc` is there; return its text. */
async function visibleText(loc: Locator): Promise<string> {
  await loc.first().waitFor({ state: 'visible' })
  return (await loc.first().textContent()) ?? ''
}

/** the daemon does not serve GET /v1/cdr yet (checked once at load; see open()) */
let CALL_API_PENDING = true

const noBrowser = chromiumMissing()
const browser = noBrowser ? (null as unknown as Browser) : await launchBrowser()
if (!noBrowser) t.teardown(() => browser.close())

t.test('the page shows sources, channels and pops, and follows the event stream live', { skip: noBrowser }, async (t) => {
  const { sim, daemon, url } = await start(t)
  sim.sendPop(POP_CH3, '801')
  await until(() => daemon.table.get('lq1:3'), 5000, 'the first pop to reach the table')

  const { page, requests, errors } = await open(t, browser)
  const res = await page.goto(`${url}/`)
  t.equal(res?.status(), 200, 'GET / is 200')
  t.match(res?.headers()['content-type'], /^text\/html/, 'GET / is HTML')
  t.equal(await page.title(), 'telbridge — live')

  // what the page fetched at load (/v1/sources, /v1/channels, /v1/pops)
  const src = page.locator('#sources .src', { has: page.locator('b', { hasText: /^lq1$/ }) })
  t.equal(await textOf(src.locator('.state'), 'connected'), 'connected', 'source lq1 shows connected')
  t.match(await src.textContent(), /lq-socket/, 'the source card shows its type')

  const ch3 = row(page, 'lq1', '3')
  t.equal(await textOf(ch3.locator('.state'), 'ringing'), 'ringing', 'lq1 · 3 is ringing')
  const cells = (await ch3.locator('td').allTextContents()).map((s) => s.trim())
  t.same(cells.slice(0, 5), ['lq1 · 3', 'ringing', '13812345678', 'in', '801'], 'row: channel, state, phone, direction, agent')
  t.match(cells[5], /^\d+s$/, 'row: time in state')
  t.equal(cells[6], '77', 'row: call id')
  t.notOk(await page.locator('#nochannels').isVisible(), 'the "no channels yet" note is hidden')

  const pop1 = await visibleText(page.locator('#pops li', { hasText: '13812345678' }))
  t.match(pop1, /城市: 南京/, 'the pop shows the Chinese da value 南京 with its key')
  t.match(pop1, /会员等级: 金卡/, 'the pop shows the Chinese da value 金卡 with its key')
  t.match(pop1, /inbound → agent 801 · ch 3/, 'the pop shows kind, agent and channel')
  t.match(pop1, /lq1 · 2008-11-23 10:15:00 · call 77/, 'the pop shows source, the vendor time as sent, call id')

  t.equal(await textOf(page.locator('#conn'), 'live'), 'live', 'the header says the event stream is live')
  const channelFetches = () => requests.filter((r) => pathOf(r) === '/v1/channels').length
  t.equal(channelFetches(), 1, 'channels fetched once at load')
  const es = requests.find((r) => pathOf(r) === '/v1/events')
  t.match(es && new URL(es.url()).searchParams.get('since'), /^\d+$/, 'the event stream resumes from /v1/channels lastEventId')

  // pops sent after the page loaded arrive through the event stream, not a reload
  await page.evaluate('window.tbMark = 42') // gone if the page reloads
  sim.sendPop('H=t1v5,ch=5,ph=13998765432,ty=2,tm=081123101600,op=801,sn=78,so=0,mb=2002,da=城市:苏州|会员等级:银卡|备注:甲|备注:乙|无键值,dm=0;', '801')
  const ch5 = row(page, 'lq1', '5')
  t.equal(await textOf(ch5.locator('.state'), 'dialing'), 'dialing', 'lq1 · 5 appears live as dialing')
  t.same((await ch5.locator('td').allTextContents()).slice(2, 5), ['13998765432', 'out', '801'], 'its phone, direction out, agent')
  t.match(await visibleText(page.locator('#pops li', { hasText: '13998765432' })), /苏州.*银卡/, 'the live pop shows its da values')
  t.match(await visibleText(page.locator('#pops li', { hasText: '13998765432' })), /备注: 甲 · 备注: 乙 · 无键值/, 'da in order, a repeated key twice, a value without a key alone (dataPairs)')

  // a pop without tm= shows when the daemon got it, in the browser's zone (receivedAt is UTC)
  sim.sendPop('H=t1v5,ch=12,ph=13700000000,ty=1,op=801,sn=79,dm=0;', '801')
  t.equal(await textOf(row(page, 'lq1', '12').locator('.state'), 'ringing'), 'ringing', 'lq1 · 12 appears live as ringing')
  const rec = daemon.pops.list({ limit: 1 })[0]!
  t.equal(rec.pop.time, null, 'that pop carries no time')
  const local = new Intl.DateTimeFormat('sv-SE', { timeZone: ZONE, dateStyle: 'short', timeStyle: 'medium' }).format(new Date(rec.receivedAt))
  t.match(await visibleText(page.locator('#pops li', { hasText: '13700000000' })), `lq1 · ${local}`, `time shown in ${ZONE}, not UTC`)

  t.same(await page.locator('#pops li .ph').allTextContents(), ['13700000000', '13998765432', '13812345678'], 'pops newest first')
  t.same(await page.locator('#channels tr td:first-child').allTextContents(), ['lq1 · 3', 'lq1 · 5', 'lq1 · 12'], 'rows in numeric channel order')
  t.same(await page.locator('#counts .state').allTextContents(), ['2 ringing', '1 dialing'], 'state counts in the header')
  t.equal(await page.evaluate('window.tbMark'), 42, 'the page did not reload')
  t.equal(channelFetches(), 1, 'no refetch: updates came from the event stream')

  await page.screenshot({ path: SCREENSHOT, fullPage: true })
  t.comment(`screenshot: ${SCREENSHOT}`)

  // a phone-sized window: the page does not scroll sideways (the channel table scrolls in its card)
  await page.setViewportSize({ width: 390, height: 844 })
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways page scroll at 390 px')
  await page.screenshot({ path: SCREENSHOT_NARROW, fullPage: true })

  t.same(errors, [], 'no errors in the page')
})

t.test('with api.token, GET / needs the token', async (t) => {
  const { url } = await start(t, { token: TOKEN })
  t.equal(TOKEN.length, 32)
  const bare = await fetch(`${url}/`)
  t.equal(bare.status, 401, 'GET / without the token is 401')
  t.match(bare.headers.get('content-type'), /^application\/json/, 'the 401 is JSON')
  t.match(await bare.json(), { error: { code: 'UNAUTHORIZED' } })
  t.equal((await fetch(`${url}/?token=${'x'.repeat(32)}`)).status, 401, 'a wrong ?token= is 401')
  t.equal((await fetch(`${url}/?access_token=${'x'.repeat(32)}`)).status, 401, 'a wrong ?access_token= is 401')
  t.equal((await fetch(`${url}/v1/channels`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'the API takes the Bearer token')
})

// Open the page on a token-protected daemon, with the token in the page's address, and check it works end to end.
for (const param of ['token', 'access_token']) {
  t.test(`with api.token, /?${param}=… renders channels and follows the stream`, { skip: noBrowser }, async (t) => {
    const { sim, daemon, url } = await start(t, { token: TOKEN })
    sim.sendPop(POP_CH3, '801')
    await until(() => daemon.table.get('lq1:3'), 5000, 'the first pop to reach the table')
    const { page, requests, errors } = await open(t, browser)
    const res = await page.goto(`${url}/?${param}=${TOKEN}`)
    t.equal(res?.status(), 200, `GET /?${param}=<token> is 200`)
    t.equal(await textOf(row(page, 'lq1', '3').locator('.state'), 'ringing'), 'ringing', 'channels render with the token')
    t.equal(await textOf(page.locator('#conn'), 'live'), 'live', 'the event stream is live with the token')
    const api = requests.filter((r) => pathOf(r) === '/v1/channels')
    t.equal(api.length, 1)
    t.equal((await api[0]!.allHeaders()).authorization, `Bearer ${TOKEN}`, 'fetch sends the token as a Bearer header')
    const es = requests.find((r) => pathOf(r) === '/v1/events')
    t.equal(es && new URL(es.url()).searchParams.get('access_token'), TOKEN, 'EventSource passes it as ?access_token=')
    sim.sendPop('H=t1v5,ch=5,ph=13998765432,ty=2,tm=081123101600,op=801,sn=78,so=0,dm=0;', '801')
    t.equal(await textOf(row(page, 'lq1', '5').locator('.state'), 'dialing'), 'dialing', 'live updates arrive with the token')
    t.same(errors, [], 'no errors in the page')
  })
}

t.test('the page recovers when the daemon goes away, answers 503 for a while, and comes back', { skip: noBrowser }, async (t) => {
  const a = await rig()
  let aStopped = false
  t.teardown(() => (aStopped ? undefined : a.stop()))
  a.sim.sendPop(POP_CH3, '801')
  await until(() => a.daemon.table.get('lq1:3'), 5000, 'the first pop to reach the table')
  const port = Number(new URL(a.url).port)

  const { page, errors } = await open(t, browser)
  await page.goto(`${a.url}/`)
  t.equal(await textOf(row(page, 'lq1', '3').locator('.state'), 'ringing'), 'ringing', 'first daemon: lq1 · 3 ringing')
  t.equal(await textOf(page.locator('#conn'), 'live'), 'live')

  // the daemon stops; something answers 503 on its port (a daemon shutting down does the same).
  // An HTTP error ends an EventSource for good; the page must start over by itself.
  const saw503 = page.waitForResponse((r) => pathOf(r.request()) === '/v1/events' && r.status() === 503)
  await a.stop()
  aStopped = true
  const busy: Server = createServer((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"UNAVAILABLE"}}'))
  await new Promise<void>((resolve, reject) => busy.once('error', reject).listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())))
  t.equal(await textOf(page.locator('#conn'), 'reconnecting…'), 'reconnecting…', 'the header says the stream is down')
  // stale data must not look live: greyed out under a banner, the time-in-state column stopped
  t.match(await visibleText(page.locator('#banner')), /^Connection to telbridge lost at \d\d:\d\d:\d\d: the table shows that moment, not now\. Reconnecting…$/, 'a banner says the data is stale')
  t.equal(await page.evaluate('document.body.className'), 'stale', 'the page is greyed out')
  const frozen = await row(page, 'lq1', '3').locator('td.since').textContent()
  await page.waitForTimeout(1500)
  t.equal(await row(page, 'lq1', '3').locator('td.since').textContent(), frozen, '"since" stops counting while the stream is down')
  await page.setViewportSize({ width: 400, height: 800 })
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= 400'), 'the banner fits a 400 px phone screen')
  await page.screenshot({ path: '/tmp/telbridge-page-stale.png', fullPage: true })
  await saw503
  await new Promise<void>((resolve) => busy.close(() => resolve()))

  // a new daemon on the same port, with a different channel
  const b = await rig({ port })
  t.teardown(() => b.stop())
  b.sim.sendPop('H=t1v5,ch=8,ph=13600000000,ty=2,tm=081123101700,op=801,sn=80,so=0,dm=0;', '801')
  t.equal(await textOf(row(page, 'lq1', '8').locator('.state'), 'dialing'), 'dialing', 'second daemon: lq1 · 8 shows up')
  t.equal(await textOf(page.locator('#conn'), 'live'), 'live', 'the stream is live again')
  t.notOk(await page.locator('#banner').isVisible(), 'the banner is gone')
  t.equal(await page.evaluate('document.body.className'), '', 'no longer greyed out')
  t.equal(await row(page, 'lq1', '3').count(), 0, 'the old daemon’s channel is gone (state was refetched)')
  // expected: fetches that met the 503 server, and the event stream cut off when the first daemon stopped
  t.same(
    errors.filter((e) => !/status of 503|ERR_INCOMPLETE_CHUNKED_ENCODING .*\/v1\/events/.test(e)),
    [],
    'no other errors in the page',
  )
})

// The calls and agents panels against the daemon itself: the tracker's call.* events and the agent
// registry's agent events. test/page-calls.test.ts checks the panels in detail against a stand-in API;
// the reload half here needs GET /v1/cdr and /v1/agents (the call-log API branch) and skips without them.
t.test('the calls and agents panels follow the daemon’s call log and agent registry', { skip: noBrowser }, async (t) => {
  const { daemon, url } = await start(t)
  const { page, errors } = await open(t, browser)
  await page.goto(`${url}/?lang=en`)
  await textOf(page.locator('#conn'), 'live')

  daemon.agents.report({ source: 'lq1', agent: '806', name: '王五', presence: 'idle', loggedIn: true })
  const agentRow = page.locator('#agents tr[data-id="lq1:806"]')
  t.equal(await textOf(agentRow.locator('.state'), 'idle'), 'idle', 'an agent event adds the agent with its presence')
  daemon.agents.report({ source: 'lq1', agent: '806', presence: 'busy' })
  t.equal(await textOf(agentRow.locator('.state'), 'busy'), 'busy', 'and updates it')

  const now = Date.now()
  const answered = await daemon.calls.report({
    source: 'lq1',
    input: 'log',
    agent: '806',
    channel: '9',
    direction: 'inbound',
    phone: '13811112222',
    startedAt: now - 60_000,
    answeredAt: now - 55_000,
    endedAt: now - 10_000,
    disposition: 'answered',
    vendorIds: { callid: 'pg-1' },
  })
  const missed = await daemon.calls.report({
    source: 'lq1',
    input: 'log',
    agent: '806',
    channel: '9',
    direction: 'inbound',
    phone: '13933334444',
    startedAt: now - 5_000,
    endedAt: now - 1_000,
    disposition: 'missed',
    vendorIds: { callid: 'pg-2' },
  })
  t.ok(answered && missed, 'both calls are in the log')
  const r1 = page.locator(`#calls tr[data-id="${answered!.id}"]`)
  t.equal(await textOf(r1.locator('.disp'), 'answered'), 'answered', 'call.ended: the answered call in the panel')
  t.equal(await textOf(page.locator(`#calls tr[data-id="${missed!.id}"] .disp`), 'missed'), 'missed', 'and the missed one')
  t.same(await page.locator('#calls td.phone').allTextContents(), ['13933334444', '13811112222'], 'newest first')
  t.equal(await r1.locator('td.talk').textContent(), '0:45', 'talk time 45 s')
  t.equal(await textOf(agentRow.locator('td.n'), '2'), '2', "the agent's calls today")

  if (CALL_API_PENDING) {
    t.comment('GET /v1/cdr is not served yet (call-log API branch): reload half skipped')
  } else {
    await page.reload()
    t.equal(await textOf(page.locator(`#calls tr[data-id="${missed!.id}"] .disp`), 'missed'), 'missed', 'after a reload the calls come from GET /v1/cdr')
    t.equal(await textOf(page.locator('#agents tr[data-id="lq1:806"] td.n'), '2'), '2', 'and the agent from GET /v1/agents')
    await page.locator('#search').fill('1381111')
    await page.locator('#calls td.phone', { hasText: /^13811112222$/ }).waitFor()
    await until(async () => (await page.locator('#calls td.phone').count()) === 1, 8000, 'the search to leave one row')
    t.pass('the phone search filters through /v1/cdr?phone=')
  }
  t.same(errors, [], 'no other errors in the page')
})
