import { checkTimeZone, idSchema, ID_PATTERN, type Infer, type ObjectSchema } from '../../core/schema.js'

const CHANNEL_KINDS = ['external', 'ip', 'agent', 'recording'] as const
export type LqVackChannelKind = (typeof CHANNEL_KINDS)[number]

const URL_TEXT = 'an http:// or https:// URL such as http://10.0.0.5:7627/v/vack'

export const lqVackSchema = {
  type: 'object',
  doc: '小灵呼 LQ-SDK service calls over HTTP (/v/vack): channel and agent states, queues, call control, custURL/popCRURL callbacks',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-vack'], doc: 'lq-vack' },
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2000,
      check: (v: string) => {
        try {
          const u = new URL(v)
          return u.protocol === 'http:' || u.protocol === 'https:' ? null : URL_TEXT
        } catch {
          return URL_TEXT
        }
      },
      doc: 'the service URL, e.g. http://10.0.0.5:7627/v/vack',
    },
    secret: { type: 'string', default: '', maxLength: 200, doc: "`_secs_`: the server's app_config.xml `<secs>` ('' = not sent)" },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000, doc: 'getChStatus every pollMs (from the end of one poll to the start of the next)' },
    operPollMs: { type: 'integer', default: 10_000, min: 0, max: 3_600_000, doc: 'getOperStatus at most this often (0 = never)' },
    queuePollMs: { type: 'integer', default: 2000, min: 0, max: 3_600_000, doc: 'getQueueStatus at most this often (0 = never; LOffice servers have no getQueueStatus)' },
    callLogPollMs: {
      type: 'integer',
      default: 30_000,
      min: 0,
      max: 86_400_000,
      doc: "getCustCall (LQ's call log) every callLogPollMs into the call log: the vendor's record of each call, and calls made while telbridge was down (0 = never)",
    },
    callLogLookbackHours: { type: 'integer', default: 24, min: 0, max: 2160, doc: 'how far back the first getCustCall after start reads (calls made while telbridge was down)' },
    opers: {
      type: 'array',
      default: [],
      maxItems: 1000,
      items: { type: 'string', pattern: /^[^\s&=]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces, & or =)', doc: 'an agent id' },
      doc: 'agents for getOperStatus; empty = `oper=logon` (every logged-in agent)',
    },
    channelTypes: {
      type: 'array',
      default: [],
      maxItems: 4,
      items: { type: 'string', enum: CHANNEL_KINDS, doc: 'a channel kind' },
      doc: 'channel kinds to poll; empty = all (one getChStatus with type=-1)',
    },
    timeoutMs: { type: 'integer', default: 5000, min: 50, max: 120_000, doc: 'per HTTP request' },
    queryAttempts: { type: 'integer', default: 2, min: 1, max: 10, doc: 'tries per query (control calls are never retried)' },
    retryBaseMs: { type: 'integer', default: 200, min: 0, max: 60_000, doc: 'first retry delay, doubled each time' },
    downAfter: { type: 'integer', default: 1, min: 1, max: 1000, doc: 'polls in a row that must fail before the source is down and its channels unknown' },
    charset: { type: 'string', default: 'gbk', enum: ['gbk', 'utf-8'], doc: "how form values are encoded (the vendor's server reads gb2312)" },
    method: { type: 'string', default: 'POST', enum: ['POST', 'GET'], doc: 'HTTP method of the queries' },
    dialPop: { type: 'boolean', default: true, doc: 'dial: true = callauto reqType 0 (the agent gets an outbound pop), false = reqType 6 (no pop)' },
    memoField: {
      type: 'string',
      default: 'userData',
      pattern: /^$|^[A-Za-z_][A-Za-z0-9_]{0,63}$/,
      patternText: 'a form field name (letters, digits, _) or "" for none',
      doc: "form field a dial's memo is sent in ('' = not sent; callauto documents no such field)",
    },
    popSource: {
      type: 'string',
      optional: true,
      pattern: ID_PATTERN,
      patternText: 'the id of an lq-socket or lq-dll source',
      doc: 'an lq-socket / lq-dll source on the same LQ server whose popped channels this source keeps up to date',
    },
    timeZone: { type: 'string', optional: true, check: checkTimeZone, doc: "IANA zone of the server's local times (callback `datetime`); default: top-level timeZone, then the host's" },
    callback: {
      type: 'object',
      doc: 'the mode 1 callback receiver (custURL, popCRURL) on the ingest listener',
      properties: {
        enabled: { type: 'boolean', default: true, doc: 'serve the callbacks' },
        path: {
          type: 'string',
          optional: true,
          pattern: /^\/[A-Za-z0-9_.~/-]{0,200}[A-Za-z0-9_.~-]$/,
          patternText: 'a URL path such as /lq/lqv (letters, digits, _ . ~ - /; no trailing /)',
          doc: 'route prefix; default /lq/<id> → <prefix>/cust and <prefix>/ivr',
        },
        key: {
          type: 'string',
          optional: true,
          pattern: /^[A-Za-z0-9_.~-]{8,200}$/,
          patternText: 'a key of 8–200 letters, digits, _ . ~ -',
          doc: 'when set, callbacks must carry key=<this> in the query',
        },
        charset: { type: 'string', default: 'gbk', enum: ['gbk', 'utf-8'], doc: 'how percent-encoded query values are decoded' },
        redirect: {
          type: 'string',
          optional: true,
          check: (v: string) => (/^https?:\/\/[^\s]+$/.test(v) ? null : 'an http(s) URL; {phone} {oper} {ch} {id} are filled in'),
          doc: "where the agent's browser is sent after a custURL pop, e.g. http://crm/cust?phone={phone}; absent: a small page",
        },
      },
    },
  },
} as const satisfies ObjectSchema

export type LqVackConfig = Infer<typeof lqVackSchema>
