import { isIP } from 'node:net'
import { checkTimeZone, idSchema, type Infer, type ObjectSchema } from '../../core/schema.js'

function checkBaseUrl(v: string): string | null {
  let u: URL
  try {
    u = new URL(v)
  } catch {
    return 'an http:// or https:// URL such as "http://10.0.0.6:12121"'
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'an http:// or https:// URL'
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return 'the server\'s base URL without a path (e.g. "http://10.0.0.6:12121"; /bridge/callctrl is added)'
  if (u.username || u.password) return 'a URL without user:password'
  return null
}

function checkAllow(v: string): string | null {
  if (v === 'any') return null
  const [addr, bits, more] = v.split('/')
  const fam = isIP(addr ?? '')
  if (!fam || more !== undefined) return 'an IP address, a CIDR such as "10.0.0.0/24", or "any"'
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128))) return `a prefix length from 0 to ${fam === 4 ? 32 : 128}`
  return null
}

export const guoxinSchema = {
  type: 'object',
  doc: '国信 Guoxin call center over HTTP: extension states, call control, push callbacks, recordings and call log',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['guoxin'], doc: 'guoxin' },
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      check: checkBaseUrl,
      doc: "the server's base URL, e.g. http://10.0.0.6:12121 (the paths /bridge/callctrl, /bridge/jsoncfg, /Oms/… are added)",
    },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000, doc: 'time between EXTNUM_STATE polls' },
    timeoutMs: { type: 'integer', default: 5000, min: 50, max: 600_000, doc: 'per request to the server' },
    downAfter: { type: 'integer', default: 1, min: 1, max: 1000, doc: 'polls failing in a row before the source is `down` and its extensions `unknown`' },
    encoding: { type: 'string', default: 'utf-8', enum: ['utf-8', 'gbk'], doc: 'charset of query strings and of answers that name none' },
    pushHoldSeconds: {
      type: 'number',
      default: 120,
      min: 0,
      max: 86400,
      doc: 'a push-set ringing/dialing/talking outlasts polls answering IDEL until a hungup/canceled push, or this many seconds without a push for that call (0 = polls win at once)',
    },
    dialLine: { type: 'string', default: 'fixed', enum: ['fixed', 'ip'], doc: 'dial with CLICK_TO_DIAL (fixed line) or CLICK_TO_IP_DIAL (VoIP)' },
    extensions: {
      type: 'array',
      optional: true,
      minItems: 1,
      maxItems: 100_000,
      items: { type: 'stringish', pattern: /^[0-9A-Za-z*#+._-]{1,64}$/, patternText: 'an extension number', doc: 'an extension number' },
      doc: 'watch only these extensions (default: every extension EXTNUM_STATE lists)',
    },
    pushPath: {
      type: 'string',
      optional: true,
      pattern: /^\/[A-Za-z0-9._~/-]{0,200}$/,
      patternText: 'a path starting with / (letters, digits, . _ ~ / -)',
      doc: 'path of the push callback on the ingest listener (default /guoxin/<id>/push)',
    },
    pushAllow: {
      type: 'array',
      optional: true,
      minItems: 1,
      maxItems: 1000,
      items: { type: 'string', check: checkAllow, doc: 'an IP, a CIDR, or "any"' },
      doc: 'addresses allowed to push: IPs, CIDRs, or "any" (default: the address of `url`)',
    },
    timeZone: { type: 'string', optional: true, check: checkTimeZone, doc: 'IANA zone of the server (pop times, call-log dates); default the top-level timeZone' },
    callLogPollMs: { type: 'integer', default: 30_000, min: 0, max: 86_400_000, doc: 'CALL_LOG_QUERY interval: finished calls into the call log; 0 turns it off' },
    callLogLookbackHours: {
      type: 'number',
      default: 24,
      min: 0,
      max: 8760,
      doc: 'with no stored cursor: call-log entries of the last this many hours go into the call log at start (calls made while telbridge was down)',
    },
    callLogCursorFile: { type: 'string', optional: true, minLength: 1, maxLength: 4096, doc: 'file that keeps the call-log cursor (the last entry id committed) across restarts' },
  },
} as const satisfies ObjectSchema

export type GuoxinConfig = Infer<typeof guoxinSchema>
