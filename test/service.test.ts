import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path, { join } from 'node:path'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { parseConfig } from '../daemon/config.js'
import { defaultConfigPath } from '../daemon/commands/service.js'
import { STARTER_CONFIG } from '../daemon/service/starter-config.js'
import { ServiceSetupError, WINSW_URL_X64, aclArgs, quoteWindowsArg, serviceAction, servicePaths, winswXml, type ActionOptions } from '../daemon/service/windows.js'
import { prng } from '../protocols/testing/chunks.js'

const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')
const cli = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr })
    })
  })

/**
 * How the Microsoft C runtime (CommandLineToArgvW) splits a command line: the reader on the other
 * side of WinSW's <arguments>, written from its documented rules, to check our quoting against.
 */
function splitWindowsCommandLine(line: string): string[] {
  const args: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++
    if (i >= line.length) break
    let arg = ''
    let quoted = false
    for (; i < line.length; i++) {
      const c = line[i]
      if (!quoted && (c === ' ' || c === '\t')) break
      if (c === '\\') {
        let n = 0
        while (line[i] === '\\') {
          n++
          i++
        }
        if (line[i] === '"') {
          arg += '\\'.repeat(Math.floor(n / 2))
          if (n % 2) arg += '"'
          else quoted = !quoted
        } else {
          arg += '\\'.repeat(n)
          i--
        }
        continue
      }
      if (c === '"') {
        if (quoted && line[i + 1] === '"') {
          arg += '"'
          i++
        } else quoted = !quoted
        continue
      }
      arg += c
    }
    args.push(arg)
  }
  return args
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: true })
type Svc = Record<string, unknown> & { log: Record<string, string>; onfailure: Array<Record<string, string>> }
const parse = (xml: string): Svc => (parser.parse(xml) as { service: Svc }).service

t.test('paths: config, data and logs under ProgramData; the XML beside the wrapper', async (t) => {
  const p = servicePaths({ root: 'C:\\Program Files\\telbridge', programData: 'C:\\ProgramData' })
  t.same(p, {
    base: 'C:\\ProgramData\\telbridge',
    config: 'C:\\ProgramData\\telbridge\\telbridge.json',
    logs: 'C:\\ProgramData\\telbridge\\logs',
    wrapper: 'C:\\Program Files\\telbridge\\telbridge-service.exe',
    xml: 'C:\\Program Files\\telbridge\\telbridge-service.xml',
    cli: 'C:\\Program Files\\telbridge\\dist\\daemon\\cli.js',
  })
  const other = servicePaths({ root: 'D:\\apps\\telbridge', programData: 'E:\\Data', wrapper: 'D:\\tools\\WinSW-x64.EXE' })
  t.equal(other.base, 'E:\\Data\\telbridge')
  t.equal(other.xml, 'D:\\tools\\WinSW-x64.xml', 'WinSW finds the XML by its own base name')
  t.throws(() => servicePaths({ root: 'C:\\t', programData: 'C:\\ProgramData', wrapper: 'C:\\t\\winsw.xml' }), ServiceSetupError)
  t.equal(defaultConfigPath('win32', { ProgramData: 'D:\\PD' }), 'D:\\PD\\telbridge\\telbridge.json')
  t.equal(defaultConfigPath('win32', {}), 'C:\\ProgramData\\telbridge\\telbridge.json')
  t.equal(defaultConfigPath('linux', {}), '/etc/telbridge/telbridge.json')
})

