import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../daemon/config.js'
import { STARTER_CONFIG } from '../daemon/service/starter-config.js'

const ROOT = join(import.meta.dirname, '..')
const UNIT = join(ROOT, 'systemd', 'telbridge.service')
const INSTALL = join(ROOT, 'systemd', 'install.sh')
const ANALYZE = '/usr/bin/systemd-analyze'
const haveAnalyze = existsSync(ANALYZE)
const analyzeSkip = haveAnalyze ? false : `${ANALYZE} is missing: run bash test/prepare.sh as root (apt-get install systemd)`

/** A scratch directory whose path has only plain characters (install.sh refuses others) and others can enter. */
function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tb-systemd-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function verify(file: string, ...extra: string[]) {
  const r = spawnSync(ANALYZE, ['verify', '--man=no', ...extra, file], { encoding: 'utf8', timeout: 30000 })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

function install(args: string[], opts: { uid?: number; gid?: number; script?: string } = {}) {
  const r = spawnSync('bash', [opts.script ?? INSTALL, ...args], { encoding: 'utf8', timeout: 60000, uid: opts.uid, gid: opts.gid })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** systemd's unit syntax, enough for our own file: sections, key=value, repeated keys, comments. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let cur: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec) {
      cur = new Map()
      sections.set(sec[1]!, cur)
      continue
    }
    const eq = line.indexOf('=')
    if (!cur || eq < 0) throw new Error(`not a unit line: ${line}`)
    const key = line.slice(0, eq).trim()
    cur.set(key, [...(cur.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return sections
}

/** systemd time spans as used in the unit: "10s", "5s", "1min 30s", a bare number is seconds. */
function seconds(span: string): number {
  let total = 0
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?/g)) {
    const n = Number(m[1])
    total += m[2] === 'ms' ? n / 1000 : m[2] === 'min' || m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n
  }
  return total
}

t.test('the committed unit passes systemd-analyze verify and prints nothing', { skip: analyzeSkip }, async (t) => {
  if (existsSync('/usr/bin/node')) {
    // verify checks that ExecStart's program exists: the committed unit names /usr/bin/node
    const r = verify(UNIT)
    t.equal(r.out, '', 'no output')
    t.equal(r.code, 0, 'exit 0')
  } else {
    // same file with only the node path replaced, as install.sh does on such a machine
    const dir = scratch(t)
    const copy = join(dir, 'telbridge.service')
    writeFileSync(copy, readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `))
    const r = verify(copy)
    t.equal(r.out, '', 'no output (node path replaced: /usr/bin/node is absent here)')
    t.equal(r.code, 0)
  }
  const strict = verify(UNIT, '--generators=no')
  t.equal(strict.out.replace(/.*is not executable.*\n/g, ''), '', 'no warning about any directive, also without generators')
})

t.test('the unit as install.sh writes it (this node, this checkout) verifies silently', { skip: analyzeSkip }, async (t) => {
  const dir = scratch(t)
  // install.sh accepts plain paths only; reach this checkout and this node through plain symlinks
  symlinkSync(ROOT, join(dir, 'app'))
  mkdirSync(join(dir, 'bin'))
  symlinkSync(process.execPath, join(dir, 'bin', 'node'))
  const r = install(['--print-unit', '--prefix', join(dir, 'app'), '--node', join(dir, 'bin', 'node')])
  t.equal(r.code, 0, r.stderr)
  const unit = parseUnit(r.stdout)
  t.same(unit.get('Service')?.get('ExecStart'), [`${join(dir, 'bin', 'node')} ${join(dir, 'app')}/dist/daemon/cli.js run --config /etc/telbridge/telbridge.json`], 'node and prefix replaced')
  t.ok(existsSync(join(dir, 'app', 'dist', 'daemon', 'cli.js')), 'ExecStart names the real compiled CLI (npm test builds first)')
  const file = join(dir, 'telbridge.service')
  writeFileSync(file, r.stdout)
  const v = verify(file)
  t.equal(v.out, '', 'no output')
  t.equal(v.code, 0, 'exit 0')
})

t.test('systemd-analyze verify is not silent about a broken unit (the check can fail)', { skip: analyzeSkip }, async (t) => {
  const dir = scratch(t)
  const bad = join(dir, 'telbridge.service')
  writeFileSync(bad, readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/bin/node ', 'ExecStart=/nonexistent/node ').replace('NoNewPrivileges=yes', 'NoNewPrivileges=yes\nNoSuchDirective=1'))
  const r = verify(bad)
  t.not(r.out, '')
  t.match(r.out, /NoSuchDirective/)
  t.match(r.out, /\/nonexistent\/node/)
})

t.test('the unit has the directives the service needs', async (t) => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'))
  const svc = unit.get('Service')!
  const one = (k: string) => {
    const v = svc.get(k)
    t.equal(v?.length, 1, `${k} set once`)
    return v?.[0]
  }
  t.equal(one('User'), 'telbridge', 'a dedicated user')
  t.equal(one('Group'), 'telbridge')
  t.equal(svc.get('DynamicUser'), undefined, 'not DynamicUser: the config file is group-readable by the fixed user')
  t.equal(one('StateDirectory'), 'telbridge')
  t.equal(one('ConfigurationDirectory'), 'telbridge')
  t.equal(one('WorkingDirectory'), '/var/lib/telbridge', 'working directory = the state directory, so a relative dataDir lands there')
  const exec = one('ExecStart')!
  t.match(exec, /^\/usr\/bin\/node \/opt\/telbridge\/dist\/daemon\/cli\.js run --config \/etc\/telbridge\/telbridge\.json$/)
  t.ok(exec.includes(`/etc/${one('ConfigurationDirectory')}/`), 'the config is inside ConfigurationDirectory')
  t.equal(one('Type'), 'exec')
  t.equal(one('Restart'), 'on-failure')
  t.ok(seconds(one('RestartSec')!) >= 1, 'RestartSec at least 1 s')
  t.equal(one('RestartPreventExitStatus'), '2', 'a config error (exit 2) is not restarted in a loop')
  t.equal(unit.get('Unit')?.get('StartLimitIntervalSec')?.[0], '0', 'never gives up restarting after crashes')
  const stop = seconds(one('TimeoutStopSec')!)
  t.ok(stop > 4.5 && stop <= 30, `TimeoutStopSec ${stop} s is above the daemon's own 4.5 s stop limit`)
  t.equal(one('LimitNOFILE'), '65536')
  t.equal(one('StandardOutput'), 'journal', 'logs go to the journal')
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
  t.equal(one('ProtectHome'), 'yes')
  t.equal(one('PrivateTmp'), 'yes')
  t.equal(one('CapabilityBoundingSet'), '', 'no capabilities (all ports are above 1024)')
  t.same(one('RestrictAddressFamilies')!.split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX'])
  for (const k of ['ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'LockPersonality', 'RestrictSUIDSGID', 'RestrictRealtime']) t.equal(one(k), 'yes', k)
  t.equal(svc.get('MemoryDenyWriteExecute'), undefined, 'no MemoryDenyWriteExecute: V8 and koffi need executable memory')
  t.same(unit.get('Install')?.get('WantedBy'), ['multi-user.target'])
})

t.test('install.sh --help', async (t) => {
  const r = install(['--help'])
  t.equal(r.code, 0)
  t.match(r.stdout, /Usage: sudo systemd\/install\.sh/)
  t.match(r.stdout, /--uninstall/)
  t.match(r.stdout, /--dry-run/)
  const bad = install(['--frobnicate'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /unknown option: --frobnicate/)
  for (const prefix of ['/', '/opt', '/opt/', 'relative/dir', '/opt/tel bridge', '/opt/%n', '/opt/../etc']) {
    const r2 = install(['--print-unit', '--prefix', prefix])
    t.equal(r2.code, 2, `--prefix ${JSON.stringify(prefix)} refused`)
    t.match(r2.stderr, /--prefix/)
  }
  t.equal(install(['--purge']).code, 2, '--purge needs --uninstall')
})

t.test('install.sh refuses to run without root, with a clear message', async (t) => {
  if (process.getuid?.() === 0) {
    // run it as nobody, from a copy others can read (the checkout may sit in root's home)
    const dir = scratch(t)
    mkdirSync(join(dir, 'systemd'))
    const script = join(dir, 'systemd', 'install.sh')
    copyFileSync(INSTALL, script)
    chmodSync(script, 0o755)
    const r = install(['--no-start'], { uid: 65534, gid: 65534, script })
    t.equal(r.code, 1)
    t.match(r.stderr, /must run as root/)
    t.match(r.stderr, /sudo .*install\.sh --no-start/)
    t.match(r.stderr, /--dry-run/)
    t.equal(r.stdout, '', 'did nothing')
  } else {
    const r = install([])
    t.equal(r.code, 1)
    t.match(r.stderr, /must run as root/)
  }
})

t.test('install.sh --dry-run says what it would do and changes nothing', async (t) => {
  const prefix = `/opt/telbridge-dry-run-${process.pid}`
  const r = install(['--dry-run', '--prefix', prefix, '--node', process.execPath])
  if (r.code !== 0 && /cannot see/.test(r.stderr)) {
    t.skip(`this node (${process.execPath}) lives where the service cannot see it`)
    return
  }
  t.equal(r.code, 0, r.stderr)
  const out = r.stdout
  t.match(out, /useradd --system .*telbridge|user 'telbridge' exists/, 'the user')
  t.match(out, new RegExp(`would run: cp -a .*/dist .*/node_modules .* ${prefix}\\.new/`), 'copies the app to a staging dir')
  t.match(out, /npm\\? prune\\? --omit=dev/, 'drops dev dependencies')
  t.match(out, new RegExp(`would run: mv ${prefix}\\.new ${prefix}`), 'swaps it in')
  t.match(out, new RegExp(`ln -sfn ${prefix}/dist/daemon/cli\\.js /usr/local/bin/telbridge`))
  if (!existsSync('/etc/telbridge/telbridge.json'))
    t.match(out, /install -m 0640 -o root -g telbridge .*telbridge\.example\.json \/etc\/telbridge\/telbridge\.json/, 'a starter config, group-readable only')
  t.match(out, /would write \/etc\/systemd\/system\/telbridge\.service:/)
  t.match(out, new RegExp(`ExecStart=\\S+ ${prefix}/dist/daemon/cli\\.js run --config /etc/telbridge/telbridge\\.json`))
  t.match(out, /systemctl enable telbridge\.service/)
  t.notOk(existsSync(prefix), 'nothing installed')
  t.notOk(existsSync(`${prefix}.new`), 'nothing staged')

  const un = install(['--dry-run', '--uninstall', '--prefix', prefix])
  t.equal(un.code, 0, un.stderr)
  t.match(un.stdout, /rm -f \/etc\/systemd\/system\/telbridge\.service/)
  t.match(un.stdout, /kept \/etc\/telbridge, \/var\/lib\/telbridge and the 'telbridge' user/)
})

t.test('the example config is the Windows starter config, and valid', async (t) => {
  const text = readFileSync(join(ROOT, 'systemd', 'telbridge.example.json'), 'utf8')
  t.equal(text, STARTER_CONFIG, 'one starter config for both systems')
  const cfg = parseConfig(JSON.parse(text))
  t.equal(cfg.api.host, '127.0.0.1')
  t.equal(cfg.api.port, 7700)
})
