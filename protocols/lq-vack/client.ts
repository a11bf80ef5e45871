/**
 * Typed client for the LQ-SDK service calls (seed 000): a form POST (or GET) to `…/v/vack` with the
 * service number `vo_id`, the secret `_secs_` and `ifAjaxResp=true`, answered with gb2312 XML.
 *
 * Decisions where the vendor is silent:
 * - Form values are sent as GBK bytes, percent-encoded, with `charset=GBK` in the Content-Type (the
 *   server is a Java servlet reading gb2312; `charset: 'utf-8'` is there for servers set up otherwise).
 * - `ifAjaxResp=true` goes with every call: the vendor says services that do not answer XML by
 *   default do with it, and those that do are not affected.
 * - `ch` is only sent when given: the vendor says "-1 or absent" means "look it up by oper".
 * - listenlc/breakin/breakout/talkkeep/talkrestore default to `type=2` (the server works out whether the
 *   call is inbound or outbound).
 * - A control service that answers 200 with an empty body is taken as done (services that answer no
 *   XML by default may ignore ifAjaxResp on old servers); a query must answer XML.
 * - HTTP status other than 200, or an answer that is not a `<result>` document: {@link VackAnswerError}.
 *   The `error` attribute: {@link VackError}. Timeouts and connection failures: the HTTP client's
 *   HttpTimeoutError / HttpUnreachableError, unchanged.
 * - The client never retries: the caller decides (queries may be retried, control never).
 */
import { httpRequest, type HttpResponse } from '../http/client.js'
import { encodeForm, encodeText, type FormCharset, type FormFields } from './form.js'
import {
  CH_TYPE_CODES,
  ChStatusReader,
  parseChStatus,
  parseCustCall,
  parseLoc,
  parseOperStatus,
  parsePlaySelected,
  parseQueueStatus,
  type ChannelKind,
  type ChStatusAnswer,
  type CustCallAnswer,
  type Location,
  type OperStatus,
  type QueueStatusAnswer,
} from './records.js'
import { decodeAnswerText, decodeVackXml, VackXmlError, type VackDoc } from './xml.js'

/** The LQ-SDK service numbers (vo_id) that act: control, messages, pops. */
export const CONTROL_VO_IDS = [
  'transfer2Ext',
  'callauto',
  'setBusyAj',
  'talk3s',
  'listenlc',
  'breakin',
  'breakout',
  'agenthang',
  'hangup',
  'agentdeny',
  'talkkeep',
  'talkrestore',
  'senddtmf',
  'sendflash',
  'playTTS',
  'callouterFast',
  'callouterSafe',
  'callouterSafeTalk',
  'callouterSafeReturn',
  'callouterSafeConf',
  'push2flow',
  'callusb',
  'fastSMS',
  'fastFax',
  'agentLogout',
  'sendPop',
  'callback',
  'popModifyCustCall',
] as const

/** The service numbers that only ask. */
export const QUERY_VO_IDS = ['getChStatus', 'getOperStatus', 'getQueueStatus', 'getCustCall', 'playSelected', 'getLoc', 'getSmsBal'] as const

/** Every service number of the LQ-SDK service-call document. */
export const VO_IDS = [...CONTROL_VO_IDS, ...QUERY_VO_IDS] as const
export type VoId = (typeof VO_IDS)[number]

/** The server answered with the `error` attribute set: it refused or failed. */
export class VackError extends Error {
  override readonly name = 'VackError'
  constructor(
    readonly voId: string,
    /** the `error` attribute, e.g. 通道无效 */
    readonly vendorMessage: string,
    /** the `rcode` attribute (the vendor leaves it "0" even on failure) */
    readonly rcode: string | null,
    /** the element text, e.g. 分通道无效 */
    readonly text: string | null,
  ) {
    super(`${voId}: ${vendorMessage}${text && text !== vendorMessage ? ` (${text})` : ''}`)
  }
}