t.test('the WinSW XML: well-formed, every element as intended, paths with spaces survive', async (t) => {
  const paths = servicePaths({ root: 'C:\\Program Files\\telbridge', programData: 'C:\\ProgramData' })
  const node = 'C:\\Program Files (x86)\\nodejs\\node.exe'
  const xml = winswXml({ paths, node, nodeLabel: 'Node v20.20.2 ia32' })
  t.equal(XMLValidator.validate(xml), true, 'well-formed')
  t.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'))
  const s = parse(xml)
  t.equal(s.id, 'telbridge')
  t.equal(s.name, 'telbridge')
  t.match(s.description, /Node v20\.20\.2 ia32/)
  t.equal(s.executable, node, 'runs the node that ran the install (32-bit or 64-bit as chosen)')
  t.same(splitWindowsCommandLine(s.arguments as string), [paths.cli, 'run', '--config', 'C:\\ProgramData\\telbridge\\telbridge.json'], 'arguments as node will see them')
  t.equal(s.arguments, '"C:\\Program Files\\telbridge\\dist\\daemon\\cli.js" run --config C:\\ProgramData\\telbridge\\telbridge.json')
  t.equal(s.workingdirectory, 'C:\\ProgramData\\telbridge', 'a relative dataDir lands under ProgramData')
  t.equal(s.startmode, 'Automatic')
  t.equal(s.logpath, 'C:\\ProgramData\\telbridge\\logs')
  t.equal(s.log['@mode'], 'roll-by-size', 'file logs rotate')
  t.equal(s.log.sizeThreshold, '10240', 'at 10 MB (WinSW counts KB)')
  t.equal(s.log.keepFiles, '8')
  t.same(
    s.onfailure.map((f) => [f['@action'], f['@delay']]),
    [
      ['restart', '10 sec'],
      ['restart', '30 sec'],
    ],
    'restarts after a failure',
  )
  t.equal(s.resetfailure, '1 hour')
  t.equal(s.stoptimeout, '10 sec', 'above the daemon’s own 4.5 s stop limit')
  t.equal(s.serviceaccount, undefined, 'LocalSystem by default')

  const ls = parse(winswXml({ paths, node, account: 'local-service', logSizeKb: 2048, logKeep: 3 }))
  t.same(ls.serviceaccount, { domain: 'NT AUTHORITY', user: 'LocalService' })
  t.equal(ls.log.sizeThreshold, '2048')
  t.equal(ls.log.keepFiles, '3')
  t.same(parse(winswXml({ paths, node, account: 'network-service' })).serviceaccount, { domain: 'NT AUTHORITY', user: 'NetworkService' })
})

t.test('XML escaping and awkward paths', async (t) => {
  const paths = servicePaths({ root: 'C:\\R&D <lab>\\Tom\'s "bridge"', programData: 'C:\\Program Data\\' })
  const node = 'C:\\nodejs & co\\node.exe'
  const xml = winswXml({ paths, node })
  t.equal(XMLValidator.validate(xml), true, 'still well-formed')
  const s = parse(xml)
  t.equal(s.executable, node)
  t.same(splitWindowsCommandLine(s.arguments as string), [paths.cli, 'run', '--config', paths.config])
  t.equal(s.workingdirectory, paths.base)
  t.throws(() => winswXml({ paths: servicePaths({ root: 'C:\\100%\\telbridge', programData: 'C:\\ProgramData' }), node }), /contains "%", which WinSW would expand/)
  t.throws(() => winswXml({ paths, node: 'C:\\node\n.exe' }), /control character/)
})

t.test('Windows argument quoting survives the C runtime’s splitting', async (t) => {
  const cases: Array<[string, string]> = [
    ['run', 'run'],
    ['', '""'],
    ['a b', '"a b"'],
    ['C:\\dir with space\\', '"C:\\dir with space\\\\"'],
    ['C:\\no\\space\\', 'C:\\no\\space\\'],
    ['say "hi"', '"say \\"hi\\""'],
    ['a\\"b', '"a\\\\\\"b"'],
    ['tab\there', '"tab\there"'],
  ]
  for (const [arg, want] of cases) {
    t.equal(quoteWindowsArg(arg), want, JSON.stringify(arg))
    t.same(splitWindowsCommandLine(quoteWindowsArg(arg)), [arg], `round trip ${JSON.stringify(arg)}`)
  }
  const rnd = prng(4)
  const alphabet = ['a', 'Z', ' ', '"', '\\', '\t', '中', '.']
  for (let n = 0; n < 2000; n++) {
    const args = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Array.from({ length: Math.floor(rnd() * 8) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''))
    const line = args.map(quoteWindowsArg).join(' ')
    const back = splitWindowsCommandLine(line)
    if (JSON.stringify(back) !== JSON.stringify(args)) {
      t.same(back, args, `random args ${JSON.stringify(args)} -> ${line}`)
      break
    }
  }
  t.pass('2000 random argument lists round-trip')
})

