import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { getJson } from '../helpers/sse.js'
import { cDrive, cPath, locked, runWin, startWin, waitStarted, windowsEnv, windowsUnavailable, winPath, type WinEnv } from '../helpers/windows.js'

/**
 * Issue 14, item 5: `telbridge service install` run by 32-bit Windows Node under Wine writes the
 * WinSW definition with %ProgramData% paths, and the daemon started exactly as that definition says
 * (executable, arguments, working directory) reads its config from %ProgramData%\telbridge, keeps
 * its data there, answers `telbridge status` (which finds the config there by default) and stops on
 * Ctrl+C. WinSW itself (.NET, the Service Control Manager) does not run under Wine: a small mingw
 * stand-in (winsw-double.c) answers its command line, as docs/windows.md says.
 */

const run = promisify(execFile)
const why = windowsUnavailable('ia32')
// a cold cache (npm downloads, new Wine prefixes) on a loaded machine takes longer than tap's 120 s
t.setTimeout(300_000)

/** CommandLineToArgvW's split of a command line (quotes, and backslashes before a quote) */
function splitWindowsArgs(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inArg = false
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === '\\') {
      let n = 0
      for (; line[i] === '\\'; i++) n++
      if (line[i] === '"') {
        cur += '\\'.repeat(n >> 1)
        if (n % 2) cur += '"'
        else quoted = !quoted
      } else {
        cur += '\\'.repeat(n)
        i--
      }
      inArg = true
    } else if (ch === '"') {
      quoted = !quoted
      inArg = true
    } else if (/\s/.test(ch) && !quoted) {
      if (inArg) out.push(cur)
      cur = ''
      inArg = false
    } else {
      cur += ch
      inArg = true
    }
  }
  if (inArg) out.push(cur)
  return out
}

const unxml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
const tag = (xml: string, name: string) => unxml(new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1] ?? '')

/** a C:\… path of the prefix as a Linux path */
const linuxOf = (env: WinEnv, p: string) => cDrive(env, ...p.replace(/^C:\\/i, '').split('\\'))

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

t.test(
  'Windows service: install writes the WinSW definition with ProgramData paths, and the daemon runs from it',
  { skip: why ? `Windows group skipped: ${why}` : false, timeout: 240_000 },
  async (t) => {
    const env = await windowsEnv('ia32')
    const runId = `svc-${process.pid}`
    const dir = cDrive(env, 'tbwin', runId)
    mkdirSync(dir, { recursive: true })
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    // Wine sets %ProgramData% from its registry (C:\ProgramData), whatever the environment says; the
    // prefix is shared, so one run at a time uses its telbridge folder, and each starts without one
    const programData = 'C:\\ProgramData'
    const base = `${programData}\\telbridge`
    await locked('programdata', () => serviceRun(t, env, runId, dir, base))
  },
)

async function serviceRun(t: Test, env: WinEnv, runId: string, dir: string, base: string): Promise<void> {
  rmSync(linuxOf(env, base), { recursive: true, force: true })
  t.teardown(() => rmSync(linuxOf(env, base), { recursive: true, force: true }))
  const wrapper = cPath('tbwin', runId, 'svc', 'telbridge-service.exe')
  mkdirSync(linuxOf(env, cPath('tbwin', runId, 'svc')), { recursive: true })
  await run('i686-w64-mingw32-gcc', ['-O2', '-static-libgcc', '-o', linuxOf(env, wrapper), join(import.meta.dirname, 'winsw-double.c')])
  const cli = winPath(join(env.tree, 'dist', 'daemon', 'cli.js'))

  const install = await runWin(env, [cli, 'service', 'install', '--wrapper', wrapper], { timeoutMs: 120_000 })
  t.equal(install.code, 0, `service install exits 0 (${install.stderr.trim().slice(-500)})`)
  t.match(install.stdout, `wrote a starter config to ${base}\\telbridge.json`)
  t.match(install.stdout, `installed the telbridge service`)
  t.same(
    readFileSync(`${linuxOf(env, wrapper)}.calls`, 'utf8')
      .split(/\r?\n/)
      .filter(Boolean),
    ['status', 'install'],
    'WinSW asked for its status, then to install',
  )
  t.ok(existsSync(linuxOf(env, `${base}\\logs`)), 'the logs folder under ProgramData')

  const xml = readFileSync(linuxOf(env, wrapper.replace(/\.exe$/, '.xml')), 'utf8')
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\r\n/, 'CRLF lines')
  const exe = tag(xml, 'executable')
  const args = splitWindowsArgs(tag(xml, 'arguments'))
  const wd = tag(xml, 'workingdirectory')
  t.equal(exe, winPath(env.node), 'the node.exe that ran install runs the service')
  t.same(args, [`${winPath(env.tree)}\\dist\\daemon\\cli.js`, 'run', '--config', `${base}\\telbridge.json`])
  t.equal(wd, base, 'working directory %ProgramData%\\telbridge')
  t.equal(tag(xml, 'logpath'), `${base}\\logs`)
  t.match(tag(xml, 'description'), `Node ${env.version} ia32`)

  // the user edits the starter config: here, a port no other test uses
  const configFile = linuxOf(env, `${base}\\telbridge.json`)
  const starter = JSON.parse(readFileSync(configFile, 'utf8'))
  t.same(starter.sources, [], 'the starter config has no sources')
  const port = await freePort()
  writeFileSync(configFile, JSON.stringify({ ...starter, api: { ...starter.api, port } }, null, 2))

  // as WinSW starts it: the executable with the arguments, in the working directory
  const proc = startWin(env, args, { cwd: linuxOf(env, wd) })
  const d = await waitStarted(proc)
  t.teardown(() => d.stop())
  t.equal(d.url, `http://127.0.0.1:${port}`, 'the daemon read the config from %ProgramData%\\telbridge')
  t.equal((await getJson(`${d.url}/v1/health`)).status, 200)
  t.ok(existsSync(linuxOf(env, `${base}\\data\\recordings`)), 'the default dataDir (./data) is %ProgramData%\\telbridge\\data')

  // status's default config is %ProgramData%\telbridge\telbridge.json: the URL it asks is that config's.
  // (Reaching the daemon is not checked here: fetch() cannot connect under Wine 8, see docs/windows.md.)
  const status = await runWin(env, [cli, 'status', '--json', '--timeout', '2'], { timeoutMs: 60_000 })
  const st = JSON.parse(status.stdout)
  t.equal(st.url, `http://127.0.0.1:${port}`, 'telbridge status, given nothing, reads %ProgramData%\\telbridge\\telbridge.json')
  if (st.exitCode !== 0) t.comment(`status under Wine: ${st.error}`)

  const { code, ms } = await d.stop()
  t.equal(code, 0, `Ctrl+C: exit 0 in ${ms} ms`)
  t.ok(ms < 5000, 'within 5 s')
  proc.cleanup()

  const again = await runWin(env, [cli, 'service', 'install', '--wrapper', wrapper], { timeoutMs: 120_000 })
  t.equal(again.code, 0)
  t.match(again.stdout, `kept the existing config ${base}\\telbridge.json`)
  t.match(again.stdout, 'the telbridge service is installed already (Stopped)')
  t.equal(JSON.parse(readFileSync(configFile, 'utf8')).api.port, port, 'the edited config is kept')
}
