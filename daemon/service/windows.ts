import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path, { type PlatformPath } from 'node:path'
import { STARTER_CONFIG } from './starter-config.js'

/**
 * telbridge as a Windows service through WinSW (https://github.com/winsw/winsw), the service wrapper
 * Jenkins and node-windows use: one small exe, renamed `telbridge-service.exe`, that reads
 * `telbridge-service.xml` beside it, registers itself with the Service Control Manager, starts
 * node with our arguments, captures stdout/stderr into rotating files and restarts on failure.
 * Everything here that decides something is a pure function, so it is tested on Linux too.
 */

export const SERVICE_ID = 'telbridge'
export const WINSW_VERSION = 'v2.12.0'
export const WINSW_URL_X64 = `https://github.com/winsw/winsw/releases/download/${WINSW_VERSION}/WinSW-x64.exe`
export const WINSW_URL_X86 = `https://github.com/winsw/winsw/releases/download/${WINSW_VERSION}/WinSW-x86.exe`
export const WRAPPER_NAME = 'telbridge-service.exe'

export type ServiceAccount = 'system' | 'local-service' | 'network-service'
export const SERVICE_ACCOUNTS: readonly ServiceAccount[] = ['system', 'local-service', 'network-service']

/** Well-known SIDs, so icacls works on every Windows display language (管理员组 is still *S-1-5-32-544). */
const SID = { system: 'S-1-5-18', admins: 'S-1-5-32-544', 'local-service': 'S-1-5-19', 'network-service': 'S-1-5-20' } as const

export interface ServicePaths {
  /** %ProgramData%\telbridge: config, data (working directory) and logs */
  base: string
  config: string
  logs: string
  /** the WinSW exe and its XML beside it (WinSW finds the XML by the exe's base name) */
  wrapper: string
  xml: string
  /** the compiled CLI the service runs */
  cli: string
}

export interface PathOptions {
  /** the package root (where dist/ is) */
  root: string
  /** %ProgramData%, normally C:\ProgramData */
  programData: string
  /** where telbridge-service.exe is; default: in the package root */
  wrapper?: string
  /** `path.win32` for Windows; tests on Linux use `path.posix` with a temp dir */
  path?: PlatformPath
}

export class ServiceSetupError extends Error {
  override name = 'ServiceSetupError'
}

export function servicePaths(o: PathOptions): ServicePaths {
  const p = o.path ?? path.win32
  const base = p.join(o.programData, 'telbridge')
  const wrapper = o.wrapper ? p.resolve(o.wrapper) : p.join(o.root, WRAPPER_NAME)
  const ext = p.extname(wrapper)
  if (ext.toLowerCase() !== '.exe' && p === path.win32) throw new ServiceSetupError(`--wrapper must name the WinSW .exe, got ${wrapper}`)
  return {
    base,
    config: p.join(base, 'telbridge.json'),
    logs: p.join(base, 'logs'),
    wrapper,
    xml: wrapper.slice(0, wrapper.length - ext.length) + '.xml',
    cli: p.join(o.root, 'dist', 'daemon', 'cli.js'),
  }
}

/**
 * One argument for a Windows command line as CommandLineToArgvW / the MSVC runtime split it:
 * quoted when it has a space, tab or quote (or is empty); backslashes double only before a quote.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg
  let out = '"'
  let slashes = 0
  for (const ch of arg) {
    if (ch === '\\') {
      slashes++
      continue
    }
    if (ch === '"') {
      out += '\\'.repeat(slashes * 2 + 1) + '"'
    } else {
      out += '\\'.repeat(slashes) + ch
    }
    slashes = 0
  }
  return out + '\\'.repeat(slashes * 2) + '"'
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

export interface XmlOptions {
  paths: ServicePaths
  /** node.exe that will run the service: the one running `service install` (process.execPath) */
  node: string
  /** shown in the service's description, e.g. "Node v20.20.2 ia32" */
  nodeLabel?: string
  account?: ServiceAccount
  /** WinSW roll-by-size threshold in KB, and rolled files kept (per stream: out and err) */
  logSizeKb?: number
  logKeep?: number
}

