import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * test/prepare.sh against stand-in dpkg-query, apt-get, id and sudo: small real scripts first on
 * PATH, which answer as a machine with some packages missing would and log how they were called.
 */
const SCRIPT = join(import.meta.dirname, 'prepare.sh')

function fakeBin(opts: { installed: string[]; uid: number; sudo: boolean; aptFails?: boolean }): { dir: string; log: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tb-prepare-'))
  const logFile = join(dir, 'calls.log')
  const write = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`)
    chmodSync(join(dir, name), 0o755)
  }
  // dpkg-query -W -f='${db:Status-Status}' PKG
  write('dpkg-query', `case " ${opts.installed.join(' ')} " in *" \${@: -1} "*) printf installed ;; *) printf not-installed ;; esac`)
  write('apt-get', `echo "apt-get $*" >> ${logFile}; ${opts.aptFails ? 'exit 100' : 'exit 0'}`)
  write('id', `echo ${opts.uid}`)
  write('sudo', opts.sudo ? `echo "sudo $*" >> ${logFile}; [ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exec "$@"` : 'exit 1')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return { dir, log: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean) }
}

function run(dir: string, env: Record<string, string> = {}) {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, ...env } })
  return { code: r.status, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr }
}

const ALL = ['chromium', 'fonts-wqy-microhei', 'systemd', 'gcc', 'libc6-dev', 'prometheus']

t.test('all installed: one line, nothing run', async (t) => {
  const f = fakeBin({ installed: ALL, uid: 0, sudo: false })
  const r = run(f.dir)
  t.equal(r.code, 0)
  t.same(r.lines, ['prepare: all test packages installed (chromium fonts-wqy-microhei systemd gcc libc6-dev prometheus)'])
  t.throws(() => f.log(), 'apt-get never called')
})

t.test('as root: apt-get update once, then installs only what is missing', async (t) => {
  const f = fakeBin({ installed: ['systemd', 'gcc', 'libc6-dev', 'prometheus'], uid: 0, sudo: false })
  const r = run(f.dir)
  t.equal(r.code, 0)
  t.same(f.log(), ['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei'])
  t.same(r.lines, ['prepare: installing chromium fonts-wqy-microhei (apt-get update, then apt-get install)', 'prepare: installed chromium fonts-wqy-microhei'])
})

t.test('not root, passwordless sudo: through sudo -n', async (t) => {
  const f = fakeBin({ installed: ALL.filter((p) => p !== 'gcc'), uid: 1000, sudo: true })
  const r = run(f.dir)
  t.equal(r.code, 0)
  t.same(f.log(), [
    'sudo -n true',
    'sudo -n apt-get update -qq',
    'apt-get update -qq',
    'sudo -n apt-get install -y -qq --no-install-recommends gcc',
    'apt-get install -y -qq --no-install-recommends gcc',
  ])
})

t.test('not root, no sudo: one line saying what to run, exit 0, nothing installed', async (t) => {
  const f = fakeBin({ installed: ['systemd', 'prometheus'], uid: 1000, sudo: false })
  const r = run(f.dir)
  t.equal(r.code, 0)
  t.same(r.lines, [
    'prepare: missing chromium fonts-wqy-microhei gcc libc6-dev; the tests that need them will skip. To run them: sudo apt-get update && sudo apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei gcc libc6-dev',
  ])
  t.throws(() => f.log(), 'apt-get never called')
  // the same line when asked not to install, even as root
  const f2 = fakeBin({ installed: ['systemd'], uid: 0, sudo: false })
  t.match(run(f2.dir, { TB_PREPARE_NO_INSTALL: '1' }).lines, [/^prepare: missing chromium .* To run them: sudo apt-get update && sudo apt-get install/])
})

t.test('apt-get fails: says so and exits 0; under CI=true exits 1', async (t) => {
  const f = fakeBin({ installed: [], uid: 0, sudo: false, aptFails: true })
  const r = run(f.dir)
  t.equal(r.code, 0)
  t.match(r.lines.at(-1), /^prepare: apt-get failed; the tests that need chromium .* will skip$/)
  t.equal(run(f.dir, { CI: 'true' }).code, 1)
})

t.test('no dpkg-query (not Debian): one line, exit 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tb-prepare-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = spawnSync('/bin/bash', [SCRIPT], { encoding: 'utf8', env: { PATH: dir } })
  t.equal(r.status, 0)
  t.match(r.stdout.trim(), /^prepare: no dpkg-query \(not Debian\/Ubuntu\)/)
})
