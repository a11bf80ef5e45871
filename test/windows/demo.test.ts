import t from 'tap'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { getJson, until } from '../helpers/sse.js'
import { startWin, windowsEnv, windowsUnavailable, winPath } from '../helpers/windows.js'

/**
 * `telbridge demo` under 32-bit Windows Node in Wine: every simulator and the daemon in one Windows
 * process. The LQ-Connect, LQ vack, Guoxin and Yantong sources connect and pops arrive. The 800hu box
 * simulator posts with fetch(), which cannot connect under Wine 8 (docs/windows.md), so its boxes
 * are only reported here, not required.
 */

const why = windowsUnavailable('ia32')
// a cold cache (npm downloads, new Wine prefixes) on a loaded machine takes longer than tap's 120 s
t.setTimeout(300_000)

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

t.test('Windows demo (Node 22 ia32 under Wine): the simulators feed the daemon', { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 }, async (t) => {
  const env = await windowsEnv('ia32')
  const port = await freePort()
  const proc = startWin(env, [winPath(join(env.tree, 'dist', 'daemon', 'cli.js')), 'demo', '--port', String(port), '--log-level', 'warn'])
  let stopped = false
  t.teardown(async () => {
    if (!stopped) proc.child.kill('SIGKILL')
    await proc.exited
    proc.cleanup()
  })
  await until(async () => (await proc.stdout()).includes('telbridge demo is running'), 90_000, 'the demo banner')
  const url = `http://127.0.0.1:${port}`
  t.match(await proc.stdout(), `Live page:      ${url}/`)
  const linked = ['lq-801', 'lq-802', 'lqv', 'gx', 'yt']
  const sources = await until(
    async () => {
      const s = (await getJson(`${url}/v1/sources`)).body.sources as any[]
      return linked.every((id) => s.find((x) => x.id === id)?.status === 'connected') && s
    },
    60_000,
    'the LQ, vack, Guoxin and Yantong sources connected',
  )
  t.pass(`connected: ${linked.join(', ')}`)
  for (const s of sources.filter((x) => x.type === '800hu')) t.comment(`${s.id}: ${s.status} (the box simulator's fetch() cannot connect under Wine)`)
  const pops = await until(async () => (await getJson(`${url}/v1/pops?limit=5`)).body.pops.length > 0, 60_000, 'a pop from the simulators')
  t.ok(pops, 'pops arrive')
  // no better-sqlite3 binary here: the call log is on node:sqlite (Node 22), phone search through its FTS5 trigram index included
  t.match((await getJson(`${url}/v1/health`)).body.database, { ok: true, driver: 'node:sqlite' }, 'the database is on node:sqlite')
  const calls = await until(async () => (await getJson(`${url}/v1/cdr?limit=5`)).body.calls?.length > 0 && (await getJson(`${url}/v1/cdr?limit=5`)).body.calls, 90_000, 'a call in the log')
  const phone = (calls as any[]).find((c) => c.phone && c.phone.length >= 4)?.phone as string | undefined
  if (phone) {
    const found = (await getJson(`${url}/v1/cdr?phone=${encodeURIComponent(phone.slice(1, 5))}&limit=1000`)).body.calls as any[]
    t.ok(
      found.some((c) => c.phone === phone),
      `phone search (a substring of ${phone}) finds its call`,
    )
  }
  t.equal((await getJson(`${url}/v1/agents`)).status, 200, '/v1/agents answers')
  stopped = true
  const t0 = Date.now()
  proc.child.kill('SIGINT')
  const code = await proc.exited
  t.equal(code, 0, `Ctrl+C: exit 0 in ${Date.now() - t0} ms`)
})
