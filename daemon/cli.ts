#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { untilSignal, usageError, type Cmd } from './core/cmd.js'
import { reindexCommands } from './commands/reindex.js'
import { serviceCommands } from './commands/service.js'
import { ConfigError } from './core/schema.js'
import type { Daemon } from './daemon.js'
import { VERSION } from './core/version.js'
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from './core/log.js'
import { UsageError, numberArg } from './core/usage.js'

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
const EXIT_CODES = `Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 a runtime failure (a port in use, a crash),
2 a usage or configuration error (nothing was started).`
const USAGE = `telbridge ${VERSION} — local bridge from call-center vendor protocols to one API

Usage: telbridge <command> [options]

Commands:
  run --config FILE        run the daemon
  check-config FILE        validate a config file and exit (0 valid, 2 invalid)
  simulate KIND [options]  run a vendor simulator (KIND: %SIMULATORS%)
  demo                     run the daemon against built-in simulators and print the URLs
%MORE%
Every command takes --help.`

const coreCommands: Record<string, Cmd> = {
  run: {
    usage: `Usage: telbridge run --config FILE [--log-level LEVEL]

Runs the daemon. Logs are JSON lines on stdout. SIGTERM or SIGINT stops it (exit 0).
--log-level overrides the config's log.level: ${LOG_LEVELS.join(', ')}.
Warnings go to the log, e.g. a source whose callbacks need the ingest listener when there is none.

${EXIT_CODES}`,
    options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' } },
    async run(v) {
      if (typeof v.config !== 'string') return usageError('run needs --config FILE')
      const level = logLevelArg(v['log-level'])
      const { loadConfig } = await import('./config.js')
      const config = await loadConfig(v.config)
      // loaded here, not at the top: `status` and `--help` should not pay for fastify and every adapter
      const { Daemon } = await import('./daemon.js')
      const daemon = new Daemon(config, { log: createLogger(level ?? config.log.level) })
      installCrashHandlers(daemon)
      await daemon.start()
      await untilSignal(daemon)
      return 0
    },
  },
  'check-config': {
    usage: `Usage: telbridge check-config FILE

Validates FILE. Prints "ok" and a summary, or the key that is wrong and what was expected (exit 2);
a JSON syntax error is named by line and column. Warnings (exit 0) say what needs a listener the
config does not open, e.g. 800hu boxes or Guoxin pushes without "ingest".`,
    options: {},
    async run(_v, pos) {
      const file = pos[0]
      if (!file) return usageError('check-config needs a FILE')
      const { loadConfig, ingestWarnings } = await import('./config.js')
      const config = await loadConfig(file)
      const lqServer = config.lqServer as { port: number } | undefined
      process.stdout.write(`ok: ${file}: API on ${config.api.host}:${config.api.port}, ${config.sources.length} source(s)` + (lqServer ? `, LQ server on port ${lqServer.port}` : '') + '\n')
      for (const w of ingestWarnings(config)) process.stderr.write(`warning: no ingest listener: ${w}\n`)
      return 0
    },
  },
  simulate: {
    usage: `Usage: telbridge simulate KIND [options]

KIND is one of: %SIMULATORS% (telbridge simulate KIND --help)`,
    options: {},
    async run(_v, pos) {
      if (pos[0]) return usageError(`unknown kind ${pos[0]}; kinds: ${simulatorKinds().join(', ')}`)
      return usageError(`simulate needs a kind: ${simulatorKinds().join(', ')}`)
    },
  },
  demo: {
    usage: `Usage: telbridge demo [--port 7700] [--lq-port 0] [--log-level warn]

Starts every simulator (an LQ-Connect server with two agents' links, an LQ vack server, a Guoxin
and a Yantong call center, two 800hu recording boxes) and the daemon wired to them, and prints the
URLs to open. Recordings go to a temporary directory deleted on exit. Ctrl-C stops everything.`,
    options: { port: { type: 'string', default: '7700' }, 'lq-port': { type: 'string', default: '0' }, 'log-level': { type: 'string' } },
    async run(v) {
      const { runDemo } = await import('./demo.js')
      const stop = await runDemo({ apiPort: numberArg(v.port, 'port', 0, 65535), lqPort: numberArg(v['lq-port'], 'lq-port', 0, 65535), logLevel: logLevelArg(v['log-level']) ?? 'warn' })
      await untilSignal({ stop })
      return 0
    },
  },
}