t.test('ProgramData ACL: by SID, tightened only on a folder we create', async (t) => {
  t.same(aclArgs('C:\\ProgramData\\telbridge', 'system', true), ['C:\\ProgramData\\telbridge', '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F', '/T', '/Q'])
  t.equal(aclArgs('C:\\ProgramData\\telbridge', 'system', false), null, "an existing folder's ACL is the admin's")
  t.same(aclArgs('C:\\ProgramData\\telbridge', 'local-service', false), ['C:\\ProgramData\\telbridge', '/grant:r', '*S-1-5-19:(OI)(CI)M', '/T', '/Q'])
  t.same(aclArgs('X', 'network-service', true)?.slice(4), ['*S-1-5-32-544:(OI)(CI)F', '*S-1-5-20:(OI)(CI)M', '/T', '/Q'])
})

/**
 * A stand-in for telbridge-service.exe (WinSW cannot run on Linux): a script with WinSW's command
 * words and status answers (NonExistent / Stopped / Started) that records each call.
 */
function fakeWinsw(dir: string): string {
  const file = join(dir, 'telbridge-service')
  writeFileSync(
    file,
    `#!/bin/sh
d="$(dirname "$0")"
echo "$1" >> "$d/calls.log"
case "$1" in
  status) if [ -f "$d/state" ]; then cat "$d/state"; else echo NonExistent; fi ;;
  install) echo Stopped > "$d/state"; echo "Installing the service with id 'telbridge'" ;;
  start) echo Started > "$d/state" ;;
  stop) echo Stopped > "$d/state" ;;
  uninstall) rm -f "$d/state" ;;
  *) echo "unknown command $1" >&2; exit 1 ;;
esac
`,
  )
  chmodSync(file, 0o755)
  return file
}

t.test('service install/start/uninstall drive WinSW and lay out ProgramData (stand-in wrapper)', async (t) => {
  const dir = t.testdir({ root: { dist: { daemon: { 'cli.js': '// built' } } }, pd: {}, bin: {} })
  const wrapper = fakeWinsw(join(dir, 'bin'))
  const calls = () =>
    readFileSync(join(dir, 'bin', 'calls.log'), 'utf8')
      .trim()
      .split('\n')
  const said: string[] = []
  const paths = servicePaths({ root: join(dir, 'root'), programData: join(dir, 'pd'), wrapper, path: path.posix })
  const opts: ActionOptions = { paths, node: process.execPath, stdio: 'pipe', say: (l) => said.push(l) }

  const r = serviceAction('install', opts)
  t.equal(r.code, 0)
  t.same(calls(), ['status', 'install'], 'asked WinSW whether it exists, then installed')
  t.ok(existsSync(join(dir, 'pd', 'telbridge', 'logs')), 'ProgramData\\telbridge\\logs created')
  t.equal(readFileSync(paths.config, 'utf8'), STARTER_CONFIG, 'starter config written')
  t.doesNotThrow(() => parseConfig(JSON.parse(STARTER_CONFIG)))
  const s = parse(readFileSync(join(dir, 'bin', 'telbridge-service.xml'), 'utf8'))
  t.equal(s.executable, process.execPath)
  t.equal(s.workingdirectory, join(dir, 'pd', 'telbridge'))
  t.match(said.join('\n'), /wrote a starter config/)

  // installing again: keeps the edited config, refreshes the XML, does not install twice
  writeFileSync(paths.config, '{"sources":[]}')
  const again = serviceAction('install', { ...opts, node: '/opt/other/node' })
  t.equal(again.code, 0)
  t.equal(readFileSync(paths.config, 'utf8'), '{"sources":[]}', 'config kept')
  t.equal(parse(readFileSync(paths.xml, 'utf8')).executable, '/opt/other/node', 'XML regenerated')
  t.same(calls(), ['status', 'install', 'status'], 'no second install')
  t.match(said.join('\n'), /installed already \(Stopped\)/)

  t.equal(serviceAction('start', opts).code, 0)
  t.equal(serviceAction('status', opts).output.trim(), 'Started')
  t.equal(serviceAction('uninstall', opts).code, 0)
  t.same(calls().slice(3), ['start', 'status', 'status', 'stop', 'uninstall'], 'uninstall stops a running service first')
  t.ok(existsSync(paths.config), 'uninstall keeps config and data')
  t.equal(serviceAction('uninstall', opts).code, 0, 'uninstalling twice is fine')
  t.match(said.at(-1), /not installed/)
})

