import { pino, type Logger } from 'pino'

export type { Logger }

/** JSON lines on stdout (pino's default), so journald / a Windows log file can take them as they are. */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { app: 'telbridge' } }, destination ?? pino.destination(1))
}
