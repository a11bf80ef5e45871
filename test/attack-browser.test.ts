// Issue 9 item 3: what a web page (DNS rebinding, another origin) and a password guesser can do
// against the local API. Real HTTP on 127.0.0.1, a Yantong simulator as the dial target, headless
// Chromium for the browser part; no mocks.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { LoginLimiter, limitKey } from '../daemon/core/login-limit.js'
import { hostOf } from '../daemon/origin-guard.js'
import { YantongSimulator } from '../daemon/vendors/yantong/simulator.js'
import { CHROMIUM_PATH, launchBrowser } from './helpers/browser.js'
import { until } from './helpers/sse.js'

const TOKEN = 'tb-attack-test-0123456789abcdef'
const SA_USER = '100008800'
const SA_PASSWORD = '02367073578'
const MD5 = createHash('md5').update(SA_PASSWORD).digest('hex')
const MAC = '00:00:00:00:00:01'
const CRM = 'https://crm.example.com'
const EVIL = 'http://evil.example'
const DIAL = { source: 'yt', agent: '8001', phone: '13800000000' }

interface Teardown {
  teardown(fn: () => unknown): void
}

interface Rig {
  daemon: Daemon
  sim: YantongSimulator
  url: string
  port: number
  /** parsed log lines at info and above */
  logs: Record<string, any>[]
}

async function setup(t: Teardown, api: Record<string, unknown> = {}): Promise<Rig> {
  const sim = new YantongSimulator({ port: 0, staff: ['8001', '8002'], ringMs: 30, talkMs: 0 })
  await sim.start()
  t.teardown(() => sim.stop())
  const dir = await mkdtemp(join(tmpdir(), 'tb-attack-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const logs: Record<string, any>[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line))
      done()
    },
  })
  const config = parseConfig({
    api: { port: 0, allowedHosts: ['telbridge.lan', 'Agent-PC.Office.'], ...api },
    ingest: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    boxes: { allow: [MAC], localApi: { user: SA_USER, password: SA_PASSWORD } },
    sources: [{ id: 'yt', type: 'yantong', url: sim.url, companyid: 8, auth: 'yantong-demo', staff: ['8001', '8002'], pollMs: 50, cdrPollMs: 0, timeoutMs: 1000 }],
  })
  const daemon = new Daemon(config, { log: pino({ level: 'info' }, sink) })
  const { apiUrl } = await daemon.start()
  t.teardown(() => daemon.stop())
  await until(() => daemon.sources.get('yt')!.status === 'connected', 5000, 'yantong source connected')
  return { daemon, sim, url: apiUrl, port: Number(new URL(apiUrl).port), logs }
}

interface Res {
  status: number
  headers: IncomingHttpHeaders
  text: string
  body: any
}

/** One request over node:http (fetch will not send an arbitrary Host). SSE answers are read only to their head. */
function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string; agent?: Agent } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, agent: opts.agent }, (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        resolve({ status: res.statusCode!, headers: res.headers, text: '', body: null })
        res.destroy()
        return
      }
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => {
        let body: unknown = null
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: body stays null
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, body })
      })
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const dialsSeen = (r: Rig) => r.sim.sent('SendDial').length
const jsondata = (q: Record<string, string>) => `/voip/api/jsondata.html?${new URLSearchParams(q)}`

t.test('hostOf: case, port, brackets, a final dot; malformed is null', async (t) => {
  t.equal(hostOf(undefined), '')
  t.equal(hostOf(''), '')
  t.equal(hostOf('LocalHost:7700'), 'localhost')
  t.equal(hostOf('[::1]:7700'), '::1')
  t.equal(hostOf('[::1]'), '::1')
  t.equal(hostOf('127.5.6.7'), '127.5.6.7')
  t.equal(hostOf('Evil.Example.:80'), 'evil.example')
  for (const bad of ['::1', '[::1', '[evil]:1', 'a b', 'x:y:z', 'host:99999999', '.', 'a..b', '[]']) t.equal(hostOf(bad), null, JSON.stringify(bad))
})

