// The live page's calls and agents panels (daemon/page/index.html) in headless Chromium, against a
// small API on 127.0.0.1 that serves the real page file and the agreed shapes of GET /v1/cdr,
// /v1/agents, the recordings' audio and call.* / agent events on /v1/events. The daemon's own
// routes for these are built on another branch; test/page.test.ts checks the page against the daemon.
// Needs /usr/bin/chromium (see test/helpers/browser.ts); without it every test here skips.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import { ROOT } from '../daemon/core/paths.js'
import { makeWav } from '../protocols/wav/index.js'
import { chromiumMissing, launchBrowser } from './helpers/browser.js'
import { until } from './helpers/sse.js'

const WAIT = 8000
const ZONE = 'Asia/Shanghai'
const PAGE = readFileSync(join(ROOT, 'daemon', 'page', 'index.html'), 'utf8')
const WAV = makeWav(2)
const SCREENSHOT = '/tmp/telbridge-page-calls.png'

type Json = Record<string, any>

/** Local midnight today in ZONE, as epoch ms (what the page asks /v1/cdr?from= for). */
function midnight(now = Date.now()): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: ZONE, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(now))
      .map((p) => [p.type, p.value]),
  )
  const sinceMidnight = ((+parts.hour! * 60 + +parts.minute!) * 60 + +parts.second!) * 1000 + (now % 1000)
  return now - sinceMidnight
}

/** A call as callJson shapes it. */
function call(o: Partial<Json> & { id: string; startedMs: number }): Json {
  const { startedMs, ...rest } = o
  const ring = rest.ringSeconds ?? 5
  const talk = rest.talkSeconds ?? (rest.disposition === 'answered' || rest.disposition === undefined ? 42 : 0)
  const disposition = rest.disposition ?? 'answered'
  const iso = (ms: number) => new Date(ms).toISOString()
  const source = rest.source ?? 'yt'
  const channel = rest.channel ?? '1'
  return {
    id: rest.id,
    source,
    channel,
    channelId: `${source}:${channel}`,
    agent: rest.agent ?? '8001',
    direction: rest.direction ?? 'inbound',
    phone: rest.phone ?? '13800000000',
    startedAt: iso(startedMs),
    answeredAt: disposition === 'answered' ? iso(startedMs + ring * 1000) : null,
    endedAt: 'endedAt' in rest ? rest.endedAt : iso(startedMs + (ring + talk) * 1000),
    ringSeconds: ring,
    talkSeconds: disposition === 'answered' ? talk : 0,
    disposition,
    recordings: rest.recordings ?? [],
    vendorIds: {},
    popData: null,
    memo: rest.memo ?? null,
    inputs: ['log'],
    updatedAt: iso(startedMs + 60_000),
  }
}

function agent(o: Partial<Json> & { source: string; agent: string }): Json {
  return { id: `${o.source}:${o.agent}`, name: null, channels: [], presence: 'idle', loggedIn: true, currentCall: null, lastSeenAt: new Date().toISOString(), ...o }
}

interface Fake {
  url: string
  calls: Json[]
  agents: Json[]
  /** every /v1/cdr query the page made */
  cdrQueries: URLSearchParams[]
  /** every audio request: path, query, status */
  audio: { path: string; query: URLSearchParams; status: number }[]
  push(type: string, data: Json): void
}