/** The answer was not a vack answer: HTTP status not 200, not XML, no `<result>`. */
export class VackAnswerError extends Error {
  override readonly name = 'VackAnswerError'
  constructor(
    readonly voId: string,
    readonly code: 'HTTP_STATUS' | VackXmlError['code'],
    message: string,
    readonly status: number,
    readonly raw: string,
  ) {
    super(`${voId}: ${message}`)
  }
}

export interface VackClientOptions {
  /** e.g. http://10.0.0.5:7627/v/vack */
  url: string
  /** `_secs_` (the server's app_config.xml `<secs>`); empty: not sent */
  secret?: string
  timeoutMs: number
  /** how form values are encoded; default gbk */
  charset?: FormCharset
  /** default POST (a form submit, as the vendor's examples) */
  method?: 'POST' | 'GET'
}

export interface CallOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

type Ch = number | string | undefined
/** type for listen/breakin/breakout/hold: 0 outbound call, 1 inbound call, 2 let the server tell */
export type CallSide = 0 | 1 | 2

export class VackClient {
  readonly url: string
  private readonly charset: FormCharset
  private readonly contentType: string

  constructor(readonly opts: VackClientOptions) {
    this.url = opts.url
    this.charset = opts.charset ?? 'gbk'
    this.contentType = `application/x-www-form-urlencoded; charset=${this.charset === 'gbk' ? 'GBK' : 'UTF-8'}`
  }

  /** The form a call sends (also for tests and the bench). */
  form(voId: string, fields: FormFields): string {
    const all: FormFields = { vo_id: voId, ...fields, ifAjaxResp: 'true' }
    if (this.opts.secret) all['_secs_'] = this.opts.secret
    return encodeForm(all, this.charset)
  }

  /** Send one call; an HTTP status other than 200 is a VackAnswerError. */
  private async send(voId: string, fields: FormFields, opts: CallOptions): Promise<HttpResponse> {
    const form = this.form(voId, fields)
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs
    const res =
      this.opts.method === 'GET'
        ? await httpRequest(this.url + (this.url.includes('?') ? '&' : '?') + form, { method: 'GET', timeoutMs, signal: opts.signal })
        : await httpRequest(this.url, { method: 'POST', body: form, headers: { 'content-type': this.contentType }, timeoutMs, signal: opts.signal })
    if (res.status !== 200) {
      const where = res.headers.get('location')
      throw new VackAnswerError(voId, 'HTTP_STATUS', `HTTP ${res.status}${where ? ` (redirect to ${where}: is the secret right?)` : ''}`, res.status, res.body.subarray(0, 200).toString('latin1'))
    }
    return res
  }

  /** One raw call. Returns the envelope, or null for an empty 200 answer when `allowEmpty`. */
  async call(voId: string, fields: FormFields, opts: CallOptions & { allowEmpty?: boolean } = {}): Promise<VackDoc | null> {
    const res = await this.send(voId, fields, opts)
    if (opts.allowEmpty && res.body.every((b) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09)) return null
    let doc: VackDoc
    try {
      doc = decodeVackXml(res.body, res.headers.get('content-type'))
    } catch (err) {
      if (err instanceof VackXmlError) throw new VackAnswerError(voId, err.code, err.message, res.status, err.raw)
      throw err
    }
    if (doc.error !== null) throw new VackError(voId, doc.error, doc.rcode, doc.text)
    return doc
  }

  /** A query: must answer XML. */
  async query(voId: string, fields: FormFields, opts?: CallOptions): Promise<VackDoc> {
    return (await this.call(voId, fields, opts))!
  }

  /** A control service: an empty 200 answer counts as done. */
  control(voId: string, fields: FormFields, opts?: CallOptions): Promise<VackDoc | null> {
    return this.call(voId, fields, { ...opts, allowEmpty: true })
  }

  // ---- queries ------------------------------------------------------------------------------------