t.test('Host check: rebinding names get 421 on every route; loopback, IP literals, api.host and allowedHosts are served', async (t) => {
  const r = await setup(t)
  for (const path of ['/v1/channels', '/', '/v1/events', jsondata({ method: 'systemChannels', sa_user: SA_USER, sa_password: MD5 }), '/no/such/route', '/v1/health']) {
    for (const host of ['evil.example', `rebind.evil.example:${r.port}`, 'EVIL.example.']) {
      const res = await http(r.url + path, { headers: { host } })
      t.equal(res.status, 421, `${host} ${path}`)
      t.match(res.headers['content-type'], /^application\/json/)
      t.match(res.body, { error: { code: 'MISDIRECTED_REQUEST', message: /is not served here/ } }, `${host} ${path}: error shape`)
    }
  }
  for (const host of ['::1', 'a b', `localhost.evil.example:${r.port}`, 'localhost.localdomain', `telbridge.lan.evil.example`]) {
    t.equal((await http(r.url + '/v1/channels', { headers: { host } })).status, 421, `${host}: 421`)
  }
  for (const host of [
    `localhost:${r.port}`,
    `LOCALHOST:${r.port}`,
    'localhost',
    `127.0.0.1:${r.port}`,
    '127.5.6.7',
    `[::1]:${r.port}`,
    '[::1]',
    'telbridge.lan',
    `telbridge.lan:${r.port}`,
    'agent-pc.office',
    '10.1.2.3:7700',
    '[fe80::1]:7700',
  ]) {
    const res = await http(r.url + '/v1/channels', { headers: { host } })
    t.equal(res.status, 200, `${host}: served`)
    t.ok(Array.isArray(res.body?.channels), `${host}: the channel table`)
  }
  t.equal((await http(r.url + '/', { headers: { host: `localhost:${r.port}` } })).status, 200, 'the page by localhost')
  t.equal((await http(r.url + '/v1/events', { headers: { host: `localhost:${r.port}` } })).status, 200, 'the event stream by localhost')

  // HTTP/1.0 without Host: allowed
  const head = await new Promise<string>((resolve, reject) => {
    const s = connect(r.port, '127.0.0.1', () => s.end('GET /v1/health HTTP/1.0\r\n\r\n'))
    let out = ''
    s.setEncoding('utf8')
      .on('data', (c: string) => (out += c))
      .on('end', () => resolve(out))
      .on('error', reject)
  })
  t.match(head, /^HTTP\/1\.[01] 200 /, 'HTTP/1.0 without Host is served')
})

