import { CALL_RESULT_STATES, NUMBER_PATTERN, type CallLog, type CallTaskResult, type GuoxinClient, type GuoxinOk } from '../../../protocols/guoxin/index.js'
import type { ActionOutcome, ActionParam, VendorAction } from '../../core/actions.js'
import { badField } from '../../core/control.js'

/**
 * Guoxin's functions beyond the common call-control routes, one action per `opt` of seed 001, each
 * field named as the seed names it (`precallcount`, `toneid`, `ivrid`, `dirction` …). The client
 * encodes them in the source's charset; a documented status code is a VendorRefused with its meaning.
 */

/** What the actions need of the source: the client, and its error mapping and bookkeeping. */
export interface ActionHost {
  readonly client: GuoxinClient
  /** a control call, sent once: GuoxinRefused → VendorRefused, transport → VendorTimeout */
  control(fn: () => Promise<GuoxinOk>): Promise<GuoxinOk>
  /** a query: the same mapping (the client retries it) */
  query<T>(fn: () => Promise<T>): Promise<T>
  /** CALL_THIRD was accepted: the extension holds its caller while calling `target` */
  consultStarted(callee: string, target: string): void
}

type Params = Readonly<Record<string, string | number | boolean>>

const NUMBER = { pattern: NUMBER_PATTERN, patternText: 'an extension or phone number (1–64 of 0-9 A-Z a-z * # + . _ -)', maxLength: 64 } as const
/** caller-chosen task ids and Guoxin call ids: visible ASCII, no quotes or angle brackets */
const TOKEN = { pattern: /^[!#-&(-;=?-~]{1,128}$/, patternText: '1–128 visible ASCII characters without quotes or <>', maxLength: 128 } as const
const DATE = { pattern: /^\d{4}-\d{2}-\d{2}$/, patternText: 'a date yyyy-MM-dd (the server’s local date)', maxLength: 10 } as const
const TTS_NAME = /^(?:tts)?([A-Za-z0-9_]{1,32})$/

const str = (p: Params, k: string): string | undefined => (p[k] === undefined ? undefined : String(p[k]))
const num = (p: Params, k: string): number | undefined => (p[k] === undefined ? undefined : Number(p[k]))

/** A control's answer: the status and what it means for that opt. */
function controlOutcome(ok: GuoxinOk): ActionOutcome {
  return { result: { status: ok.status, meaning: ok.meaning.en, zh: ok.meaning.zh }, vendor: { opt: ok.opt, status: ok.status, body: ok.body.slice(0, 2000) } }
}

function taskOutcome(opt: string, r: CallTaskResult): ActionOutcome {
  return { result: { code: r.code, state: r.state, zh: CALL_RESULT_STATES[r.code]?.zh ?? null, vars: r.vars }, vendor: { opt, raw: r.raw.slice(0, 2000) } }
}

function logJson(l: CallLog): Record<string, unknown> {
  return { ...l, beginTime: l.beginTime === null ? null : new Date(l.beginTime).toISOString(), beginTimeMs: l.beginTime }
}

/**
 * IVR_TTS_CALL's `ttsXXX` variables come as one `tts` field: `name=text` lines (`abc=你好世界!`),
 * each sent as `ttsabc=…` (the seed names the variables per IVR, so no fixed list can declare them).
 */
export function ttsVars(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (text === undefined) return out
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue
    const eq = line.indexOf('=')
    const m = eq > 0 ? TTS_NAME.exec(line.slice(0, eq).trim()) : null
    if (!m) throw badField('tts', `tts: expected lines of name=text (name: letters, digits, _), got ${JSON.stringify(line.slice(0, 40))}`)
    out[`tts${m[1]!}`] = line.slice(eq + 1)
  }
  return out
}

export function guoxinActions(h: ActionHost): VendorAction[] {
  const c = h.client
  const captcha = (name: 'CLICK_TO_IP_CAPTCHA' | 'CLICK_TO_FIXEDLINE_CAPTCHA', line: string): VendorAction => ({
    name,
    description: `§3 call a number over the ${line} and play a voice file (and a digit code), then hang up or transfer to extnum (电话外呼放音转分机)`,
    kind: 'control',
    params: captchaParams,
    run: async (p) =>
      controlOutcome(
        await h.control(() =>
          c.captchaCall({
            line: name === 'CLICK_TO_IP_CAPTCHA' ? 'ip' : 'fixed',
            id: str(p, 'id')!,
            precallcount: num(p, 'precallcount'),
            playtimes: num(p, 'playtimes'),
            extnum: str(p, 'extnum'),
            callee: str(p, 'callee')!,
            toneid: num(p, 'toneid')!,
            code: str(p, 'code'),
            pwd: str(p, 'pwd'),
          }),
        ),
      ),
  })
  return [
    captcha('CLICK_TO_IP_CAPTCHA', 'VoIP line (网络电话)'),
    captcha('CLICK_TO_FIXEDLINE_CAPTCHA', 'fixed line (固定电话)'),
    {
      name: 'GET_CAPTCHA_RESULT',
      description: '§3 the result of a captcha call: 0 queued, 1 succeeded, 2 failed, 3 vacant number, 4 calling, 5 busy, 6 unreachable, 404 no such id (呼叫结果查询)',
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [{ name: 'id', type: 'string', required: true, description: 'the id given to the captcha call', ...TOKEN }],
      run: async (p) => taskOutcome('GET_CAPTCHA_RESULT', await h.query(() => c.captchaResult(str(p, 'id')!))),
    },
    {
      name: 'TALKING_CALLER_TO_IVR',
      description: '§6 move the caller of a talking call into an IVR menu (来电通话中转 IVR 语音菜单)',
      kind: 'control',
      params: [
        { name: 'caller', type: 'string', required: true, description: "the caller's number (主叫号码, from the push)", ...NUMBER },
        { name: 'callee', type: 'string', required: true, description: 'the extension in the call (分机号码)', ...NUMBER },
        { name: 'ivrid', type: 'integer', required: true, min: 0, max: 999_999_999, description: 'the IVR menu number configured on the server (IVR 菜单编号)' },
      ],
      run: async (p) => controlOutcome(await h.control(() => c.callerToIvr({ caller: str(p, 'caller')!, callee: str(p, 'callee')!, ivrid: num(p, 'ivrid')! }))),
    },
    {
      name: 'SET_EXT_PRESENCE_STATE',
      description: '§8 set an extension online, reducing (fewer calls) or busy (分机置忙置闲); the common presence route knows only busy and idle',
      kind: 'control',
      params: [
        { name: 'extnum', type: 'string', required: true, description: 'the extension (分机号)', ...NUMBER },
        { name: 'state', type: 'string', required: true, enum: ['online', 'reducing', 'busy'], description: 'online: takes calls, reducing: fewer calls, busy: none' },
      ],
      run: async (p) => controlOutcome(await h.control(() => c.setPresence({ extnum: str(p, 'extnum')!, state: str(p, 'state') as 'online' | 'reducing' | 'busy' }))),
    },
    {
      name: 'CALL_THIRD',
      description: '§11 during a call, hold the caller (music) and call a third party (通话中呼叫第三方); then resume, transfer or conference through /v1/calls/*',
      kind: 'control',
      params: [
        { name: 'callee', type: 'string', required: true, description: 'the extension in the call (通话中的被叫分机号码)', ...NUMBER },
        { name: 'target', type: 'string', required: true, description: 'the third party: an extension, mobile or fixed number', ...NUMBER },
      ],
      run: async (p) => {
        const ok = await h.control(() => c.callThird({ callee: str(p, 'callee')!, target: str(p, 'target')! }))
        h.consultStarted(str(p, 'callee')!, str(p, 'target')!)
        return controlOutcome(ok)
      },
    },
    {
      name: 'CALL_THIRD_GET_THIRD_STATE',
      description: "§11 the third party's state during CALL_THIRD: trying (100), ringing (180), answered (200), busy (603)",
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [{ name: 'callee', type: 'string', required: true, description: 'the extension in the call', ...NUMBER }],
      run: async (p) => {
        const r = await h.query(() => c.callThirdState({ callee: str(p, 'callee')! }))
        return { result: { state: r.state, status: r.status, meaning: r.meaning.en, zh: r.meaning.zh }, vendor: { opt: 'CALL_THIRD_GET_THIRD_STATE', status: r.status } }
      },
    },
    {
      name: 'IVR_TTS_CALL',
      description: '§18 call a number into a multi-level IVR that plays voice and text-to-speech, collects keys and may transfer to an agent (播放多层语音, 收集按键, 转坐席)',
      kind: 'control',
      params: [
        { name: 'token', type: 'string', required: true, description: 'caller-chosen unique task id, for IVR_TTS_CALL_RESULT', ...TOKEN },
        { name: 'callee', type: 'string', required: true, description: "the customer's number (客户电话号码)", ...NUMBER },
        { name: 'toneid', type: 'integer', required: true, min: 0, max: 999_999_999, description: 'the IVR number (IVR 编号)' },
        {
          name: 'tts',
          type: 'string',
          maxLength: 4000,
          description: 'the IVR\'s TTS variables (ttsXXX), one "name=text" per line, e.g. "abc=你好世界!" is sent as ttsabc=你好世界!',
        },
      ],
      run: async (p) => controlOutcome(await h.control(() => c.ivrTtsCall({ token: str(p, 'token')!, callee: str(p, 'callee')!, toneid: num(p, 'toneid')!, tts: ttsVars(str(p, 'tts')) }))),
    },
    {
      name: 'IVR_TTS_CALL_RESULT',
      description: '§18 the state of an IVR_TTS_CALL task (codes as GET_CAPTCHA_RESULT) and the keys the IVR collected (e.g. satisfact)',
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [{ name: 'token', type: 'string', required: true, description: 'the token given to IVR_TTS_CALL', ...TOKEN }],
      run: async (p) => taskOutcome('IVR_TTS_CALL_RESULT', await h.query(() => c.ivrTtsCallResult(str(p, 'token')!))),
    },
    {
      name: 'IVR_TTS_CALL_MONITOR',
      description: '§18 calls queued for an agent (queue) and calls playing (playcount)',
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [],
      run: async () => ({ result: await h.query(() => c.ivrTtsCallMonitor()) }),
    },
    {
      name: 'CALL_LOG_QUERY',
      description: "§21 the server's call log for a date range (呼叫日志查询); also GET /v1/sources/:id/call-log",
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [
        { name: 'first', type: 'integer', min: 0, max: 1_000_000_000, default: 0, description: 'index of the first entry (查询起始 id)' },
        { name: 'maxResults', type: 'integer', min: 1, max: 10_000, default: 1000, description: 'at most this many entries' },
        { name: 'beginDate', type: 'string', required: true, description: 'first day, yyyy-MM-dd', ...DATE },
        { name: 'endDate', type: 'string', required: true, description: 'last day, yyyy-MM-dd', ...DATE },
        { name: 'telnum', type: 'string', description: 'only calls of this number (相关号码)', ...NUMBER },
        { name: 'dirction', type: 'integer', enum: [0, 1, 2], default: 0, description: '0 all, 1 answered, 2 placed (the seed spells it dirction)' },
      ],
      run: async (p) => {
        const r = await h.query(() =>
          c.callLogQuery({
            first: num(p, 'first'),
            maxResults: num(p, 'maxResults'),
            beginDate: str(p, 'beginDate')!,
            endDate: str(p, 'endDate')!,
            telnum: str(p, 'telnum'),
            direction: num(p, 'dirction') as 0 | 1 | 2 | undefined,
          }),
        )
        return { result: { count: r.logs.length, logs: r.logs.map(logJson), skipped: r.skipped } }
      },
    },
    {
      name: 'CALL_LOG_GET_WITH_CALLID',
      description: "§21 one call's log entry by the push id (callid); null when the server has none; also GET /v1/sources/:id/call-log/:callid",
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [{ name: 'callid', type: 'string', required: true, description: 'the call id of the push (来电弹屏等推送的编号)', ...TOKEN }],
      run: async (p) => {
        const log = await h.query(() => c.callLogByCallId(str(p, 'callid')!))
        return { result: log === null ? null : logJson(log) }
      },
    },
    ...servletActions(h),
  ]
}

/** §19/§20 `data`: the seed's JSON text, checked to be JSON with the named array before it is sent. */
function jsonData(key: 'contacts' | 'preorder', v: string | undefined): string {
  let o: unknown
  try {
    o = JSON.parse(v ?? '')
  } catch {
    throw badField('data', `data: expected JSON text such as {"${key}":[…]}`)
  }
  const list = typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined
  if (!Array.isArray(list) || list.length === 0) throw badField('data', `data: expected a JSON object with a non-empty "${key}" array`)
  // sent as the caller wrote it: the server reads the seed's field names (cname, localuser, gid, details …)
  return v!
}

/** §19, §20, §24: the servlets beside /bridge/callctrl, named by servlet (and `opt`). */
function servletActions(h: ActionHost): VendorAction[] {
  const c = h.client
  const data = (key: string): ActionParam => ({
    name: 'data',
    type: 'string',
    required: true,
    maxLength: 6000,
    description: `the seed's JSON text, {"${key}":[…]} (sent percent-encoded in the source charset)`,
  })
  return [
    {
      name: 'ContactsSrvlt',
      description: '§19 import customers (创建客户资料): {"contacts":[{"cname","localuser","gid","details":[{"tid","cvalue"}]}]}',
      kind: 'control',
      params: [data('contacts')],
      run: async (p) => controlOutcome(await h.control(() => c.contactsCreate(jsonData('contacts', str(p, 'data'))))),
    },
    {
      name: 'PreorderSrvlt',
      description: '§20 import sales leads for agents to call (创建商机): {"preorder":[{"cname","telnum","product","comment","qq"}]}',
      kind: 'control',
      params: [data('preorder')],
      run: async (p) => controlOutcome(await h.control(() => c.preorderCreate(jsonData('preorder', str(p, 'data'))))),
    },
    {
      name: 'ToneFileSvlt.query',
      description: '§24 the voice files on the server (获取所有语音文件信息): id, titel (sic), path, des',
      kind: 'query',
      attempts: 1, // the Guoxin client asks a query twice itself
      params: [],
      run: async () => ({ result: await h.query(() => c.toneFiles()) }),
    },
    {
      name: 'ToneFileSvlt.delete',
      description: '§24 delete a voice file (删除语音文件)',
      kind: 'control',
      params: [{ name: 'id', type: 'integer', required: true, min: 0, max: 999_999_999, description: 'the voice file number (语音文件编号)' }],
      run: async (p) => controlOutcome(await h.control(() => c.toneFileDelete(num(p, 'id')!))),
    },
  ]
}

const captchaParams: readonly ActionParam[] = [
  { name: 'id', type: 'string', required: true, description: 'caller-chosen unique id (全局唯一字符串), for GET_CAPTCHA_RESULT', ...TOKEN },
  { name: 'precallcount', type: 'integer', min: 0, max: 10_000, default: 0, description: 'numbers called ahead while every agent is busy (预呼叫个数; 0 none)' },
  { name: 'playtimes', type: 'integer', min: 1, max: 100, default: 1, description: 'times the voice is played (语音播放次数)' },
  { name: 'extnum', type: 'string', description: 'extension or group to transfer to after playing; absent: hang up', ...NUMBER },
  { name: 'callee', type: 'string', required: true, description: 'the number to call (被叫号码)', ...NUMBER },
  { name: 'toneid', type: 'integer', required: true, min: 0, max: 999_999_999, description: 'the voice file number (播放的语音编号, 后台“语音文件管理”)' },
  { name: 'code', type: 'string', pattern: /^\d{1,32}$/, patternText: 'digits only (需纯数字)', maxLength: 32, description: 'digit code read out after the voice (注册验证码)' },
  {
    name: 'pwd',
    type: 'string',
    maxLength: 64,
    default: 'no',
    pattern: /^(?:no|[0-9a-fA-F]{32})$/,
    patternText: 'no, or 32 hex digits',
    description: 'MD5 of password+callee+code+yyyy-MM-dd (验证密码), or no',
  },
]