/** The daemon's arguments; WinSW passes `<arguments>` to node as one command line. */
export function serviceArguments(paths: ServicePaths): string[] {
  return [paths.cli, 'run', '--config', paths.config]
}

/** The WinSW service definition (telbridge-service.xml). Absolute paths; nothing depends on %BASE%. */
export function winswXml(o: XmlOptions): string {
  const { paths } = o
  for (const [what, value] of [
    ['node', o.node],
    ['package root', paths.cli],
    ['ProgramData', paths.base],
  ] as const) {
    // WinSW expands %NAME% everywhere in its XML; a literal % in a path cannot be expressed safely
    if (value.includes('%')) throw new ServiceSetupError(`the ${what} path contains "%", which WinSW would expand as an environment variable: ${value}`)
    if (/[\x00-\x1f]/.test(value)) throw new ServiceSetupError(`the ${what} path contains a control character: ${JSON.stringify(value)}`)
  }
  const logSizeKb = o.logSizeKb ?? 10240
  const logKeep = o.logKeep ?? 8
  const account = o.account ?? 'system'
  const args = serviceArguments(paths).map(quoteWindowsArg).join(' ')
  const e = escapeXml
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- Generated by "telbridge service install" (WinSW ${WINSW_VERSION} format). Install again to regenerate; edits here are overwritten. -->`,
    '<service>',
    `  <id>${SERVICE_ID}</id>`,
    '  <name>telbridge</name>',
    `  <description>${e(`telbridge: local bridge from call-center vendor protocols to one API${o.nodeLabel ? ` (${o.nodeLabel})` : ''}`)}</description>`,
    `  <executable>${e(o.node)}</executable>`,
    `  <arguments>${e(args)}</arguments>`,
    `  <workingdirectory>${e(paths.base)}</workingdirectory>`,
    '  <startmode>Automatic</startmode>',
    // the daemon stops itself within 4.5 s of Ctrl+C (SIGINT); WinSW kills it after this
    '  <stoptimeout>10 sec</stoptimeout>',
    '  <onfailure action="restart" delay="10 sec"/>',
    '  <onfailure action="restart" delay="30 sec"/>',
    '  <resetfailure>1 hour</resetfailure>',
    `  <logpath>${e(paths.logs)}</logpath>`,
    '  <log mode="roll-by-size">',
    `    <sizeThreshold>${logSizeKb}</sizeThreshold>`,
    `    <keepFiles>${logKeep}</keepFiles>`,
    '  </log>',
  ]
  if (account !== 'system') {
    lines.push('  <serviceaccount>', '    <domain>NT AUTHORITY</domain>', `    <user>${account === 'local-service' ? 'LocalService' : 'NetworkService'}</user>`, '  </serviceaccount>')
  }
  lines.push('</service>', '')
  return lines.join('\r\n')
}

/**
 * icacls arguments for %ProgramData%\telbridge. A new folder gets its own ACL (no inherited
 * "Users: read", since the config may hold the API token): SYSTEM and Administrators full control,
 * plus modify for a non-SYSTEM service account. An existing folder only gains the service account.
 */
export function aclArgs(base: string, account: ServiceAccount, fresh: boolean): string[] | null {
  const grants: string[] = []
  if (fresh) grants.push(`*${SID.system}:(OI)(CI)F`, `*${SID.admins}:(OI)(CI)F`)
  if (account !== 'system') grants.push(`*${SID[account]}:(OI)(CI)M`)
  if (!grants.length) return null
  return [base, ...(fresh ? ['/inheritance:r'] : []), '/grant:r', ...grants, '/T', '/Q']
}

export type ServiceAction = 'install' | 'uninstall' | 'start' | 'stop' | 'status'

export interface ActionOptions extends XmlOptions {
  /** 'inherit': the wrapper's own output goes to the console, in the console's code page */
  stdio?: 'inherit' | 'pipe'
  /** run icacls on the ProgramData folder (Windows only) */
  setAcl?: boolean
  say: (line: string) => void
}

export interface ActionResult {
  code: number
  /** the wrapper's output, when stdio is 'pipe' */
  output: string
}

/** The WinSW download line for the README and error messages. */
export function downloadHint(wrapper: string): string {
  return `Download WinSW ${WINSW_VERSION} (${WINSW_URL_X64}; on 32-bit Windows ${WINSW_URL_X86})\n` + `and save it as ${wrapper}, or pass --wrapper PATH.`
}

function runWrapper(o: ActionOptions, verb: string): ActionResult {
  const stdio = o.stdio ?? 'inherit'
  const r = spawnSync(o.paths.wrapper, [verb], { stdio: stdio === 'inherit' ? 'inherit' : 'pipe', encoding: 'utf8', windowsHide: true, timeout: 120_000 })
  if (r.error) throw new ServiceSetupError(`cannot run ${o.paths.wrapper} ${verb}: ${r.error.message}`)
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

/** Installed or not, from WinSW's `status` ("NonExistent" when there is no such service). */
function isInstalled(o: ActionOptions): { installed: boolean; text: string } {
  const r = runWrapper({ ...o, stdio: 'pipe' }, 'status')
  const text = r.output.trim()
  return { installed: !/NonExistent/i.test(text), text }
}

/**
 * install: folders, a starter config if there is none, the XML (always regenerated), then
 * `telbridge-service.exe install` unless WinSW says the service exists already. uninstall stops
 * first and keeps config, data and logs. start/stop/status pass through to WinSW.
 */
export function serviceAction(action: ServiceAction, o: ActionOptions): ActionResult {
  const { paths, say } = o
  if (!existsSync(paths.wrapper)) throw new ServiceSetupError(`${paths.wrapper} not found.\n${downloadHint(paths.wrapper)}`)
  if (action !== 'install') {
    if (!existsSync(paths.xml)) throw new ServiceSetupError(`${paths.xml} not found: run "telbridge service install" first`)
    if (action === 'uninstall') {
      const st = isInstalled(o)
      if (!st.installed) {
        say(`the ${SERVICE_ID} service is not installed`)
        return { code: 0, output: st.text }
      }
      if (/Started|Running/i.test(st.text)) runWrapper(o, 'stop')
      const r = runWrapper(o, 'uninstall')
      if (r.code === 0) say(`uninstalled; kept ${paths.base} (config, data, logs) and ${paths.xml}`)
      return r
    }
    return runWrapper(o, action)
  }

  if (!existsSync(paths.cli)) throw new ServiceSetupError(`${paths.cli} not found: run "npm ci" in the package folder first (it builds dist/)`)
  const fresh = !existsSync(paths.base)
  mkdirSync(paths.logs, { recursive: true })
  if (o.setAcl) {
    const args = aclArgs(paths.base, o.account ?? 'system', fresh)
    if (args) {
      const r = spawnSync('icacls', args, { stdio: 'pipe', encoding: 'utf8', windowsHide: true })
      if (r.status !== 0) say(`warning: icacls ${args.join(' ')} failed: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`)
    }
  }
  if (!existsSync(paths.config)) {
    writeFileSync(paths.config, STARTER_CONFIG, { flag: 'wx' })
    say(`wrote a starter config to ${paths.config}: add your sources there`)
  } else {
    say(`kept the existing config ${paths.config}`)
  }
  writeFileSync(paths.xml, winswXml(o))
  say(`wrote ${paths.xml} (node: ${o.node})`)
  const st = isInstalled(o)
  if (st.installed) {
    say(`the ${SERVICE_ID} service is installed already (${st.text || 'status unknown'}); the new definition applies from its next start: telbridge service stop, then telbridge service start`)
    return { code: 0, output: st.text }
  }
  const r = runWrapper(o, 'install')
  if (r.code === 0) say(`installed the ${SERVICE_ID} service (starts automatically at boot). Start it now: telbridge service start`)
  else say(`${paths.wrapper} install failed (exit ${r.code}); run it from an Administrator prompt`)
  return r
}