  /** getChStatus; `type` a kind or -1/absent for all channels */
  async getChStatus(type?: ChannelKind | -1, opts?: CallOptions, reader?: ChStatusReader): Promise<ChStatusAnswer> {
    const t = type === undefined || type === -1 ? -1 : CH_TYPE_CODES[type]
    if (!reader) return parseChStatus(await this.query('getChStatus', { type: t }, opts))
    // a poller's reader parses only the records that changed since its last answer
    const res = await this.send('getChStatus', { type: t }, opts ?? {})
    let r: ReturnType<ChStatusReader['read']>
    try {
      const { text, encoding } = decodeAnswerText(res.body, res.headers.get('content-type'))
      r = reader.read(text, encoding)
    } catch (err) {
      if (err instanceof VackXmlError) throw new VackAnswerError('getChStatus', err.code, err.message, res.status, err.raw)
      throw err
    }
    if (r.doc.error !== null) throw new VackError('getChStatus', r.doc.error, r.doc.rcode, r.doc.text)
    return r.answer
  }

  /** getOperStatus: an agent id, or `logon` for every logged-in agent (`all` is "not supported yet", says the vendor) */
  async getOperStatus(oper: string, opts?: CallOptions): Promise<OperStatus[]> {
    return parseOperStatus(await this.query('getOperStatus', { oper }, opts)).agents
  }

  async getQueueStatus(opts?: CallOptions): Promise<QueueStatusAnswer> {
    return parseQueueStatus(await this.query('getQueueStatus', {}, opts))
  }

  /** getCustCall: the call log, 10 rows a page by default. Unset filters are left out (the server's default is `%`). */
  async getCustCall(
    q: {
      oper?: string
      dateStart?: string
      dateEnd?: string
      timeStart?: string
      timeEnd?: string
      serial?: { eq?: string; gt?: string; ge?: string; lt?: string; le?: string }
      phone?: string
      direction?: number
      voiceType?: number
      ch?: number
      page?: number
    } = {},
    opts?: CallOptions,
  ): Promise<CustCallAnswer> {
    return parseCustCall(
      await this.query(
        'getCustCall',
        {
          code_operator: q.oper,
          call_date_start: q.dateStart,
          call_date_end: q.dateEnd,
          start_time_start: q.timeStart,
          start_time_end: q.timeEnd,
          ser_no: q.serial?.eq,
          ser_no_gt: q.serial?.gt,
          ser_no_ge: q.serial?.ge,
          ser_no_lt: q.serial?.lt,
          ser_no_le: q.serial?.le,
          phone_cust: q.phone,
          code_direction: q.direction,
          code_voice_type: q.voiceType,
          ch: q.ch,
          pn: q.page,
          charset: 'gb2312',
        },
        opts,
      ),
    )
  }

  /** playSelected: the recording's play (.asx) or download URL, by call serial `sn` (preferred) or `id`. */
  async playSelected(q: { sn?: string; id?: string; download?: boolean; byInternet?: boolean }, opts?: CallOptions): Promise<{ url: string | null }> {
    return parsePlaySelected(await this.query('playSelected', { sn: q.sn, id: q.id, type: q.download ? 2 : 1, byInternet: q.byInternet ? 'true' : undefined, charset: 'gb2312' }, opts))
  }

  async getLoc(phone: string, opts?: CallOptions): Promise<Location | null> {
    return parseLoc(await this.query('getLoc', { phone }, opts))
  }

  /** getSmsBal: the SMS account balance; the vendor documents no answer format, so the envelope is returned. */
  getSmsBal(opts?: CallOptions): Promise<VackDoc> {
    return this.query('getSmsBal', {}, opts)
  }

  // ---- control ------------------------------------------------------------------------------------

  /** callauto: reqType 0 call `phone` out (6: same, without an outbound pop), 1 call the extension `phone` */
  callauto(f: { oper: string; phone: string; reqType: 0 | 1 | 6; ch?: Ch; extra?: FormFields }, opts?: CallOptions) {
    return this.control('callauto', { ...f.extra, phone: f.phone, reqType: f.reqType, ch: f.ch, oper: f.oper }, opts)
  }