/** The fake API: the page file at /, the agreed shapes of the routes the page reads, an SSE stream it can push to. */
async function fake(t: { teardown(fn: () => unknown): void }, calls: Json[], agents: Json[]): Promise<Fake> {
  const streams = new Set<ServerResponse>()
  let lastId = 7
  const f: Fake = {
    url: '',
    calls,
    agents,
    cdrQueries: [],
    audio: [],
    push(type, data) {
      lastId++
      for (const s of streams) s.write(`id: ${lastId}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
    },
  }
  const json = (res: ServerResponse, body: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url!, 'http://x')
    const q = u.searchParams
    if (u.pathname === '/') return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    if (u.pathname === '/v1/sources') return json(res, { sources: [{ id: 'yt', type: 'yantong', status: 'connected', lastError: null }] })
    if (u.pathname === '/v1/channels') return json(res, { channels: [], lastEventId: lastId })
    if (u.pathname === '/v1/pops') return json(res, { pops: [] })
    if (u.pathname === '/v1/agents') return json(res, { agents: f.agents })
    if (u.pathname === '/v1/cdr') {
      f.cdrQueries.push(q)
      const from = q.get('from') ? Date.parse(q.get('from')!) : -Infinity
      const limit = Number(q.get('limit') ?? 100)
      const offset = Number(q.get('cursor') ?? 0)
      if (!(limit >= 1 && limit <= 1000)) return json(res, { error: { code: 'BAD_REQUEST', message: 'limit' } }, 400)
      const list = f.calls
        .filter((c) => Date.parse(c.startedAt) >= from)
        .filter((c) => !q.get('phone') || String(c.phone ?? '').includes(q.get('phone')!))
        .filter((c) => !q.get('source') || c.source === q.get('source'))
        .filter((c) => !q.get('agent') || c.agent === q.get('agent'))
        .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1))
      const page = list.slice(offset, offset + limit)
      return json(res, { calls: page, nextCursor: offset + limit < list.length ? String(offset + limit) : null })
    }
    const audio = /^\/v1\/recordings\/([^/]+)\/audio$/.exec(u.pathname)
    if (audio) {
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
      const start = range ? Number(range[1]) : 0
      const end = range && range[2] ? Math.min(Number(range[2]), WAV.length - 1) : WAV.length - 1
      const status = range ? 206 : 200
      f.audio.push({ path: u.pathname, query: q, status })
      const h: Record<string, string | number> = { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'content-length': end - start + 1 }
      if (range) h['content-range'] = `bytes ${start}-${end}/${WAV.length}`
      return res.writeHead(status, h).end(WAV.subarray(start, end + 1))
    }
    if (u.pathname === '/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
      res.write('retry: 1000\n\n')
      streams.add(res)
      req.on('close', () => streams.delete(res))
      return
    }
    json(res, { error: { code: 'NOT_FOUND' } }, 404)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.destroy()
        server.close(() => resolve())
      }),
  )
  const addr = server.address()
  f.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  return f
}

/** The demo day the tests share: answered, missed, busy, an outbound failed call, one with a recording, one from yesterday. */
function day(now = Date.now()) {
  const m = midnight(now)
  const step = Math.min(60_000, Math.floor((now - m) / 10))
  const at = (i: number) => now - i * step - 1000
  const calls = [
    call({
      id: 'c1',
      startedMs: at(1),
      phone: '13812345678',
      agent: '8001',
      channel: '1',
      disposition: 'answered',
      ringSeconds: 4,
      talkSeconds: 125,
      recordings: [{ kind: 'local', id: 'rec-1', contentType: 'audio/wav', size: WAV.length, url: '/v1/recordings/rec-1/audio' }],
    }),
    call({ id: 'c2', startedMs: at(2), phone: '02586307627', agent: '8002', channel: '2', disposition: 'missed', ringSeconds: 18 }),
    call({ id: 'c3', startedMs: at(3), phone: '13900001111', agent: '8001', channel: '1', direction: 'outbound', disposition: 'busy', ringSeconds: 3 }),
    call({ id: 'c4', startedMs: at(4), phone: '13812340000', agent: '8002', channel: '2', direction: 'outbound', disposition: 'failed', ringSeconds: 30 }),
    call({ id: 'c5', startedMs: at(5), phone: '13700002222', agent: '8001', channel: '1', disposition: 'answered', ringSeconds: 2, talkSeconds: 60, memo: '转接 8002' }),
    // yesterday: not in today's list, but a phone search finds it
    call({ id: 'c0', startedMs: m - 3600_000, phone: '13812345678', agent: '8001', disposition: 'answered', talkSeconds: 10 }),
  ]
  const agents = [
    agent({ source: 'yt', agent: '8001', name: '张三', channels: ['yt:1'], presence: 'idle' }),
    agent({ source: 'yt', agent: '8002', name: '李四', channels: ['yt:2'], presence: 'away', loggedIn: false }),
  ]
  return { calls, agents, midnight: m, at }
}

async function open(t: { teardown(fn: () => unknown): void }, browser: Browser, url: string, locale = 'en-US'): Promise<{ page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale, timezoneId: ZONE })
  t.teardown(() => ctx.close())
  const page = await ctx.newPage()
  page.setDefaultTimeout(WAIT)
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`)
  })
  await page.goto(url)
  await page.locator('#conn.live').waitFor()
  return { page, errors }
}

const cells = async (page: Page, sel: string) => page.locator(sel).allTextContents()
/** wait until the calls table's phones are exactly `phones` */
async function phones(page: Page, want: string[]): Promise<string[]> {
  let got: string[] = []
  await until(async () => ((got = await cells(page, '#calls td.phone')), JSON.stringify(got) === JSON.stringify(want)), WAIT, `calls ${want.join(',')}`).catch(() => {})
  return got
}

