import { pino, type Logger } from 'pino'

export type { Logger }

/** The levels a config or --log-level may name, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export function isLogLevel(v: unknown): v is LogLevel {
  return (LOG_LEVELS as readonly unknown[]).includes(v)
}

/** JSON lines on stdout (pino's default), so journald / a Windows log file can take them as they are. */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { app: 'telbridge' } }, destination ?? pino.destination(1))
}
