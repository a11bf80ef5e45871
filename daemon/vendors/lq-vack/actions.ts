import {
  encodeText,
  parseChStatus,
  parseCustCall,
  parseLoc,
  parseOperStatus,
  parsePlaySelected,
  parseQueueStatus,
  type FormCharset,
  type FormFields,
  type VackClient,
  type VackDoc,
} from '../../../protocols/lq-vack/index.js'
import type { ActionOutcome, ActionParam, VendorAction } from '../../core/actions.js'
import { badField } from '../../core/control.js'

/**
 * The LQ-SDK services (seed 000) the common call-control routes do not reach, as vendor actions:
 * the action is the vo_id, every field is named as seed 000 names it and sent as given (Chinese in
 * the source's charset, by the client), answers decoded into JSON. Fixed fields the document sets
 * (`repType=rep2xml`, `charset=gb2312`) are added here, not asked for.
 */

type Params = Readonly<Record<string, string | number | boolean>>

const AGENT_RE = /^[^\s&=\x00-\x1f]{1,32}$/
const PHONE_RE = /^[0-9*#+]{1,40}$/
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/
const TIME_RE = /^\d{2}:\d{2}:\d{2}$/
const RECEIVERS_RE = /^[0-9+]{3,20}(;[0-9+]{3,20})*;?$/

const oper = (what = "agent A's 工号 (the acting agent)"): ActionParam => ({
  name: 'oper',
  type: 'string',
  required: true,
  description: what,
  pattern: AGENT_RE,
  patternText: 'an agent id (1–32 characters, no spaces, & or =)',
})
const ch: ActionParam = { name: 'ch', type: 'integer', min: -1, max: 999_999, default: -1, description: "agent A's internal channel (内线通道号); -1 or absent: looked up by oper" }
const phone = (what: string, required = true): ActionParam => ({ name: 'phone', type: 'string', required, description: what, pattern: PHONE_RE, patternText: '1–40 of 0-9 * # +' })
const text = (name: string, what: string, maxLength: number, required = false): ActionParam => ({ name, type: 'string', required, description: what, maxLength })
const pattern = (name: string, what: string, re: RegExp, reText: string, required = false): ActionParam => ({ name, type: 'string', required, description: what, pattern: re, patternText: reText })
const ifWait = (what: string): ActionParam => ({ name: 'if_wait', type: 'boolean', default: true, description: what })
const schedule: ActionParam[] = [
  { name: 'time_type', type: 'integer', enum: [1, 2], default: 1, description: '1 send now (立即发送), 2 at date_schedule time_schedule (定时发送)' },
  pattern('date_schedule', 'scheduled date (约定日期), e.g. 2008-01-01', DATE_RE, 'a date YYYY-MM-DD'),
  pattern('time_schedule', 'scheduled time (约定时间), e.g. 09:00:01', TIME_RE, 'a time HH:MM:SS'),
  { name: 'retry_cnt', type: 'integer', min: 0, max: 99, description: 'retries after a failure (失败后重试次数)' },
]
const receiver: ActionParam = pattern('receiver', 'receivers (接收方号码), several separated by ; (fewer than 90)', RECEIVERS_RE, 'numbers separated by ;', true)
const CUSTCALL_EXTRA = ['custcall_3_16', 'custcall_4_16', 'custcall_5_16', 'custcall_6_16', 'custcall_7_8', 'custcall_8_8', 'custcall_9_8', 'custcall_10_8']

/** Form fields from checked params, in the params' order, absent ones at their default: booleans as true/false, the rest as text. */
function fields(defs: readonly ActionParam[], p: Params, fixed: FormFields = {}): FormFields {
  const out: FormFields = {}
  for (const d of defs) {
    const v = p[d.name] ?? d.default
    if (v !== undefined) out[d.name] = typeof v === 'boolean' ? (v ? 'true' : 'false') : v
  }
  return { ...out, ...fixed }
}

/** A control's answer: the server's message (执行成功) and text; an empty 200 answer counts as done. */
function done(doc: VackDoc | null): ActionOutcome {
  return { result: { done: true, msg: doc?.msg ?? null, text: doc?.text ?? null }, vendor: { generated: doc?.generated ?? null, rcode: doc?.rcode ?? null } }
}

function answered(doc: VackDoc, result: unknown): ActionOutcome {
  return { result, vendor: { voId: doc.voId, generated: doc.generated, attrs: doc.attrs } }
}

/** `receiver` holds fewer than 90 numbers (seed 000: 一次提交要少于90个号码). */
function checkReceivers(p: Params): void {
  const n = String(p['receiver']).split(';').filter(Boolean).length
  if (n >= 90) throw badField('receiver', `receiver: fewer than 90 numbers, got ${n}`)
  if (p['time_type'] === 2 && (p['date_schedule'] === undefined || p['time_schedule'] === undefined))
    throw badField('date_schedule', 'date_schedule: time_type 2 needs date_schedule and time_schedule')
}

/**
 * Every vendor action of an lq-vack source. `send` runs one service call and turns refusals and
 * timeouts into VendorRefused / VendorTimeout (the source's mapping, shared with call control).
 */
export function vackActions(charset: FormCharset, send: <T>(voId: string, run: (c: VackClient) => Promise<T>) => Promise<T>): VendorAction[] {
  const control = (name: string, description: string, params: ActionParam[], fixed: FormFields = {}, check?: (p: Params) => void): VendorAction => ({
    name,
    description,
    kind: 'control',
    params,
    async run(p) {
      check?.(p)
      return done(await send(name, (c) => c.control(name, fields(params, p, fixed))))
    },
  })
  const query = (name: string, description: string, params: ActionParam[], decode: (doc: VackDoc) => unknown, fixed: FormFields = {}): VendorAction => ({
    name,
    description,
    kind: 'query',
    params,
    async run(p) {
      const doc = await send(name, (c) => c.query(name, fields(params, p, fixed)))
      return answered(doc, decode(doc))
    },
  })
  const ivrFlow = pattern('flow', 'the IVR flow name (流程名), defined in the LQ admin pages', /^[^\s&=]{1,64}$/, '1–64 characters without spaces, & or =', true)
  return [
    control('agentdeny', 'A ringing agent refuses the call (坐席拒接): to the busy flow, the no-answer flow, or hang up', [
      oper("the ringing agent's 分机号"),
      { name: 'type', type: 'integer', enum: [1, 2, 3], default: 3, description: '1 to the busy flow (遇忙), 2 to the no-answer flow (未接听), 3 hang up the line (default)' },
    ]),
    control('sendflash', 'Hook flash on the external line of the agent in a call (发送闪断, 拍叉簧)', [oper()]),
    control('playTTS', 'Speak a text to the customer in the call (文本播放TTS)', [
      text('tts', 'the text to speak', 1000, true),
      ifWait('true: the agent waits for the end and talks on; false: the agent may hang up at once'),
      ch,
      oper(),
    ]),
    control('push2flow', 'Put the caller into an IVR flow (来电转流程); an E-IVR result comes back to popCRURL as a t2 pop', [
      ivrFlow,
      ch,
      oper(),
      text('para', 'extra parameter handed to the flow (附加参数), e.g. a card number; comes back as pa', 200),
      ifWait('true: the agent waits for the flow to end and talks on; false: the agent may hang up'),
    ]),
    control('callouterFast', 'Connect the customer to an outside number at once, without checking it is free (立即外转)', [phone('the outside number (需要外转的电话号码)'), ch, oper()]),
    control('callouterSafe', 'Call an outside number first (安全外转); then callouterSafeTalk, callouterSafeReturn or callouterSafeConf', [
      phone('the outside number (需要外转的电话号码)'),
      ch,
      oper(),
    ]),
    control('callouterSafeTalk', 'Safe transfer: the outside number answered, connect it to the customer (安全外转-接通)', [ch, oper()]),
    control('callouterSafeReturn', 'Safe transfer: the outside number did not answer, back to the customer (安全外转-回退)', [ch, oper()]),
    control('callouterSafeConf', 'Safe transfer: customer, outside number and agent in one conference (安全外转-会议)', [ch, oper()]),
    control(
      'callusb',
      'Call several numbers and run an IVR flow on each answer (批量外呼转流程)',
      [
        pattern('phone_calloutb', 'the numbers to call, separated by ;', /^[0-9*#+]{1,40}(;[0-9*#+]{1,40})*;?$/, 'numbers separated by ;', true),
        pattern('flow_calloutb', 'the IVR flow name (流程名)', /^[^\s&=]{1,64}$/, '1–64 characters without spaces, & or =', true),
      ],
      { repType: 'rep2xml' },
    ),
    control(
      'fastSMS',
      "Send an SMS through the LQ platform's SMS gateway (发送短信)",
      [receiver, text('memo', `the message (短信内容), at most 140 bytes in the source's charset (${charset})`, 140, true), ...schedule],
      { repType: 'rep2xml' },
      (p) => {
        checkReceivers(p)
        const bytes = encodeText(String(p['memo']), charset).length
        if (bytes > 140) throw badField('memo', `memo: at most 140 bytes in ${charset}, got ${bytes}`)
      },
    ),
    control(
      'fastFax',
      "Send a fax through the LQ platform's fax gateway (发送传真)",
      [receiver, text('filename', 'the file to send, as the LQ server knows it (文件)', 260, true), ...schedule],
      { repType: 'rep2xml' },
      checkReceivers,
    ),
    query('getSmsBal', 'The SMS account balance (查短信账号余额); the answer is returned as sent', [], (doc) => ({ attrs: doc.attrs, text: doc.text, root: withoutAttrs(doc.root) })),
    control('agentLogout', 'Log the agent out (坐席退出)', [oper()]),
    control('sendPop', 'Send the current call to the agent again as a pop (重新弹屏)', [oper()]),
    control('callback', 'Call a number back, then run the configured flow, e.g. to an agent (回呼)', [
      phone('the number to call back (需要回呼的电话号码)'),
      text('app_info', "the requester's IP address or the like, against double submits", 200),
    ]),
    control('popModifyCustCall', 'Write the call summary (录入通话摘要) of a call-log record', [
      text('startTime', 'the call time (来电时间), as the pop gave it', 40, true),
      pattern('phone_cust', 'the caller number (来电号码)', PHONE_RE, '1–40 of 0-9 * # +', true),
      text('memo', 'the summary (摘要内容)', 1000, true),
      { name: 'code_reason', type: 'string', default: '1', maxLength: 16, description: 'the call reason code (呼叫事由), 1 when absent' },
      ...CUSTCALL_EXTRA.map((n) => text(n, `extra field ${n} (附加字段)`, Number(n.split('_')[2]))),
    ]),
    query(
      'getCustCall',
      'The call log (取呼叫流水), one page of records; unset filters match everything',
      [
        text('code_operator', 'agent id (坐席工号), e.g. 801', 32),
        pattern('call_date_start', 'first date (开始日期), e.g. 2008-01-01', DATE_RE, 'a date YYYY-MM-DD'),
        pattern('call_date_end', 'last date (结束日期)', DATE_RE, 'a date YYYY-MM-DD'),
        pattern('start_time_start', 'call start time from (通话开始时间起始), e.g. 08:00:00', TIME_RE, 'a time HH:MM:SS'),
        pattern('start_time_end', 'call start time to (通话开始时间结束)', TIME_RE, 'a time HH:MM:SS'),
        ...['ser_no', 'ser_no_gt', 'ser_no_ge', 'ser_no_lt', 'ser_no_le'].map((n) => pattern(n, `serial number ${n === 'ser_no' ? '=' : n.slice(7)} (流水号)`, /^\d{1,20}$/, 'digits')),
        pattern('phone_cust', 'phone number, % as wildcard (电话号码), e.g. %2323', /^[0-9*#+%]{1,40}$/, '1–40 of 0-9 * # + %'),
        {
          name: 'code_direction',
          type: 'integer',
          enum: [1, 2, 3, 4, 7, 8, 11, 12],
          description: 'direction (方向): 1 inbound, 2 manual out, 3 web callback, 4 auto out, 7 IP, 8 batch out, 11 fax sent, 12 fax received',
        },
        { name: 'code_voice_type', type: 'integer', min: 0, max: 9, description: 'voice type (类型): LCall 0 no talk, 2 message, 6 talk, 7/8 outside transfer; LOffice 4 recorded, 5 not' },
        { name: 'ch', type: 'integer', min: 0, max: 999_999, description: 'channel (通道号)' },
        { name: 'pn', type: 'integer', min: 1, max: 100_000, default: 1, description: 'page number (第几页), 10 rows a page by default' },
      ],
      (doc) => parseCustCall(doc),
      { charset: 'gb2312' },
    ),
    query(
      'playSelected',
      'The URL of a recording (查询录音文件): play (.asx) or download, by call serial sn or record id',
      [
        pattern('id', 'the call id (来电时间+通道号, the getCustCall id)', /^\d{1,40}$/, 'digits'),
        pattern('sn', 'the call serial number (呼叫流水号); preferred over id (504 and later)', /^\d{1,40}$/, 'digits'),
        { name: 'type', type: 'integer', enum: [1, 2], default: 1, description: '1 a play link (.asx), 2 a download link' },
        { name: 'byInternet', type: 'boolean', default: false, description: 'a link that works over the internet (通过互联网)' },
      ],
      (doc) => parsePlaySelected(doc),
      { charset: 'gb2312' },
    ),
    query('getLoc', 'Where a phone number is registered (查询号码归属地): province and city', [phone('the number to look up')], (doc) => parseLoc(doc)),
    query(
      'getOperStatus',
      "An agent's channel and state (取坐席状态), or every logged-in agent's",
      [pattern('oper', 'an agent id (工号), or logon for every logged-in agent', AGENT_RE, 'an agent id or logon', true)],
      (doc) => parseOperStatus(doc),
    ),
    query('getQueueStatus', 'The inbound, auto-outbound and batch-outbound queues (取队列状态)', [], (doc) => parseQueueStatus(doc)),
    query(
      'getChStatus',
      'Channel states (取通道状态) of one kind or all',
      [{ name: 'type', type: 'integer', enum: [-1, 0, 1, 2, 3], default: -1, description: '0 external (外线), 1 IP, 2 internal/agent (内线), 3 recording (录音); -1 or absent all' }],
      (doc) => parseChStatus(doc),
    ),
  ]
}

/** The parsed root without fast-xml-parser's attribute keys (they are in `attrs`). */
function withoutAttrs(root: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(root).filter(([k]) => !k.startsWith('@_')))
}
