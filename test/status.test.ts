import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { apiUrlFromConfig, formatAge, formatTable, normalizeUrl } from '../daemon/service/status.js'
import { until } from './helpers/sse.js'

// `telbridge status` is tested as a monitoring system runs it: the compiled CLI in its own process
// (async spawn: the daemon it asks runs in this process and must keep answering).
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')

function status(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // no TELBRIDGE_* from the caller's environment, no default config lookup surprises
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TELBRIDGE_')))
    // a generous default timeout: the machine may be busy; the timeout itself is tested with --timeout 0.5
    const timeout = args.includes('--timeout') ? [] : ['--timeout', '30']
    const child = spawn(process.execPath, [CLI, 'status', ...timeout, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const kill = setTimeout(() => child.kill('SIGKILL'), 60000)
    child.on('close', (code) => {
      clearTimeout(kill)
      resolve({ code, stdout, stderr })
    })
  })
}

async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const p = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return p
}

async function startDaemon(t: { teardown(fn: () => Promise<void>): void }, opts: { down?: boolean; token?: string } = {}) {
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 0, agents: ['801'] })
  const lqPort = await sim.start()
  const sources: Record<string, unknown>[] = [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper: '801', reconnectSeconds: 0.2 }]
  if (opts.down) sources.push({ id: 'lq2', type: 'lq-socket', host: '127.0.0.1', port: await closedPort(), oper: '802', reconnectSeconds: 0.2, failAfter: 1 })
  const config = parseConfig({ api: { port: 0, ...(opts.token ? { token: opts.token } : {}) }, sources })
  const daemon = new Daemon(config, { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) })
  const { apiUrl } = await daemon.start()
  t.teardown(async () => {
    await daemon.stop()
    await sim.stop()
  })
  await until(() => [...sim.clients].some((c) => c.registration !== null), 5000, 'lq1 registered')
  await until(() => daemon.sources.get('lq1')?.status === 'connected', 5000, 'lq1 connected')
  return { daemon, url: apiUrl, lqPort }
}

t.test('all sources connected: exit 0, a verdict line and a table', async (t) => {
  const { url } = await startDaemon(t)
  const r = await status(['--url', url])
  t.equal(r.code, 0, r.stdout + r.stderr)
  const lines = r.stdout.split('\n')
  t.equal(lines[0], `telbridge OK: 1 of 1 source connected (${url})`)
  t.match(lines[1], /^telbridge \d+\.\d+\.\d+, up \d+s$/)
  t.match(lines[2], /^SOURCE +TYPE +STATUS +SINCE +CHANNELS +LAST ERROR$/)
  t.match(lines[3], /^lq1 +lq-socket +connected +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\) +\d+ +-$/)

  const j = await status(['--url', url + '/', '--json'])
  t.equal(j.code, 0)
  const body = JSON.parse(j.stdout)
  t.equal(body.ok, true)
  t.equal(body.exitCode, 0)
  t.equal(body.url, url, 'trailing slash dropped')
  t.equal(body.total, 1)
  t.equal(body.sources[0].id, 'lq1')
  t.equal(body.sources[0].status, 'connected')
  t.equal(body.sources[0].type, 'lq-socket')
})