t.test('service actions explain what is missing', async (t) => {
  const dir = t.testdir({ root: {}, pd: {}, bin: {} })
  const said: string[] = []
  const base = { node: process.execPath, stdio: 'pipe' as const, say: (l: string) => said.push(l) }
  const noWrapper = servicePaths({ root: join(dir, 'root'), programData: join(dir, 'pd'), wrapper: join(dir, 'bin', 'telbridge-service.exe'), path: path.posix })
  t.throws(() => serviceAction('install', { ...base, paths: noWrapper }), {
    name: 'ServiceSetupError',
    message: new RegExp(`telbridge-service\\.exe not found\\.\\nDownload WinSW v2\\.12\\.0 \\(${WINSW_URL_X64.replace(/[.]/g, '\\.')}`),
  })
  const wrapper = fakeWinsw(join(dir, 'bin'))
  const unbuilt = servicePaths({ root: join(dir, 'root'), programData: join(dir, 'pd'), wrapper, path: path.posix })
  t.throws(() => serviceAction('install', { ...base, paths: unbuilt }), /cli\.js not found: run "npm ci"/)
  t.throws(() => serviceAction('start', { ...base, paths: unbuilt }), /telbridge-service\.xml not found: run "telbridge service install" first/)
})

t.test('CLI: the service commands on Linux point at systemd', { skip: process.platform === 'win32' ? 'Windows' : false }, async (t) => {
  // side by side, and not every action: each is a separate node process on a busy machine
  const actions = ['install', 'uninstall', 'status']
  const [runs, helps, none, top] = await Promise.all([
    Promise.all(actions.map((a) => cli('service', a))),
    Promise.all(actions.slice(0, 1).map((a) => cli('service', a, '--help'))),
    cli('service'),
    cli('--help'),
  ])
  actions.forEach((action, i) => {
    const r = runs[i]!
    t.equal(r.status, 2, `service ${action} exits 2`)
    t.match(r.stderr, new RegExp(`"service ${action}" manages the Windows service; this system is linux`))
    t.match(
      r.stderr,
      action === 'install' || action === 'uninstall'
        ? /On Linux, telbridge runs under systemd: sudo \S*systemd\/install\.sh/
        : new RegExp(`On Linux, telbridge runs under systemd: systemctl ${action} telbridge`),
    )
    if (helps[i]) {
      t.equal(helps[i]!.status, 0)
      t.match(helps[i]!.stdout, new RegExp(`Usage: telbridge service ${action}`))
    }
  })
  t.equal(none.status, 2)
  t.match(none.stderr, /service needs an action: install, uninstall, start, stop or status/)
  t.match(top.stdout, /^ {2}status {2,}the running daemon's sources/m, 'listed in telbridge --help')
  t.match(top.stdout, /^ {2}service {2,}Windows service/m)
})