const noBrowser = chromiumMissing()
const browser = noBrowser ? (null as unknown as Browser) : await launchBrowser()
if (!noBrowser) t.teardown(() => browser.close())

t.test("today's calls, agents, live events, agent filter, phone search and playback (English)", { skip: noBrowser }, async (t) => {
  const d = day()
  const api = await fake(t, d.calls, d.agents)
  const { page, errors } = await open(t, browser, `${api.url}/?lang=en`)

  t.same(
    await phones(page, ['13812345678', '02586307627', '13900001111', '13812340000', '13700002222']),
    ['13812345678', '02586307627', '13900001111', '13812340000', '13700002222'],
    "today's calls newest first, yesterday's left out",
  )
  const first = api.cdrQueries[0]!
  t.equal(first.get('from'), new Date(d.midnight).toISOString(), `/v1/cdr?from= is today 00:00 in the browser's zone (${ZONE})`)
  t.equal(await page.locator('#callstitle').textContent(), "Today's calls")
  t.same(await cells(page, '#calls td .disp'), ['answered', 'missed', 'busy', 'failed', 'answered'], 'dispositions as words')
  t.same(
    await page.locator('#calls td .disp').evaluateAll((es) => es.map((e) => getComputedStyle(e).color)),
    ['rgb(47, 158, 68)', 'rgb(201, 42, 42)', 'rgb(232, 89, 12)', 'rgb(224, 49, 49)', 'rgb(47, 158, 68)'],
    'each disposition in its colour',
  )
  const row1 = (await cells(page, '#calls tr:first-child td')).map((s) => s.trim())
  const local = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(d.calls[0]!.startedAt))
  t.same(row1.slice(0, 7), [local, 'inbound', '13812345678', '8001 · yt:1', 'answered', '0:04', '2:05'], 'row: local time, direction, phone, agent · channel, disposition, ring, talk')
  t.equal(await page.locator('#calls button.play').count(), 1, 'one play button: only c1 has a recording')
  t.equal(await page.locator('#calls tr[data-id="c5"] small.memo').textContent(), ' 转接 8002', "the vendor's remark beside the result")

  // agents: presence, logged in, today's calls and talk time
  const a1 = page.locator('#agents tr[data-id="yt:8001"]')
  t.same(
    (await a1.locator('td').allTextContents()).map((s) => s.trim()),
    ['8001 张三 yt', 'idle', 'yes', '—', '3', '3:05'],
    'agent 8001: presence, logged in, no current call, 3 calls, 125 s + 60 s talk',
  )
  t.same(
    (await page.locator('#agents tr[data-id="yt:8002"] td').allTextContents()).map((s) => s.trim()),
    ['8002 李四 yt', 'away', 'no', '—', '2', '0:00'],
  )

  // an agent event changes presence; a call.started shows a live call on the agent and on top of the list
  api.push('agent', { id: 'yt:8002', source: 'yt', agent: '8002', name: '李四', channels: ['yt:2'], presence: 'idle', loggedIn: true })
  await page.locator('#agents tr[data-id="yt:8002"] .state', { hasText: /^idle$/ }).waitFor()
  t.equal(await page.locator('#agents tr[data-id="yt:8002"] td.login').textContent(), 'yes', 'the agent event updates presence and logged-in')
  const live = call({ id: 'c9', startedMs: Date.now(), phone: '13355556666', agent: '8002', channel: '2', endedAt: null, disposition: 'unknown', ringSeconds: null, talkSeconds: null })
  api.push('call.started', live)
  t.same((await phones(page, ['13355556666', '13812345678', '02586307627', '13900001111', '13812340000', '13700002222'])).slice(0, 1), ['13355556666'], 'call.started: the new call on top')
  t.equal(await page.locator('#calls tr[data-id="c9"] .disp').textContent(), 'ringing', 'a call in progress shows ringing')
  t.equal(await page.locator('#agents tr[data-id="yt:8002"] td.cur').textContent(), '13355556666 · ringing', "the agent's current call")
  const answered = { ...live, answeredAt: new Date(Date.now() - 3000).toISOString(), updatedAt: new Date(Date.now() + 61_000).toISOString() }
  api.push('call.answered', answered)
  await page.locator('#calls tr[data-id="c9"] .disp', { hasText: /^talking$/ }).waitFor()
  await page.locator('#calls tr[data-id="c9"] td.talk', { hasText: /^0:0[3-9]$/ }).waitFor()
  t.pass('call.answered: talking, the talk time counts up')
  api.push('call.ended', { ...answered, endedAt: new Date().toISOString(), disposition: 'answered', ringSeconds: 2, talkSeconds: 33, updatedAt: new Date(Date.now() + 62_000).toISOString() })
  await page.locator('#calls tr[data-id="c9"] .disp', { hasText: /^answered$/ }).waitFor()
  t.equal(await page.locator('#calls tr[data-id="c9"] td.talk').textContent(), '0:33', 'call.ended: the final talk time')
  await page.locator('#agents tr[data-id="yt:8002"] td.cur', { hasText: /^—$/ }).waitFor()
  t.equal(await page.locator('#agents tr[data-id="yt:8002"] td.n').textContent(), '3', "the ended call counts in the agent's calls today")

  // clicking an agent filters the calls; clicking again clears
  await a1.click()
  t.same(await phones(page, ['13812345678', '13900001111', '13700002222']), ['13812345678', '13900001111', '13700002222'], 'clicking agent 8001 shows only its calls')
  t.match(await page.locator('#filter').textContent(), /Agent yt:8001/, 'the filter shows as a chip')
  await a1.click()
  t.equal((await phones(page, ['13355556666', '13812345678', '02586307627', '13900001111', '13812340000', '13700002222'])).length, 6, 'clicking it again shows every call')

  // the phone search asks /v1/cdr?phone= over every day: yesterday's call with that number shows too
  await page.locator('#search').fill('1381234')
  t.same(await phones(page, ['13812345678', '13812340000', '13812345678']), ['13812345678', '13812340000', '13812345678'], 'search 1381234: two calls today and one yesterday')
  const q = api.cdrQueries.at(-1)!
  t.equal(q.get('phone'), '1381234', 'the search is /v1/cdr?phone=')
  t.equal(q.get('from'), null, 'the search is not limited to today')
  t.equal(await page.locator('#callstitle').textContent(), 'Calls with 1381234')
  const yesterday = new Intl.DateTimeFormat('sv-SE', { timeZone: ZONE, dateStyle: 'short', timeStyle: 'short' }).format(new Date(d.calls[5]!.startedAt)).slice(5)
  t.equal(await page.locator('#calls tr[data-id="c0"] td.when').textContent(), yesterday, 'a call from another day shows its date (MM-DD HH:MM)')
  await page.locator('#search').fill('')
  t.equal((await phones(page, ['13355556666', '13812345678', '02586307627', '13900001111', '13812340000', '13700002222'])).length, 6, 'clearing the search shows today again')

  // play: the audio element streams the recording's url from the API
  await page.locator('#calls tr[data-id="c1"] button.play').click()
  await until(() => api.audio.length > 0, WAIT, 'the audio request')
  t.equal(api.audio[0]!.path, '/v1/recordings/rec-1/audio', 'the player fetched the call’s recording url')
  t.ok([200, 206].includes(api.audio[0]!.status), `the audio answered ${api.audio[0]!.status}`)
  t.equal(await page.locator('#player').getAttribute('src'), '/v1/recordings/rec-1/audio', 'no token: the url as the API gave it')
  await until(() => page.evaluate(() => (document.getElementById('player') as HTMLAudioElement).readyState >= 1), WAIT, 'the audio metadata to load')
  t.equal(await page.evaluate(() => Math.round((document.getElementById('player') as HTMLAudioElement).duration)), 2, 'Chromium decoded the 2 s WAV')
  await page.screenshot({ path: SCREENSHOT, fullPage: true })
  t.comment(`screenshot: ${SCREENSHOT}`)
  // a phone: the calls and agents tables scroll in their cards, the page does not scroll sideways
  await page.setViewportSize({ width: 390, height: 844 })
  t.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways page scroll at 390 px')
  await page.screenshot({ path: '/tmp/telbridge-page-calls-narrow.png', fullPage: true })
  t.same(errors, [], 'no errors in the page')
})