t.test("Origin check: a foreign Origin gets 403 on every route and nothing is dialled; no Origin or the page's own is served", async (t) => {
  const r = await setup(t)
  const own = { host: `127.0.0.1:${r.port}` }
  for (const origin of [EVIL, 'null', 'http://127.0.0.1:1', `https://crm.example.com.evil.example`, `${CRM}/`, `http://localhost:${r.port}`]) {
    const cases: [string, { method?: string; headers?: Record<string, string>; body?: string }][] = [
      ['/v1/channels', {}],
      ['/v1/calls', json(DIAL)],
      ['/v1/events', {}],
      ['/', {}],
      ['/no/such/route', {}],
      [jsondata({ method: 'sendTelCall', sa_user: SA_USER, sa_password: MD5, mac: MAC, phone: '13800000000' }), {}],
      [
        '/voip/api/jsondata.html',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ method: 'sendTelCall', sa_user: SA_USER, sa_password: MD5, mac: MAC, phone: '1' }).toString(),
        },
      ],
      ['/v1/calls', { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } }],
    ]
    for (const [path, o] of cases) {
      const res = await http(r.url + path, { ...o, headers: { ...own, ...o.headers, origin } })
      t.equal(res.status, 403, `${origin} ${o.method ?? 'GET'} ${path}`)
      t.match(res.body, { error: { code: 'FORBIDDEN_ORIGIN', message: /is not allowed/ } })
      t.notOk(res.headers['access-control-allow-origin'], 'no CORS header for it')
    }
  }
  t.equal(dialsSeen(r), 0, 'the vendor received no dial')
  t.equal(r.daemon.boxes.pendingCommands(MAC.replace(/:/g, '')), 0, 'the box got no dial command')

  // no-cors requests from another site carry no Origin; Fetch Metadata tells them apart
  for (const [mode, dest] of [
    ['no-cors', 'image'],
    ['no-cors', 'script'],
    ['cors', 'empty'],
  ]) {
    const res = await http(r.url + jsondata({ method: 'sendTelCall', sa_user: SA_USER, sa_password: MD5, mac: MAC, phone: '1' }), {
      headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': mode!, 'sec-fetch-dest': dest! },
    })
    t.equal(res.status, 403, `Sec-Fetch-Site cross-site, ${mode} ${dest}: 403`)
    t.match(res.body, { error: { code: 'FORBIDDEN_ORIGIN', message: /Sec-Fetch-Site: cross-site/ } })
  }
  t.equal((await http(r.url + '/v1/channels', { headers: { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' } })).status, 403, 'same-site no-cors: 403')
  t.equal(r.daemon.boxes.pendingCommands(MAC.replace(/:/g, '')), 0, 'still no box command')
  t.equal(
    (await http(r.url + '/', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } })).status,
    200,
    'a link from another site to the page opens it',
  )
  t.equal((await http(r.url + '/v1/channels', { headers: { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' } })).status, 200, 'same-origin fetch')
  t.equal((await http(r.url + '/v1/channels', { headers: { 'sec-fetch-site': 'none' } })).status, 200, 'typed into the address bar')

  // no Origin (curl, a CRM server): served, and dials
  t.equal((await http(r.url + '/v1/calls', json(DIAL))).status, 202, 'no Origin: the dial is accepted')
  t.equal(dialsSeen(r), 1, 'and reached the vendor')
  // the page's own origin (the live page at / posting to its daemon)
  for (const [host, origin] of [
    [`127.0.0.1:${r.port}`, `http://127.0.0.1:${r.port}`],
    [`localhost:${r.port}`, `http://LOCALHOST:${r.port}`],
    [`telbridge.lan:${r.port}`, `https://telbridge.lan:${r.port}`],
  ]) {
    const seen = dialsSeen(r)
    const res = await http(r.url + '/v1/calls', { ...json({ ...DIAL, agent: '8002' }), headers: { 'content-type': 'application/json', host: host!, origin: origin! } })
    // 202, or 502 when the simulator finds 8002 still in the previous call: either way it reached the vendor
    t.ok(res.status === 202 || res.status === 502, `own origin ${origin} with Host ${host}: ${res.status}`)
    t.equal(dialsSeen(r), seen + 1, 'the dial reached the vendor')
    t.notOk(res.headers['access-control-allow-origin'], 'same origin needs no CORS header')
  }
  t.equal(dialsSeen(r), 4)
  // Host and Origin both the attacker's (a rebound page): the Host check answers first
  const rebound = await http(r.url + '/v1/calls', {
    ...json(DIAL),
    headers: { 'content-type': 'application/json', host: `rebind.evil.example:${r.port}`, origin: `http://rebind.evil.example:${r.port}` },
  })
  t.equal(rebound.status, 421, 'a rebound page posting to "its own" origin: 421')
  t.equal(dialsSeen(r), 4, 'no dial from it')
})

t.test('CORS: an allowed origin gets Access-Control-Allow-Origin and a Private Network Access preflight answer, without the token', async (t) => {
  const r = await setup(t, { token: TOKEN, cors: { origins: [CRM, 'http://LocalHost:8080', 'https://crm2.example.com:443'] } })
  const auth = { authorization: `Bearer ${TOKEN}` }
  const get = await http(r.url + '/v1/channels', { headers: { ...auth, origin: CRM } })
  t.equal(get.status, 200)
  t.equal(get.headers['access-control-allow-origin'], CRM, 'the origin is echoed')
  t.match(get.headers.vary, /Origin/i, 'Vary: Origin')
  t.match(get.headers['access-control-expose-headers'], /Retry-After/)
  t.equal((await http(r.url + '/v1/channels', { headers: { ...auth, origin: 'http://localhost:8080' } })).headers['access-control-allow-origin'], 'http://localhost:8080', 'configured in another case')
  t.equal(
    (await http(r.url + '/v1/channels', { headers: { ...auth, origin: 'https://crm2.example.com' } })).headers['access-control-allow-origin'],
    'https://crm2.example.com',
    'configured with its default port',
  )

  const pre = await http(r.url + '/v1/calls', {
    method: 'OPTIONS',
    headers: { origin: CRM, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type', 'access-control-request-private-network': 'true' },
  })
  t.equal(pre.status, 204, 'preflight answered without the bearer token')
  t.equal(pre.headers['access-control-allow-origin'], CRM)
  t.equal(pre.headers['access-control-allow-private-network'], 'true', 'Private Network Access allowed')
  t.match(pre.headers['access-control-allow-methods'], /POST/)
  for (const h of ['Authorization', 'Content-Type', 'Last-Event-ID']) t.match(pre.headers['access-control-allow-headers'], new RegExp(h, 'i'), `allows ${h}`)
  t.ok(Number(pre.headers['access-control-max-age']) > 0, 'cacheable')
  const plain = await http(r.url + '/v1/events', { method: 'OPTIONS', headers: { origin: CRM, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' } })
  t.equal(plain.status, 204)
  t.notOk(plain.headers['access-control-allow-private-network'], 'no PNA answer unless asked')

  const dial = await http(r.url + '/v1/calls', { ...json(DIAL), headers: { 'content-type': 'application/json', ...auth, origin: CRM } })
  t.equal(dial.status, 202, 'the CRM dials')
  t.equal(dial.headers['access-control-allow-origin'], CRM)
  t.equal(dialsSeen(r), 1)
  const es = await http(`${r.url}/v1/events?access_token=${TOKEN}`, { headers: { origin: CRM } })
  t.equal(es.status, 200, 'the event stream with ?access_token=')
  t.match(es.headers['content-type'], /^text\/event-stream/)
  t.equal(es.headers['access-control-allow-origin'], CRM, 'the hijacked event stream carries the CORS header')
  const denied = await http(r.url + '/v1/channels', { headers: { origin: CRM } })
  t.equal(denied.status, 401, 'the token is still needed')
  t.equal(denied.headers['access-control-allow-origin'], CRM, 'and the CRM can read the 401')
  t.equal(
    (await http(r.url + '/v1/calls', { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' } })).status,
    403,
    'a foreign preflight: 403',
  )
  const bare = await http(r.url + '/v1/channels', { method: 'OPTIONS' })
  t.equal(bare.status, 401, 'OPTIONS without Origin is no preflight: the token check as for any request')
})

t.test('brute force on the local 800hu JSON API and on the bearer token: 429 after api.loginRateLimit.max failures per address', async (t) => {
  const r = await setup(t, { token: TOKEN, loginRateLimit: { max: 10, windowSeconds: 60 } })
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  t.teardown(() => agent.destroy())
  const wrong = (i: number) => jsondata({ method: 'systemChannels', sa_user: SA_USER, sa_password: createHash('md5').update(`guess${i}`).digest('hex') })
  const N = 3000
  const statuses = new Map<number, number>()
  const codes = new Map<number, number>()
  let retryAfter: string | undefined
  const t0 = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++
        const res = await http(r.url + wrong(i), { agent })
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        codes.set(res.body.code, (codes.get(res.body.code) ?? 0) + 1)
        if (res.status === 429) retryAfter ??= res.headers['retry-after'] as string
      }
    }),
  )
  const ms = performance.now() - t0
  t.comment(`${N} wrong passwords in ${Math.round(ms)} ms: ${JSON.stringify([...statuses])}`)
  t.equal(statuses.get(200), 10, 'the first 10 wrong passwords are answered (vendor code -2)')
  t.equal(codes.get(-2), 10)
  t.equal(statuses.get(429), N - 10, 'every later one is 429')
  t.equal(codes.get(-12), N - 10, 'in the vendor shape: code -12 (over a limit)')
  t.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`)

  const right = jsondata({ method: 'systemChannels', sa_user: SA_USER, sa_password: MD5 })
  const blocked = await http(r.url + right, { agent })
  t.equal(blocked.status, 429, 'the right password from the blocked address is refused too (no oracle)')
  t.match(blocked.body, { code: -12, message: /too many failed logins/ })
  const other = await http(r.url + right, { localAddress: '127.0.0.2' })
  t.equal(other.status, 200, 'a correct login from another address is served')
  t.equal(other.body.code, 0)
  const noCreds = await http(r.url + '/voip/api/jsondata.html?method=systemChannels', { localAddress: '127.0.0.5' })
  t.equal(noCreds.body.code, -2, 'no credentials: -2')

  // the bearer token: the same limiter
  const bad = { authorization: `Bearer ${'x'.repeat(TOKEN.length)}` }
  for (let i = 0; i < 10; i++) t.equal((await http(r.url + '/v1/channels', { headers: bad, localAddress: '127.0.0.3' })).status, 401, `wrong token ${i + 1}: 401`)
  const tooMany = await http(r.url + `/v1/channels?access_token=${'y'.repeat(TOKEN.length)}`, { localAddress: '127.0.0.3' })
  t.equal(tooMany.status, 429, 'the 11th wrong token: 429')
  t.match(tooMany.body, { error: { code: 'TOO_MANY_REQUESTS', message: /too many failed logins/ } })
  t.ok(Number(tooMany.headers['retry-after']) >= 1, 'with Retry-After')
  t.equal((await http(r.url + '/v1/channels', { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: '127.0.0.3' })).status, 429, 'the right token from that address too')
  t.equal((await http(r.url + '/v1/channels', { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: '127.0.0.4' })).status, 200, 'another address is served')
  t.equal((await http(r.url + '/v1/health', { localAddress: '127.0.0.3' })).status, 200, '/v1/health needs no token and stays open')
  for (let i = 0; i < 20; i++) t.equal((await http(r.url + '/v1/channels', { localAddress: '127.0.0.6' })).status, 401, 'a missing token is not a guess: 401, not counted')

  const refusals = r.logs.filter((l) => /too many failed logins/.test(l.msg))
  t.equal(refusals.length, 2, 'logged once per window per address')
  t.match(refusals, [
    { level: 40, remote: '127.0.0.1', login: 'local 800hu API', failures: 10 },
    { level: 40, remote: '127.0.0.3', login: 'bearer token' },
  ])
  t.equal(r.daemon.api.loginLimiter!.size, 2, 'two addresses counted')
})

t.test('LoginLimiter: fixed windows, one log line per window, bounded memory, IPv6 by /64', async (t) => {
  let now = 1_000_000
  const lines: unknown[] = []
  const log = { warn: (o: unknown) => lines.push(o) } as any
  const l = new LoginLimiter({ max: 3, windowSeconds: 10, maxEntries: 100, log, now: () => now })
  for (let i = 0; i < 3; i++) {
    t.equal(l.refused('1.1.1.1', 'x'), 0)
    l.fail('1.1.1.1')
  }
  t.equal(l.refused('1.1.1.1', 'x'), 10, 'over the limit: 10 s to wait')
  now += 4500
  t.equal(l.refused('1.1.1.1', 'x'), 6, 'rounded up')
  t.equal(l.refused('::ffff:1.1.1.1', 'x'), 6, 'IPv4-mapped is the same address')
  t.equal(lines.length, 1, 'logged once')
  now += 5500
  t.equal(l.refused('1.1.1.1', 'x'), 0, 'a new window')
  for (let i = 0; i < 3; i++) l.fail('1.1.1.1')
  t.ok(l.refused('1.1.1.1', 'x') > 0)
  t.equal(lines.length, 2, 'logged again in the new window')

  for (let i = 0; i < 10_000; i++) l.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  t.equal(l.size, 100, 'never more than maxEntries addresses')
  t.equal(l.refused('10.0.39.15', 'x'), 0, 'the newest are kept')
  now += 10_000
  l.fail('2.2.2.2')
  t.equal(l.size, 1, 'expired windows are dropped')

  t.equal(limitKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(limitKey('2001:db8:1:2::9'), '2001:db8:1:2::/64')
  t.equal(limitKey('2001:DB8::1'), '2001:db8:0:0::/64')
  t.equal(limitKey('1::3:4:5:6:1.2.3.4'), '1:0:3:4::/64')
  t.equal(limitKey('::1'), '::1')
  t.equal(limitKey('127.0.0.1'), '127.0.0.1')
  t.equal(limitKey(undefined), '?')
  const v6 = new LoginLimiter({ max: 2, windowSeconds: 10, now: () => now })
  v6.fail('2001:db8:1:2::1')
  v6.fail('2001:db8:1:2::ffff')
  t.ok(v6.refused('2001:db8:1:2:aaaa::1', 'x') > 0, 'one /64 is one budget')
  t.equal(v6.refused('2001:db8:1:3::1', 'x'), 0, 'the next /64 is another')
})

t.test('headless Chromium: a page on an allowed origin reads channels, dials and follows the stream; one on another origin gets nothing', async (t) => {
  if (!existsSync(CHROMIUM_PATH)) {
    t.skip(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y --no-install-recommends chromium (or set TB_CHROMIUM); .ci/run installs it`)
    return
  }
  const pageServer = async (): Promise<{ server: Server; origin: string }> => {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>crm</title><p>crm'))
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
    t.teardown(() => new Promise((res) => server.close(res)))
    return { server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` }
  }
  const crm = await pageServer()
  const evil = await pageServer()
  const r = await setup(t, { token: TOKEN, cors: { origins: [crm.origin] } })
  const browser = await launchBrowser()
  t.teardown(() => browser.close())

  const open = async (origin: string) => {
    const ctx = await browser.newContext()
    t.teardown(() => ctx.close())
    const page = await ctx.newPage()
    page.setDefaultTimeout(8000)
    await page.goto(`${origin}/`)
    return page
  }
  type Probe = { status?: number; channels?: number; fetchError?: string; dial?: number; es: 'open' | 'error'; esState: number }
  // runs in the page (serialised by playwright: it may use only its argument and the page's globals)
  const probe = ([api, token]: string[]) => {
    const g = globalThis as any
    const w = g as { events: unknown[]; es: unknown }
    w.events = []
    return (async (): Promise<Probe> => {
      const out: Probe = { es: 'error', esState: -1 }
      try {
        const res = await fetch(`${api}/v1/channels`, { headers: { authorization: `Bearer ${token}` } })
        out.status = res.status
        out.channels = ((await res.json()) as { channels: unknown[] }).channels.length
        const dial = await fetch(`${api}/v1/calls`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ source: 'yt', agent: '8002', phone: '13900000000' }),
        })
        out.dial = dial.status
      } catch (e) {
        out.fetchError = String(e)
      }
      const es = new g.EventSource(`${api}/v1/events?access_token=${token}`)
      w.es = es
      es.addEventListener('call', (e: { data: string }) => w.events.push(JSON.parse(e.data)))
      out.es = await new Promise<'open' | 'error'>((res) => {
        es.onopen = () => res('open')
        es.onerror = () => res('error')
      })
      out.esState = es.readyState
      return out
    })()
  }

  const good = await open(crm.origin)
  const ok = await good.evaluate(probe, [r.url, TOKEN])
  t.match(ok, { status: 200, channels: Number, dial: 202, es: 'open' }, `the allowed page: ${JSON.stringify(ok)}`)
  t.equal(dialsSeen(r), 1, 'its dial reached the vendor')
  // a dial from elsewhere shows up on the page's event stream
  t.equal((await http(r.url + '/v1/calls', { ...json(DIAL), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } })).status, 202)
  await good.waitForFunction(() => ((globalThis as any).events as { agent?: string }[]).some((e) => e.agent === '8001'))
  t.pass('the page received the call event over EventSource')

  const before = r.logs.filter((l) => l.code === 'FORBIDDEN_ORIGIN').length
  const bad = await open(evil.origin)
  const no = await bad.evaluate(probe, [r.url, TOKEN])
  t.match(no, { fetchError: /TypeError/, es: 'error', esState: 2 }, `the other page gets nothing: ${JSON.stringify(no)}`)
  t.notOk('status' in no, 'its fetch did not resolve')
  t.equal(dialsSeen(r), 2, 'no dial from it')
  const refused = r.logs.filter((l) => l.code === 'FORBIDDEN_ORIGIN').slice(before)
  t.ok(
    refused.some((l) => /^\/v1\/channels/.test(l.url)),
    'the daemon answered its fetch (preflight) 403',
  )
  t.ok(
    refused.some((l) => /^\/v1\/events/.test(l.url)),
    'and its EventSource 403',
  )
})
