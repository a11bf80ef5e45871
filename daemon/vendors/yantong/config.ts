import { checkTimeZone, idSchema, type Infer, type ObjectSchema } from '../../core/schema.js'

export const yantongSchema = {
  type: 'object',
  doc: '言通 Yantong call center over HTTP: extension states, call control, call records (GetCDRList)',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['yantong'], doc: 'yantong' },
    url: { type: 'string', minLength: 1, maxLength: 2048, check: checkHttpUrl, doc: 'the API endpoint every action is sent to, e.g. http://10.0.0.7/api' },
    companyid: { type: 'integer', min: 0, max: 2_000_000_000, doc: '公司ID, given by the vendor' },
    auth: { type: 'string', default: '', maxLength: 256, doc: '认证码, given by the vendor' },
    staff: {
      type: 'array',
      items: { type: 'stringish', pattern: /^[0-9A-Za-z_.@-]{1,32}$/, patternText: 'a staff id (1–32 letters, digits, _ . @ -)', doc: 'a staff id' },
      default: [],
      maxItems: 10000,
      doc: 'staff ids (工号) to watch; the seed has 工号 = 分机号, so each is one channel',
    },
    pollMs: { type: 'integer', default: 2000, min: 10, max: 3_600_000, doc: 'ExtenStatus poll interval' },
    timeoutMs: { type: 'integer', default: 5000, min: 10, max: 120_000, doc: 'per vendor request' },
    method: { type: 'string', default: 'POST', enum: ['GET', 'POST'], doc: "the seed accepts both; POST keeps `auth` out of the vendor's access log" },
    charset: { type: 'string', default: 'utf-8', enum: ['utf-8', 'gbk'], doc: 'request encoding for non-ASCII fields (customer names)' },
    queryAttempts: { type: 'integer', default: 3, min: 1, max: 10, doc: 'attempts per status/CDR query (timeouts and unreachable only; control is sent once)' },
    concurrency: { type: 'integer', default: 8, min: 1, max: 256, doc: 'ExtenStatus requests in flight at once (one per staff member)' },
    downAfter: { type: 'integer', default: 1, min: 1, max: 1000, doc: 'failed polls in a row before the source is `down` and its channels `unknown`' },
    cdrPollMs: { type: 'integer', default: 10_000, min: 0, max: 86_400_000, doc: 'GetCDRList interval; 0 turns call records off' },
    cdrLimit: { type: 'integer', default: 100, min: 1, max: 1000, doc: 'records per GetCDRList page' },
    cdrMaxPages: { type: 'integer', default: 10, min: 1, max: 1000, doc: 'pages per CDR round at most (a backlog is worked off over several rounds)' },
    cdrStart: { type: 'string', default: 'latest', enum: ['latest', 'all'], doc: 'where the cursor starts when none is stored: `latest` (no history) or `all`' },
    cdrLookbackHours: {
      type: 'number',
      default: 24,
      min: 0,
      max: 8760,
      doc: 'with no stored cursor and cdrStart `latest`: records of the last this many hours go into the call log (no `cdr` events); 0 = none',
    },
    cdrCursorFile: { type: 'string', optional: true, minLength: 1, maxLength: 4096, doc: 'file that keeps the PId cursor across restarts' },
    recordingUrl: {
      type: 'string',
      optional: true,
      minLength: 1,
      maxLength: 2048,
      check: checkHttpUrl,
      doc: "where GetRecord's recording paths are fetched: the path is appended to this URL (default: the origin of `url`)",
    },
    timeZone: { type: 'string', optional: true, check: checkTimeZone, doc: "IANA zone of the vendor's `calldate` (default: top-level timeZone, then the host's)" },
  },
} as const satisfies ObjectSchema

export type YantongConfig = Infer<typeof yantongSchema>

function checkHttpUrl(v: string): string | null {
  try {
    const u = new URL(v)
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'an http:// or https:// URL'
  } catch {
    return 'an http:// or https:// URL'
  }
}
