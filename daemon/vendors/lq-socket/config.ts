import { DEFAULT_MAX_QUEUED_BYTES } from '../../core/peer-writer.js'
import { checkTimeZone, idSchema, type Infer, type ObjectSchema } from '../../core/schema.js'

export const lqSocketSchema = {
  type: 'object',
  doc: "小灵呼 LQ-Connect screen-pop socket: an agent's link to the LQ server",
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-socket'], doc: 'lq-socket' },
    host: { type: 'string', minLength: 1, maxLength: 253, doc: "the LQ server's host name or address" },
    port: { type: 'port', default: 7628, doc: "the LQ server's TCP port" },
    oper: { type: 'stringish', pattern: /^[^\s{}]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces)', doc: 'agent id (工号) sent at registration' },
    ch: { type: 'stringish', default: '-1', pattern: /^-1$|^\d{1,6}$/, patternText: 'a channel number or -1', doc: "agent's channel, -1 = the server looks it up by oper" },
    expireSeconds: { type: 'number', default: 30, min: 0.05, max: 86400, doc: 'seconds without any byte from the server before the link is declared dead (OCX reqExpiredTime)' },
    reconnectSeconds: { type: 'number', default: 20, min: 0.01, max: 3600, doc: 'cap of the reconnect backoff (OCX reqReconnectInterval)' },
    connectTimeoutSeconds: { type: 'number', default: 10, min: 0.01, max: 600, doc: 'a TCP connect that takes longer fails' },
    failAfter: { type: 'integer', default: 3, min: 1, max: 1000, doc: 'consecutive failed attempts before status says `failed`' },
    registration: {
      type: 'object',
      doc: 'the registration message sent on connect',
      properties: {
        template: { type: 'string', default: 'oper={oper},ch={ch};', minLength: 1, maxLength: 255, doc: 'its text; {oper} and {ch} are filled in' },
        framing: { type: 'string', default: 'length', enum: ['length', 'raw', 'none'], doc: 'length: a length-prefixed frame; raw: the bare text; none: nothing is sent' },
      },
    },
    timeZone: { type: 'string', optional: true, check: checkTimeZone, doc: "IANA zone of this server's `tm=` times (default: top-level timeZone, then the host's)" },
    popStateSeconds: {
      type: 'number',
      default: 120,
      min: 0,
      max: 86400,
      doc: 'a pop-only source cannot see hang-ups: after this many seconds without news a ringing/dialing channel becomes `unknown` (0 = never)',
    },
    maxQueuedBytes: {
      type: 'integer',
      default: DEFAULT_MAX_QUEUED_BYTES,
      min: 1024,
      max: 64 * 1024 * 1024,
      doc: 'bytes queued for a server that does not read (our TRY_REPs) before the link is cut and reconnected',
    },
  },
} as const satisfies ObjectSchema

export type LqSocketConfig = Infer<typeof lqSocketSchema>
