import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { join, win32 } from 'node:path'
import { ROOT } from '../core/paths.js'
import { STATUS_EXIT, StatusUnknown, apiUrlFromConfig, fetchStatus, formatTable, headline, normalizeUrl, summarize } from '../service/status.js'
import { SERVICE_ACCOUNTS, ServiceSetupError, WINSW_VERSION, serviceAction, servicePaths, type ServiceAccount, type ServiceAction } from '../service/windows.js'
import { numberArg, UsageError, type CliValues } from '../core/usage.js'
import { usageError, type Cmd } from '../core/cmd.js'

/** Where `service install` puts the config, and where `status` looks when given no --url or --config. */
export function defaultConfigPath(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') return win32.join(env.ProgramData ?? 'C:\\ProgramData', 'telbridge', 'telbridge.json')
  return '/etc/telbridge/telbridge.json'
}

async function readable(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK)
    return true
  } catch {
    return false
  }
}

const STATUS_USAGE = `Usage: telbridge status [--url URL] [--token T] [--config FILE] [--json] [--timeout 5]

Prints the running daemon's sources (from GET /v1/sources) and exits:
  0  every configured source is connected (or none is configured)
  1  at least one source is not connected (connecting, reconnecting, failed, down, stopped)
  2  usage or configuration error
  3  the daemon cannot be asked: not running, no answer within --timeout, token refused,
     or an answer that is not telbridge's
The first line is a one-line verdict (telbridge OK: … / WARNING: … / UNKNOWN: …), so a
Nagios/Icinga check can run this command as it is.

Where the daemon is: --url, else $TELBRIDGE_URL, else api.host/api.port of --config FILE,
else of ${defaultConfigPath()} when it is readable, else http://127.0.0.1:7700.
The token: --token, else $TELBRIDGE_TOKEN, else api.token of that config.`

async function statusCommand(v: CliValues): Promise<number> {
  const timeoutMs = numberArg(v.timeout, 'timeout', 0.1, 300, { integer: false }) * 1000
  const json = v.json === true
  let url: string | undefined
  let token = typeof v.token === 'string' ? v.token : process.env.TELBRIDGE_TOKEN || undefined
  const explicitUrl = typeof v.url === 'string' ? v.url : process.env.TELBRIDGE_URL || undefined
  let configFile = typeof v.config === 'string' ? v.config : undefined
  if (!configFile && !explicitUrl && (await readable(defaultConfigPath()))) configFile = defaultConfigPath()
  try {
    if (explicitUrl) url = normalizeUrl(explicitUrl)
    if (configFile) {
      // loaded here: the config pulls in every vendor module, which `status` otherwise never needs
      const { loadConfig } = await import('../config.js')
      const config = await loadConfig(configFile)
      url ??= apiUrlFromConfig(config.api)
      token ??= config.api.token
    }
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message)
    throw err
  }
  url ??= 'http://127.0.0.1:7700'

  try {
    const st = await fetchStatus({ url, token, timeoutMs })
    const sum = summarize(st.sources)
    const code = sum.ok ? STATUS_EXIT.ok : STATUS_EXIT.sourceDown
    if (json) {
      process.stdout.write(
        JSON.stringify({ ok: sum.ok, exitCode: code, url, version: st.version, uptimeSeconds: st.uptimeSeconds, total: sum.total, connected: sum.connected, sources: st.sources }, null, 2) + '\n',
      )
    } else {
      process.stdout.write(headline(st, sum) + '\n' + formatTable(st))
    }
    return code
  } catch (err) {
    if (!(err instanceof StatusUnknown)) throw err
    if (json) process.stdout.write(JSON.stringify({ ok: false, exitCode: STATUS_EXIT.unknown, url, error: err.message }, null, 2) + '\n')
    else process.stdout.write(`telbridge UNKNOWN: ${err.message}\n`)
    return STATUS_EXIT.unknown
  }
}

const SERVICE_USAGE = `Usage: telbridge service install|uninstall|start|stop|status [options]

Manages telbridge as a Windows service through WinSW ${WINSW_VERSION} (telbridge service install --help).
On Linux, use systemd instead: sudo ${join(ROOT, 'systemd', 'install.sh')}`