t.test('Chinese: ?lang=zh, and the browser language by default', { skip: noBrowser }, async (t) => {
  const d = day()
  const api = await fake(t, d.calls, d.agents)
  for (const [how, url, locale] of [
    ['?lang=zh', `${api.url}/?lang=zh`, 'en-US'],
    ['a zh-CN browser', `${api.url}/`, 'zh-CN'],
  ] as const) {
    const { page, errors } = await open(t, browser, url, locale)
    await phones(page, ['13812345678', '02586307627', '13900001111', '13812340000', '13700002222'])
    t.same(await cells(page, '#calls td .disp'), ['已接', '未接', '占线', '未接通', '已接'], `${how}: dispositions in Chinese`)
    t.equal(await page.locator('#callstitle').textContent(), '今日通话', `${how}: panel title`)
    t.same(await cells(page, '#callsbox th'), ['时间', '方向', '号码', '坐席 / 线路', '结果', '振铃', '通话时长', '录音'], `${how}: column heads`)
    t.same(await cells(page, '#calls td.dir'), ['呼入', '呼入', '呼出', '呼出', '呼入'])
    t.same(await cells(page, '#agents .state'), ['空闲', '小休'], `${how}: presence`)
    t.same(await cells(page, '#agents td.login'), ['已签入', '未签入'])
    t.equal(await page.locator('#conn').textContent(), '实时')
    t.equal(await page.locator('#search').getAttribute('placeholder'), '按号码搜索')
    t.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN')
    if (how === '?lang=zh') await page.screenshot({ path: '/tmp/telbridge-page-calls-zh.png', fullPage: true })
    t.same(errors, [], 'no errors in the page')
  }
  const { page } = await open(t, browser, `${api.url}/`, 'en-US')
  await phones(page, ['13812345678', '02586307627', '13900001111', '13812340000', '13700002222'])
  t.same(await cells(page, '#calls td .disp'), ['answered', 'missed', 'busy', 'failed', 'answered'], 'an en-US browser: English')
  t.equal(await page.locator('#lang a.on').textContent(), 'EN', 'the language switch marks English')
})

