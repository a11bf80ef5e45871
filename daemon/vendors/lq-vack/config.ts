import { checkTimeZone, idSchema, ID_PATTERN, type Schema } from '../../core/schema.js'

export type LqVackChannelKind = 'external' | 'ip' | 'agent' | 'recording'

export interface LqVackConfig {
  id: string
  type: 'lq-vack'
  /** the service URL, e.g. http://10.0.0.5:7627/v/vack */
  url: string
  /** `_secs_`: the server's app_config.xml `<secs>` ('' = not sent) */
  secret: string
  /** getChStatus every pollMs (from the end of one poll to the start of the next) */
  pollMs: number
  /** getOperStatus at most this often (0 = never) */
  operPollMs: number
  /** getQueueStatus at most this often (0 = never; LOffice servers have no getQueueStatus) */
  queuePollMs: number
  /** agents for getOperStatus; empty = `oper=logon` (every logged-in agent) */
  opers: readonly string[]
  /** channel kinds to poll; empty = all (one getChStatus with type=-1) */
  channelTypes: readonly LqVackChannelKind[]
  /** per HTTP request */
  timeoutMs: number
  /** tries per query (control calls are never retried) */
  queryAttempts: number
  /** first retry delay, doubled each time */
  retryBaseMs: number
  /** polls in a row that must fail before the source is down and its channels unknown */
  downAfter: number
  /** how form values are encoded (the vendor's server reads gb2312) */
  charset: 'gbk' | 'utf-8'
  method: 'POST' | 'GET'
  /** dial: true = callauto reqType 0 (the agent gets an outbound pop), false = reqType 6 (no pop) */
  dialPop: boolean
  /** form field a dial's memo is sent in ('' = not sent; callauto documents no such field) */
  memoField: string
  /** an lq-socket / lq-dll source on the same LQ server whose popped channels this source keeps up to date */
  popSource?: string
  /** IANA zone of the server's local times (callback `datetime`); default: top-level timeZone, then the host's */
  timeZone?: string
  /** the mode 1 callback receiver (custURL, popCRURL) on the ingest listener */
  callback: {
    enabled: boolean
    /** route prefix; default /lq/<id> → <prefix>/cust and <prefix>/ivr */
    path?: string
    /** when set, callbacks must carry key=<this> in the query */
    key?: string
    /** how percent-encoded query values are decoded */
    charset: 'gbk' | 'utf-8'
    /** where the agent's browser is sent after a custURL pop, e.g. http://crm/cust?phone={phone}; absent: a small page */
    redirect?: string
  }
}

export const lqVackSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-vack'] },
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2000,
      check: (v) => {
        try {
          const u = new URL(v)
          return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'an http:// or https:// URL such as http://10.0.0.5:7627/v/vack'
        } catch {
          return 'an http:// or https:// URL such as http://10.0.0.5:7627/v/vack'
        }
      },
    },
    secret: { type: 'string', default: '', maxLength: 200 },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000 },
    operPollMs: { type: 'integer', default: 10_000, min: 0, max: 3_600_000 },
    queuePollMs: { type: 'integer', default: 2000, min: 0, max: 3_600_000 },
    opers: { type: 'array', default: [], maxItems: 1000, items: { type: 'string', pattern: /^[^\s&=]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces, & or =)' } },
    channelTypes: { type: 'array', default: [], maxItems: 4, items: { type: 'string', enum: ['external', 'ip', 'agent', 'recording'] } },
    timeoutMs: { type: 'integer', default: 5000, min: 50, max: 120_000 },
    queryAttempts: { type: 'integer', default: 2, min: 1, max: 10 },
    retryBaseMs: { type: 'integer', default: 200, min: 0, max: 60_000 },
    downAfter: { type: 'integer', default: 1, min: 1, max: 1000 },
    charset: { type: 'string', default: 'gbk', enum: ['gbk', 'utf-8'] },
    method: { type: 'string', default: 'POST', enum: ['POST', 'GET'] },
    dialPop: { type: 'boolean', default: true },
    memoField: { type: 'string', default: 'userData', pattern: /^$|^[A-Za-z_][A-Za-z0-9_]{0,63}$/, patternText: 'a form field name (letters, digits, _) or "" for none' },
    popSource: { type: 'string', optional: true, pattern: ID_PATTERN, patternText: 'the id of an lq-socket or lq-dll source' },
    timeZone: { type: 'string', optional: true, check: checkTimeZone },
    callback: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean', default: true },
        path: { type: 'string', optional: true, pattern: /^\/[A-Za-z0-9_.~/-]{0,200}[A-Za-z0-9_.~-]$/, patternText: 'a URL path such as /lq/lqv (letters, digits, _ . ~ - /; no trailing /)' },
        key: { type: 'string', optional: true, pattern: /^[A-Za-z0-9_.~-]{8,200}$/, patternText: 'a key of 8–200 letters, digits, _ . ~ -' },
        charset: { type: 'string', default: 'gbk', enum: ['gbk', 'utf-8'] },
        redirect: {
          type: 'string',
          optional: true,
          check: (v) => (/^https?:\/\/[^\s]+$/.test(v) ? null : 'an http(s) URL; {phone} {oper} {ch} {id} are filled in'),
        },
      },
    },
  },
}