const INSTALL_USAGE = `Usage: telbridge service install [--wrapper PATH] [--account system|local-service|network-service]
                               [--log-size-mb 10] [--log-files 8]

Windows only; run from an Administrator prompt, with the node.exe the service should use (a 32-bit
LClient.dll needs 32-bit Node: run this command with that node.exe). It
  - creates %ProgramData%\\telbridge (config, data, working directory) and its logs folder,
  - writes a starter telbridge.json there unless one exists (it is never overwritten),
  - writes telbridge-service.xml beside the WinSW exe (--wrapper, default <package>\\telbridge-service.exe):
    this node.exe runs dist\\daemon\\cli.js run --config %ProgramData%\\telbridge\\telbridge.json,
    stdout/stderr go to %ProgramData%\\telbridge\\logs\\telbridge-service.out.log / .err.log, rolled
    at --log-size-mb with --log-files old files kept, and the service restarts 10 s after a failure,
  - registers the service (automatic start). Installing again refreshes the XML only.
--account: the service's Windows account (default system = LocalSystem).`

const WRAPPER_OPTION = { wrapper: { type: 'string' } } as const

function actionCommand(action: ServiceAction, usage: string, options: Cmd['options'] = WRAPPER_OPTION): Cmd {
  return {
    usage,
    options,
    async run(v) {
      if (process.platform !== 'win32') {
        const script = join(ROOT, 'systemd', 'install.sh')
        const how = {
          install: `sudo ${script}   (installs, enables and starts the telbridge unit)`,
          uninstall: `sudo ${script} --uninstall`,
          start: 'systemctl start telbridge',
          stop: 'systemctl stop telbridge',
          status: 'systemctl status telbridge   (the sources inside the daemon: telbridge status)',
        }[action]
        process.stderr.write(`telbridge: "service ${action}" manages the Windows service; this system is ${process.platform}.\nOn Linux, telbridge runs under systemd: ${how}\n`)
        return 2
      }
      let account: ServiceAccount = 'system'
      if (typeof v.account === 'string') {
        if (!(SERVICE_ACCOUNTS as readonly string[]).includes(v.account)) return usageError(`--account must be one of ${SERVICE_ACCOUNTS.join(', ')}, got ${v.account}`)
        account = v.account as ServiceAccount
      }
      try {
        const paths = servicePaths({ root: ROOT, programData: process.env.ProgramData ?? 'C:\\ProgramData', wrapper: typeof v.wrapper === 'string' ? v.wrapper : undefined })
        const r = serviceAction(action, {
          paths,
          node: process.execPath,
          nodeLabel: `Node ${process.version} ${process.arch}`,
          account,
          logSizeKb: v['log-size-mb'] === undefined ? undefined : numberArg(v['log-size-mb'], 'log-size-mb', 1, 4096) * 1024,
          logKeep: v['log-files'] === undefined ? undefined : numberArg(v['log-files'], 'log-files', 1, 1000),
          setAcl: true,
          stdio: 'inherit',
          say: (line) => process.stdout.write(line + '\n'),
        })
        if (action === 'status') process.stdout.write('The sources inside the running daemon: telbridge status\n')
        return r.code
      } catch (err) {
        if (err instanceof ServiceSetupError) {
          process.stderr.write(`telbridge: ${err.message}\n`)
          return 1
        }
        throw err
      }
    },
  }
}

export const serviceCommands: Record<string, Cmd> = {
  status: {
    summary: "the running daemon's sources; exit 0 all connected, 1 one is not, 3 unreachable",
    usage: STATUS_USAGE,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      timeout: { type: 'string', default: '5' },
    },
    run: statusCommand,
  },
  service: {
    summary: 'Windows service: install|uninstall|start|stop|status (Linux: systemd/install.sh)',
    usage: SERVICE_USAGE,
    options: {},
    async run() {
      return usageError('service needs an action: install, uninstall, start, stop or status')
    },
  },
  'service install': actionCommand('install', INSTALL_USAGE, { ...WRAPPER_OPTION, account: { type: 'string' }, 'log-size-mb': { type: 'string' }, 'log-files': { type: 'string' } }),
  'service uninstall': actionCommand(
    'uninstall',
    `Usage: telbridge service uninstall [--wrapper PATH]

Windows only: stops and removes the service. Keeps %ProgramData%\\telbridge (config, data, logs).`,
  ),
  'service start': actionCommand('start', 'Usage: telbridge service start [--wrapper PATH]\n\nWindows only: starts the installed service.'),
  'service stop': actionCommand('stop', 'Usage: telbridge service stop [--wrapper PATH]\n\nWindows only: stops the service (the daemon closes its links within 5 s).'),
  'service status': actionCommand(
    'status',
    `Usage: telbridge service status [--wrapper PATH]

Windows only: WinSW's view of the service (NonExistent, Stopped, Started). For the daemon's
sources use telbridge status.`,
  ),
}
