import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { LqSimulator } from '../daemon/vendors/lq-socket/simulator.js'
import { SseReader, until } from './helpers/sse.js'

// The CLI is tested as users run it: the compiled bin (npm test builds first).
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20000 })

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const p = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return p
}

t.test('--help on every command', async (t) => {
  for (const args of [['--help'], ['run', '--help'], ['check-config', '--help'], ['simulate', 'lq', '--help'], ['demo', '--help']]) {
    const r = cli(...args)
    t.equal(r.status, 0, args.join(' '))
    t.match(r.stdout, /Usage: telbridge/)
  }
  const none = cli()
  t.equal(none.status, 2, 'no command is a usage error')
  const unknown = cli('frobnicate')
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
  const bad = cli('simulate', 'lq', '--rate', 'lots')
  t.equal(bad.status, 2)
  t.match(bad.stderr, /--rate must be a number/)
})

t.test('check-config names the key and what was expected', async (t) => {
  const dir = t.testdir({
    'ok.json': JSON.stringify({ sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: 7628, oper: '801', ch: '-1' }] }),
    'bad.json': JSON.stringify({ sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: 'seven', oper: '801' }] }),
    'public.json': JSON.stringify({ api: { host: '0.0.0.0' } }),
  })
  const ok = cli('check-config', join(dir, 'ok.json'))
  t.equal(ok.status, 0)
  t.match(ok.stdout, /^ok: .* 1 source\(s\)/)
  const bad = cli('check-config', join(dir, 'bad.json'))
  t.equal(bad.status, 2)
  t.match(bad.stderr, /sources\[0\]\.port: expected a TCP port \(0–65535\), got "seven"/)
  const pub = cli('run', '--config', join(dir, 'public.json'))
  t.equal(pub.status, 2, 'refuses a non-loopback API without a token')
  t.match(pub.stderr, /api\.token: expected a token, because api\.host 0\.0\.0\.0 is not loopback/)
})

t.test('run: JSON logs on stdout, SIGTERM closes everything and exits 0 within 5 s', async (t) => {
  const sim = new LqSimulator({ port: 0, rate: 0, trySeconds: 0.2 })
  const lqPort = await sim.start()
  t.teardown(() => sim.stop())
  const apiPort = await freePort()
  const dir = t.testdir({
    'c.json': JSON.stringify({ api: { port: apiPort }, lqServer: { port: 0 }, sources: [{ id: 'lq1', type: 'lq-socket', host: '127.0.0.1', port: lqPort, oper: '801' }] }),
  })
  const child = spawn(process.execPath, [CLI, 'run', '--config', join(dir, 'c.json')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  t.teardown(() => child.kill('SIGKILL'))
  await until(() => out.includes('telbridge started'), 10000, 'start log')
  await until(() => [...sim.clients].some((c) => c.registration), 5000, 'registered')
  const sse = await SseReader.open(`http://127.0.0.1:${apiPort}/v1/events`)
  sim.sendPop('H=t1v2,ch=1,ph=1,id=1,tm=081123101500,dm=0;')
  await sse.count('pop', 1)
  const t0 = Date.now()
  child.kill('SIGTERM')
  const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)))
  const took = Date.now() - t0
  t.equal(code, 0, 'exit 0')
  t.ok(took < 5000, `stopped in ${took} ms`)
  await until(() => sse.closed, 2000, 'SSE client disconnected')
  await until(() => sim.clients.size === 0, 2000, 'LQ connection closed')
  for (const line of out.trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'every stdout line is JSON')
  t.match(out, /"msg":"telbridge stopped"/)
})

t.test('a port in use is a clear error, exit 1', async (t) => {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const dir = t.testdir({ 'c.json': JSON.stringify({ api: { port } }) })
  const r = cli('run', '--config', join(dir, 'c.json'))
  t.equal(r.status, 1)
  t.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`))
})