t.test('a busy day: 3000 calls load through nextCursor, 200 rows render, agents count them all', { skip: noBrowser }, async (t) => {
  const now = Date.now()
  const m = midnight(now)
  const n = 3000
  const step = Math.max(1, Math.floor((now - m - 2000) / n))
  const calls = Array.from({ length: n }, (_, i) =>
    call({
      id: `b${String(i).padStart(5, '0')}`,
      startedMs: now - 2000 - i * step,
      phone: `1380000${String(i).padStart(4, '0')}`,
      agent: i % 2 ? '8001' : '8002',
      disposition: i % 3 ? 'answered' : 'missed',
      talkSeconds: 10,
    }),
  )
  const api = await fake(t, calls, day(now).agents)
  const t0 = Date.now()
  const { page, errors } = await open(t, browser, `${api.url}/?lang=en`)
  await page.locator('#callsnote', { hasText: 'showing the newest 200 of 3000' }).waitFor()
  const ms = Date.now() - t0
  t.equal(await page.locator('#calls tr').count(), 200, 'at most 200 rows')
  t.equal(await page.locator('#calls tr:first-child td.phone').textContent(), '13800000000', 'the newest first')
  t.same(
    api.cdrQueries.map((q) => [q.get('limit'), q.get('cursor')]),
    [
      ['1000', null],
      ['1000', '1000'],
      ['1000', '2000'],
    ],
    "today's calls in pages of 1000, following nextCursor",
  )
  t.equal(await page.locator('#agents tr[data-id="yt:8001"] td.n').textContent(), '1500', 'agent totals count every call of the day, not just the rows shown')
  // a burst of 500 events redraws in batches and stays capped
  const t1 = Date.now()
  await page.evaluate(() => void 0)
  for (let i = 0; i < 500; i++) api.push('call.ended', call({ id: `z${String(i).padStart(4, '0')}`, startedMs: now + i, phone: `1390000${String(i).padStart(4, '0')}`, agent: '8001' }))
  await page.locator('#calls tr:first-child td.phone', { hasText: '13900000499' }).waitFor()
  const burstMs = Date.now() - t1
  t.equal(await page.locator('#calls tr').count(), 200, 'still 200 rows')
  t.equal(await page.locator('#agents tr[data-id="yt:8001"] td.n').textContent(), '2000')
  t.comment(`load of 3000 calls to the first render: ${ms} ms; 500 call.ended events to the last one on screen: ${burstMs} ms (2-core Xeon, shared)`)
  t.same(errors, [], 'no errors in the page')
})

t.test('with a token, the player passes it as ?access_token=', { skip: noBrowser }, async (t) => {
  const d = day()
  const api = await fake(t, d.calls, d.agents)
  const { page } = await open(t, browser, `${api.url}/?token=tok123&lang=en`)
  await page.locator('#calls tr[data-id="c1"] button.play').click()
  await until(() => api.audio.length > 0, WAIT, 'the audio request')
  t.equal(api.audio[0]!.query.get('access_token'), 'tok123', 'the audio element cannot send a header: the token goes in the query')
  t.equal(api.cdrQueries[0]!.get('access_token'), null, 'fetches send it as a header, not in the address')
})