/** --log-level's value, or a usage error listing the levels; undefined when not given. */
function logLevelArg(v: unknown): LogLevel | undefined {
  if (v === undefined) return undefined
  if (!isLogLevel(v)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got ${typeof v === 'string' ? v : typeof v}`)
  return v
}

/** The option a mistyped one was probably meant to be: a shared prefix, or one or two edits away. */
function closestOption(given: string, known: readonly string[]): string | null {
  const g = given.replace(/^-+/, '')
  const prefixed = known.filter((k) => k.startsWith(g) || g.startsWith(k))
  if (prefixed.length === 1) return prefixed[0]!
  let best: string | null = null
  let bestD = 3
  for (const k of known) {
    const d = editDistance(g, k)
    if (d < bestD) [best, bestD] = [k, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

/** node:util's parseArgs errors in our words: which option, and what was meant. */
function parseArgsMessage(err: Error & { code?: string }, cmd: Cmd): string {
  const known = [...Object.keys(cmd.options), 'help']
  const unknown = /Unknown option '([^']+)'/.exec(err.message)
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const near = closestOption(unknown[1]!, known)
    return `unknown option ${unknown[1]}` + (near ? ` (did you mean --${near}?)` : '')
  }
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(err.message)
  if (missing) return `option ${missing[1]} needs a value`
  return err.message
}

function installCrashHandlers(daemon: Daemon): void {
  // Connection handlers contain their own errors; anything that still escapes is a bug: log it and
  // exit non-zero so the service manager restarts a clean process.
  process.on('uncaughtException', (err) => {
    daemon.log.fatal({ err }, 'uncaught exception; exiting')
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    daemon.log.fatal({ err }, 'unhandled rejection; exiting')
    process.exit(1)
  })
}

let commands: Record<string, Cmd> = { ...coreCommands, ...serviceCommands }

/**
 * Commands that need no vendor module: `status` (a supervisor runs it every minute) and `service`
 * start without loading the registry, which brings every source class and simulator (~190 ms).
 */
const WITHOUT_MODULES = new Set(['status', 'service'])

/** Every command: the core ones, each module's `simulate` commands, then the service ones. */
async function allCommands(): Promise<Record<string, Cmd>> {
  const { MODULES } = await import('./registry.js')
  return Object.fromEntries([coreCommands, ...MODULES.map((m) => m.commands ?? {}), reindexCommands, serviceCommands].flatMap((c) => Object.entries(c)))
}

function simulatorKinds(): string[] {
  return Object.keys(commands)
    .filter((k) => k.startsWith('simulate '))
    .map((k) => k.slice(9))
}

function fill(text: string): string {
  const more = Object.entries(commands)
    .filter(([, c]) => c.summary)
    .map(([name, c]) => `  ${name.padEnd(23)}  ${c.summary}\n`)
    .join('')
  return text.replace(/%SIMULATORS%/g, simulatorKinds().join(', ')).replace('%MORE%', more)
}

export async function main(argv: string[]): Promise<number> {
  let name = argv[0]
  let rest = argv.slice(1)
  if (!WITHOUT_MODULES.has(name ?? '')) commands = await allCommands()
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(fill(USAGE) + '\n')
    return name ? 0 : 2
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(VERSION + '\n')
    return 0
  }
  // two-word commands: `simulate lq`, `service install`, …
  if (rest[0] && !rest[0].startsWith('-') && commands[`${name} ${rest[0]}`]) {
    name = `${name} ${rest[0]}`
    rest = rest.slice(1)
  }
  const cmd = commands[name]
  if (!cmd) {
    process.stderr.write(`telbridge: unknown command "${name}"\n\n${fill(USAGE)}\n`)
    return 2
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
    if (values.help) {
      process.stdout.write(fill(cmd.usage) + '\n')
      return 0
    }
    return (await cmd.run(values, positionals)) ?? 0
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const msg = err instanceof UsageError ? err.message : parseArgsMessage(err as Error, cmd)
      process.stderr.write(`telbridge: ${msg}\n\n${fill(cmd.usage)}\n`)
      return 2
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`telbridge: invalid configuration: ${err.message}\n`)
      return 2
    }
    // telbridge.db newer than this version, or damaged: what to do, without a stack
    if (err instanceof Error && (err.name === 'DbVersionError' || err.name === 'DbDamagedError')) {
      process.stderr.write(`telbridge: ${err.message}\n`)
      return 1
    }
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      const why = { EADDRINUSE: 'address already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'no such local address' }[e.code]
      process.stderr.write(`telbridge: cannot listen on ${e.address}:${e.port}: ${why}\n`)
      return 1
    }
    process.stderr.write(`telbridge: ${e.stack ?? String(err)}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`telbridge: ${String(err)}\n`)
    process.exit(1)
  },
)