t.test('a source down: exit 1, the verdict names it, its last error is shown', async (t) => {
  const { url, daemon } = await startDaemon(t, { down: true })
  await until(() => daemon.sources.get('lq2')?.info().lastError !== null, 5000, 'lq2 failed once')
  const r = await status(['--url', url])
  t.equal(r.code, 1, r.stdout + r.stderr)
  t.match(r.stdout.split('\n')[0], /^telbridge WARNING: 1 of 2 sources connected; lq2 (connecting|reconnecting|failed) \(/)
  const row = r.stdout.split('\n').find((l) => l.startsWith('lq2 '))
  t.match(row, /^lq2 +lq-socket +(connecting|reconnecting|failed) +\S+ \(\d+s ago\) +0 +\S/, 'with its last error')
  t.match(row, /ECONNREFUSED|refused/i)
  const j = JSON.parse((await status(['--url', url, '--json'])).stdout)
  t.equal(j.ok, false)
  t.equal(j.exitCode, 1)
  t.equal(j.connected, 1)
  t.equal(j.total, 2)
})

t.test('the token: from --token, TELBRIDGE_TOKEN or the config; refused is exit 3', async (t) => {
  const token = 'status-test-token-0123456789'
  const { url, daemon } = await startDaemon(t, { token })
  const port = Number(new URL(url).port)
  const dir = t.testdir({ 'c.json': JSON.stringify({ api: { host: '127.0.0.1', port, token }, sources: [] }), 'any.json': JSON.stringify({ api: { port: 0 } }) })
  // independent checks, run side by side
  const [none, wrong, flag, envToken, envUrl, viaConfig, anyPort] = await Promise.all([
    status(['--url', url]),
    status(['--url', url, '--token', 'wrong-token-wrong-token']),
    status(['--url', url, '--token', token]),
    status(['--url', url], { TELBRIDGE_TOKEN: token }),
    status([], { TELBRIDGE_URL: url, TELBRIDGE_TOKEN: token }),
    status(['--config', join(dir, 'c.json')]),
    status(['--config', join(dir, 'any.json')]),
  ])
  t.equal(none.code, 3)
  t.match(none.stdout, /^telbridge UNKNOWN: the daemon at .* refused the request \(it needs a token\) \(401\): pass --token/)
  t.equal(wrong.code, 3)
  t.match(wrong.stdout, /refused the token \(401\)/)
  t.equal(flag.code, 0, '--token')
  t.equal(envToken.code, 0, 'TELBRIDGE_TOKEN')
  t.equal(envUrl.code, 0, 'TELBRIDGE_URL')
  t.equal(viaConfig.code, 0, 'host, port and token from --config: ' + viaConfig.stdout)
  t.match(viaConfig.stdout, new RegExp(`\\(http://127\\.0\\.0\\.1:${port}\\)`))
  t.equal(anyPort.code, 2, 'api.port 0 cannot be found')
  t.match(anyPort.stderr, /api\.port is 0 .* pass --url/)
  t.equal(daemon.sources.get('lq1')?.status, 'connected')
})

t.test('the daemon cannot be asked: exit 3 (UNKNOWN) with the reason', async (t) => {
  const port = await closedPort()
  // accepts and never answers
  const sockets = new Set<import('node:net').Socket>()
  const silent: Server = createServer((s) => sockets.add(s))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    silent.close()
  })
  // something else on the port
  const other = createHttpServer((req, res) => res.end(req.url === '/v1/sources' ? 'hello' : '{}'))
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => other.close())
  const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`

  const [refused, refusedJson, slow, notUs] = await Promise.all([
    status(['--url', `http://127.0.0.1:${port}`]),
    status(['--url', `http://127.0.0.1:${port}`, '--json']),
    status(['--url', `http://127.0.0.1:${(silent.address() as { port: number }).port}`, '--timeout', '0.5']),
    status(['--url', otherUrl]),
  ])
  t.equal(refused.code, 3)
  t.match(refused.stdout, new RegExp(`^telbridge UNKNOWN: cannot reach the daemon at http://127\\.0\\.0\\.1:${port}: connection refused`))
  const j = JSON.parse(refusedJson.stdout)
  t.same({ ok: j.ok, exitCode: j.exitCode, code: refusedJson.code }, { ok: false, exitCode: 3, code: 3 })
  t.match(j.error, /connection refused/)
  t.equal(slow.code, 3)
  t.match(slow.stdout, /no answer within 0\.5 s/)
  t.equal(notUs.code, 3)
  t.match(notUs.stdout, /is not JSON \(is .* a telbridge API\?\)/)
})

t.test('usage errors are exit 2', async (t) => {
  const [r, r2, r3] = await Promise.all([status(['--url', 'ftp://x']), status(['--timeout', 'soon']), status(['--config', '/nonexistent/telbridge.json'])])
  t.equal(r.code, 2)
  t.match(r.stderr, /--url must be an http:\/\/ or https:\/\/ URL/)
  t.equal(r2.code, 2)
  t.match(r2.stderr, /--timeout must be a number/)
  t.equal(r3.code, 2)
  t.match(r3.stderr, /readable config file/)
})

t.test('formatting helpers', async (t) => {
  t.equal(normalizeUrl('http://127.0.0.1:7700/'), 'http://127.0.0.1:7700')
  t.equal(normalizeUrl('https://host/telbridge//'), 'https://host/telbridge')
  t.throws(() => normalizeUrl('http://h/?a=1'), /without a query/)
  t.throws(() => normalizeUrl('nonsense'), /http:\/\//)
  const api = { host: '0.0.0.0', port: 7700, eventBuffer: 1, sseMaxBacklogBytes: 1, sseHeartbeatSeconds: 1 }
  t.equal(apiUrlFromConfig(api), 'http://127.0.0.1:7700', 'a wildcard bind is asked on loopback')
  t.equal(apiUrlFromConfig({ ...api, host: '::' }), 'http://[::1]:7700')
  t.equal(apiUrlFromConfig({ ...api, host: 'fe80::1' }), 'http://[fe80::1]:7700')
  t.equal(apiUrlFromConfig({ ...api, host: '10.0.0.5' }), 'http://10.0.0.5:7700')
  t.same(
    ['0s', '59s', '1m00s', '59m59s', '1h00m', '47h59m', '2d00h'],
    [0, 59, 60, 3599, 3600, 48 * 3600 - 1, 48 * 3600].map((s) => formatAge(s * 1000)),
  )
  const table = formatTable({ url: 'u', version: null, uptimeSeconds: null, sources: [{ id: 'x', type: 't', status: 'down', since: null, lastError: 'bad\x1b[31m red\r\nline', channels: null }] })
  t.notMatch(table, /\x1b|\r/, 'no control characters from vendor text reach the terminal')
  t.match(table, /^x +t +down +- +- +bad \[31m red line$/m)
})
