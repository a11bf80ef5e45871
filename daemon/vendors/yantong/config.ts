import { checkTimeZone, idSchema, type Schema } from '../../core/schema.js'

export interface YantongConfig {
  id: string
  type: 'yantong'
  /** the API endpoint every action is sent to, e.g. http://10.0.0.7/api */
  url: string
  /** 公司ID, given by the vendor */
  companyid: number
  /** 认证码, given by the vendor */
  auth: string
  /** staff ids (工号) to watch; the seed has 工号 = 分机号, so each is one channel */
  staff: readonly string[]
  /** ExtenStatus poll interval */
  pollMs: number
  /** per vendor request */
  timeoutMs: number
  /** the seed accepts both; POST keeps `auth` out of the vendor's access log */
  method: 'GET' | 'POST'
  /** request encoding for non-ASCII fields (customer names) */
  charset: 'utf-8' | 'gbk'
  /** attempts per status/CDR query (timeouts and unreachable only; control is sent once) */
  queryAttempts: number
  /** ExtenStatus requests in flight at once (one per staff member) */
  concurrency: number
  /** failed polls in a row before the source is `down` and its channels `unknown` */
  downAfter: number
  /** GetCDRList interval; 0 turns call records off */
  cdrPollMs: number
  /** records per GetCDRList page */
  cdrLimit: number
  /** pages per CDR round at most (a backlog is worked off over several rounds) */
  cdrMaxPages: number
  /** where the cursor starts when none is stored: `latest` (no history) or `all` */
  cdrStart: 'latest' | 'all'
  /** file that keeps the PId cursor across restarts (optional) */
  cdrCursorFile?: string
  /** IANA zone of the vendor's `calldate` (default: top-level timeZone, then the host's) */
  timeZone?: string
}

export const yantongSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['yantong'] },
    url: { type: 'string', minLength: 1, maxLength: 2048, check: checkHttpUrl },
    companyid: { type: 'integer', min: 0, max: 2_000_000_000 },
    auth: { type: 'string', default: '', maxLength: 256 },
    staff: { type: 'array', items: { type: 'stringish', pattern: /^[0-9A-Za-z_.@-]{1,32}$/, patternText: 'a staff id (1–32 letters, digits, _ . @ -)' }, default: [], maxItems: 10000 },
    pollMs: { type: 'integer', default: 2000, min: 10, max: 3_600_000 },
    timeoutMs: { type: 'integer', default: 5000, min: 10, max: 120_000 },
    method: { type: 'string', default: 'POST', enum: ['GET', 'POST'] },
    charset: { type: 'string', default: 'utf-8', enum: ['utf-8', 'gbk'] },
    queryAttempts: { type: 'integer', default: 3, min: 1, max: 10 },
    concurrency: { type: 'integer', default: 8, min: 1, max: 256 },
    downAfter: { type: 'integer', default: 1, min: 1, max: 1000 },
    cdrPollMs: { type: 'integer', default: 10_000, min: 0, max: 86_400_000 },
    cdrLimit: { type: 'integer', default: 100, min: 1, max: 1000 },
    cdrMaxPages: { type: 'integer', default: 10, min: 1, max: 1000 },
    cdrStart: { type: 'string', default: 'latest', enum: ['latest', 'all'] },
    cdrCursorFile: { type: 'string', optional: true, minLength: 1, maxLength: 4096 },
    timeZone: { type: 'string', optional: true, check: checkTimeZone },
  },
}

function checkHttpUrl(v: string): string | null {
  try {
    const u = new URL(v)
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'an http:// or https:// URL'
  } catch {
    return 'an http:// or https:// URL'
  }
}
