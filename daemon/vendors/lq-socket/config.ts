import { DEFAULT_MAX_QUEUED_BYTES } from '../../core/peer-writer.js'
import { checkTimeZone, idSchema, type Schema } from '../../core/schema.js'

export interface LqSocketConfig {
  id: string
  type: 'lq-socket'
  host: string
  port: number
  /** agent id (工号) sent at registration */
  oper: string
  /** agent's channel, -1 = the server looks it up by oper */
  ch: string
  /** seconds without any byte from the server before the link is declared dead (OCX reqExpiredTime) */
  expireSeconds: number
  /** cap of the reconnect backoff (OCX reqReconnectInterval) */
  reconnectSeconds: number
  connectTimeoutSeconds: number
  /** consecutive failed attempts before status says `failed` */
  failAfter: number
  registration: { template: string; framing: 'length' | 'raw' | 'none' }
  /** IANA zone of this server's `tm=` times (default: top-level timeZone, then the host's) */
  timeZone?: string
  /** a pop-only source cannot see hang-ups: after this many seconds without news a ringing/dialing channel becomes `unknown` (0 = never) */
  popStateSeconds: number
  /** bytes queued for a server that does not read (our TRY_REPs) before the link is cut and reconnected */
  maxQueuedBytes: number
}

export const lqSocketSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-socket'] },
    host: { type: 'string', minLength: 1, maxLength: 253 },
    port: { type: 'port', default: 7628 },
    oper: { type: 'stringish', pattern: /^[^\s{}]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces)' },
    ch: { type: 'stringish', default: '-1', pattern: /^-1$|^\d{1,6}$/, patternText: 'a channel number or -1' },
    expireSeconds: { type: 'number', default: 30, min: 0.05, max: 86400 },
    reconnectSeconds: { type: 'number', default: 20, min: 0.01, max: 3600 },
    connectTimeoutSeconds: { type: 'number', default: 10, min: 0.01, max: 600 },
    failAfter: { type: 'integer', default: 3, min: 1, max: 1000 },
    registration: {
      type: 'object',
      properties: {
        template: { type: 'string', default: 'oper={oper},ch={ch};', minLength: 1, maxLength: 255 },
        framing: { type: 'string', default: 'length', enum: ['length', 'raw', 'none'] },
      },
    },
    timeZone: { type: 'string', optional: true, check: checkTimeZone },
    popStateSeconds: { type: 'number', default: 120, min: 0, max: 86400 },
    maxQueuedBytes: { type: 'integer', default: DEFAULT_MAX_QUEUED_BYTES, min: 1024, max: 64 * 1024 * 1024 },
  },
}