  /** transfer2Ext: agent `oper` transfers the call to extension `phone` */
  transfer2Ext(f: { oper: string; phone: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('transfer2Ext', { phone: f.phone, ch: f.ch, oper: f.oper }, opts)
  }

  /** setBusyAj: presence busy (true) or idle (false) */
  setBusyAj(f: { oper: string; busy: boolean; ch?: Ch }, opts?: CallOptions) {
    return this.control('setBusyAj', { setBusy: f.busy ? 'true' : 'false', setBusyCh: f.ch, oper: f.oper }, opts)
  }

  /** talk3s: agent `operLocal` brings agent `oper` into the call */
  talk3s(f: { oper: string; operLocal: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('talk3s', { oper: f.oper, ch: f.ch, operLocal: f.operLocal }, opts)
  }

  /** listenlc: agent `operLocal` listens to agent `oper`'s call */
  listenlc(f: { oper: string; operLocal: string; ch?: Ch; type?: CallSide }, opts?: CallOptions) {
    return this.control('listenlc', { oper: f.oper, operLocal: f.operLocal, ch: f.ch, type: f.type ?? 2 }, opts)
  }

  /** breakin: agent `operLocal` barges into agent `oper`'s call */
  breakin(f: { oper: string; operLocal: string; ch?: Ch; type?: CallSide }, opts?: CallOptions) {
    return this.control('breakin', { oper: f.oper, operLocal: f.operLocal, ch: f.ch, type: f.type ?? 2 }, opts)
  }

  /** breakout: cut agent `oper`'s call */
  breakout(f: { oper: string; ch?: Ch; type?: CallSide }, opts?: CallOptions) {
    return this.control('breakout', { oper: f.oper, ch: f.ch, type: f.type ?? 2 }, opts)
  }

  /** agenthang: agent `oper` hangs up its own call (must be talking) */
  agenthang(f: { oper: string }, opts?: CallOptions) {
    return this.control('agenthang', { oper: f.oper }, opts)
  }

  /** hangup: hang up external line `ch` (must be talking) */
  hangup(f: { ch: Ch }, opts?: CallOptions) {
    return this.control('hangup', { ch: f.ch }, opts)
  }

  /** agentdeny: a ringing agent refuses: 1 to the busy flow, 2 to the no-answer flow, 3 hang up the line (default) */
  agentdeny(f: { oper: string; type?: 1 | 2 | 3 }, opts?: CallOptions) {
    return this.control('agentdeny', { oper: f.oper, type: f.type ?? 3 }, opts)
  }

  talkkeep(f: { oper: string; ch?: Ch; type?: CallSide }, opts?: CallOptions) {
    return this.control('talkkeep', { oper: f.oper, ch: f.ch, type: f.type ?? 2 }, opts)
  }

  talkrestore(f: { oper: string; ch?: Ch; type?: CallSide }, opts?: CallOptions) {
    return this.control('talkrestore', { oper: f.oper, ch: f.ch, type: f.type ?? 2 }, opts)
  }

  senddtmf(f: { oper: string; dtmf: string }, opts?: CallOptions) {
    return this.control('senddtmf', { dtmf: f.dtmf, oper: f.oper }, opts)
  }

  /** sendflash: a hook flash on the agent's external line */
  sendflash(f: { oper: string }, opts?: CallOptions) {
    return this.control('sendflash', { oper: f.oper }, opts)
  }

  /** playTTS: speak `tts` to the customer; `wait` true: the agent waits for the end, false: may hang up */
  playTTS(f: { oper: string; tts: string; wait: boolean; ch?: Ch }, opts?: CallOptions) {
    return this.control('playTTS', { tts: f.tts, if_wait: f.wait ? 'true' : 'false', ch: f.ch, oper: f.oper }, opts)
  }

  /** callouterFast: connect the customer to an outside number at once */
  callouterFast(f: { oper: string; phone: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('callouterFast', { phone: f.phone, ch: f.ch, oper: f.oper }, opts)
  }

  /** callouterSafe: call an outside number first; then callouterSafeTalk, …Return or …Conf */
  callouterSafe(f: { oper: string; phone: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('callouterSafe', { phone: f.phone, ch: f.ch, oper: f.oper }, opts)
  }

  callouterSafeTalk(f: { oper: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('callouterSafeTalk', { ch: f.ch, oper: f.oper }, opts)
  }

  callouterSafeReturn(f: { oper: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('callouterSafeReturn', { ch: f.ch, oper: f.oper }, opts)
  }

  callouterSafeConf(f: { oper: string; ch?: Ch }, opts?: CallOptions) {
    return this.control('callouterSafeConf', { ch: f.ch, oper: f.oper }, opts)
  }

  /** push2flow: put the customer into IVR flow `flow` with parameter `para` (E-IVR results come back as t2 pops) */
  push2flow(f: { oper: string; flow: string; para?: string; wait: boolean; ch?: Ch }, opts?: CallOptions) {
    return this.control('push2flow', { flow: f.flow, if_wait: f.wait ? 'true' : 'false', para: f.para, ch: f.ch, oper: f.oper }, opts)
  }

  /** callusb: call several numbers and run `flow` on each answer */
  callusb(f: { phones: readonly string[]; flow: string }, opts?: CallOptions) {
    return this.control('callusb', { phone_calloutb: f.phones.join(';'), flow_calloutb: f.flow, repType: 'rep2xml' }, opts)
  }

  /** fastSMS: at most 89 receivers, text at most 140 bytes in the charset it is sent in */
  fastSMS(f: { receivers: readonly string[]; text: string; at?: { date: string; time: string }; retries?: number }, opts?: CallOptions) {
    const bytes = encodeText(f.text, this.charset).length
    if (bytes > 140) throw new RangeError(`fastSMS text is at most 140 bytes (${this.charset}), got ${bytes}`)
    return this.control('fastSMS', { ...batchFields('fastSMS', f), memo: f.text }, opts)
  }

  /** fastFax: `filename` is a file the server can reach (the vendor's example page uploads it separately) */
  fastFax(f: { receivers: readonly string[]; filename: string; at?: { date: string; time: string }; retries?: number }, opts?: CallOptions) {
    return this.control('fastFax', { ...batchFields('fastFax', f), filename: f.filename }, opts)
  }

  agentLogout(f: { oper: string }, opts?: CallOptions) {
    return this.control('agentLogout', { oper: f.oper }, opts)
  }

  /** sendPop: send the current call's pop to the agent again */
  sendPop(f: { oper: string }, opts?: CallOptions) {
    return this.control('sendPop', { oper: f.oper }, opts)
  }

  /** callback: call `phone` and run the configured flow (web callback); `appInfo` guards against double submits */
  callback(f: { phone: string; appInfo?: string }, opts?: CallOptions) {
    return this.control('callback', { phone: f.phone, app_info: f.appInfo }, opts)
  }

  /** popModifyCustCall: the call summary; `extra` carries custcall_3_16 … custcall_10_8 */
  popModifyCustCall(f: { startTime: string; phone: string; memo: string; reason?: string; extra?: Record<string, string> }, opts?: CallOptions) {
    for (const k of Object.keys(f.extra ?? {})) {
      if (!/^custcall_\d{1,2}_\d{1,2}$/.test(k)) throw new RangeError(`popModifyCustCall extra fields are custcall_N_M, got ${k}`)
    }
    return this.control('popModifyCustCall', { startTime: f.startTime, phone_cust: f.phone, memo: f.memo, code_reason: f.reason ?? '1', ...f.extra }, opts)
  }
}

/** fastSMS / fastFax: 1 to 89 receivers, sent now (time_type 1) or at a scheduled date and time (2). */
function batchFields(vo: string, f: { receivers: readonly string[]; at?: { date: string; time: string }; retries?: number }) {
  if (f.receivers.length === 0 || f.receivers.length >= 90) throw new RangeError(`${vo} takes 1 to 89 receivers, got ${f.receivers.length}`)
  return {
    receiver: f.receivers.join(';'),
    time_type: f.at ? 2 : 1,
    date_schedule: f.at?.date,
    time_schedule: f.at?.time,
    retry_cnt: f.retries,
    repType: 'rep2xml',
  }
}
