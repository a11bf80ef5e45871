import type { ParseArgsConfig } from 'node:util'
import { UsageError, type CliValues } from './usage.js'

/** One CLI command: its --help text, its options (node:util parseArgs), and what it does. */
export type Cmd = {
  usage: string
  /** one line for `telbridge --help` (commands without one are listed by their parent) */
  summary?: string
  options: NonNullable<ParseArgsConfig['options']>
  run: (values: CliValues, positionals: string[]) => Promise<number | void>
}

export function usageError(msg: string): never {
  throw new UsageError(msg)
}

/** Resolves after SIGTERM/SIGINT and a clean stop; a stop that takes over 5 s is cut short. */
export function untilSignal(target: { stop(): Promise<void> }): Promise<void> {
  return new Promise((resolve) => {
    const handler = () => {
      process.off('SIGTERM', handler)
      process.off('SIGINT', handler)
      const force = setTimeout(() => {
        process.stderr.write('telbridge: stop took longer than 5 s; exiting anyway\n')
        process.exit(0)
      }, 4500)
      force.unref()
      target.stop().then(resolve, (err) => {
        process.stderr.write(`telbridge: error while stopping: ${String(err)}\n`)
        resolve()
      })
    }
    process.on('SIGTERM', handler)
    process.on('SIGINT', handler)
  })
}
