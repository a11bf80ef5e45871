/**
 * Typed client for the Guoxin call center's HTTP interface (seed 001 §1–18, 21–22). Every control
 * call is a GET on `/bridge/callctrl?…&opt=NAME` whose answer is the HTTP status code; a non-200
 * code becomes a GuoxinRefused carrying the code and what it means for that operation. Control calls
 * are sent once (a dial that timed out may still have been placed); queries go through `retrying`.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import iconv from 'iconv-lite'
import type { IncomingMessage } from 'node:http'
import { HttpTimeoutError, HttpUnreachableError, retrying } from '../http/client.js'
import { codeMeaning, type CodeMeaning, type GuoxinOpt, type GuoxinServletOp } from './codes.js'
import { GuoxinBadAnswer, parseCallLog, parseCallLogs, parseExtStates, parseTaskResult, parseTtsMonitor } from './parse.js'
import { get, openGet, type GetResponse } from './http.js'
import { encodeQuery, type GuoxinEncoding } from './query.js'
import type { CallLog, CallTaskResult, ExtState, Skipped, ThirdState, TtsMonitor } from './types.js'

export interface GuoxinClientOptions {
  /** the server's base URL, e.g. http://10.0.0.6:12121 */
  url: string
  /** per request */
  timeoutMs: number
  /** charset of query strings and of answers that name none (default utf-8) */
  encoding?: GuoxinEncoding
  /** attempts for queries (never for control), default 2 */
  attempts?: number
  /** first retry delay, doubled each time (default 200 ms) */
  retryBaseMs?: number
}

export interface CallOptions {
  signal?: AbortSignal
}

/** The server answered 200 (or, for CALL_THIRD_GET_THIRD_STATE, one of its state codes). */
export interface GuoxinOk {
  opt: GuoxinOpt
  status: number
  meaning: CodeMeaning
  body: string
}

/** The server answered with a status code that refuses the operation. */
export class GuoxinRefused extends Error {
  override name = 'GuoxinRefused'
  readonly meaning: CodeMeaning & { documented: boolean }
  constructor(
    readonly opt: GuoxinOpt,
    readonly status: number,
    readonly body: string,
  ) {
    const meaning = codeMeaning(opt, status)
    super(`${opt}: ${status} ${meaning.en}${meaning.zh ? ` (${meaning.zh})` : ''}`)
    this.meaning = meaning
  }
}

export type DialLine = 'fixed' | 'ip'

export interface CaptchaCall {
  /** caller-chosen unique id, for GET_CAPTCHA_RESULT */
  id: string
  callee: string
  /** voice file number (后台“语音文件管理”) */
  toneid: number | string
  /** calls placed ahead while all agents are busy (0: none) */
  precallcount?: number
  playtimes?: number
  /** extension or group to transfer to after playing; absent: hang up */
  extnum?: string
  /** digits to read out */
  code?: string
  /** MD5(pwd + callee + code + yyyy-MM-dd) or 'no' */
  pwd?: string
  line?: DialLine
}

export interface TtsCall {
  /** caller-chosen task token for IVR_TTS_CALL_RESULT */
  token: string
  callee: string
  /** IVR number */
  toneid: number | string
  /** TTS variables of the IVR; keys without the `tts` prefix get it (`abc` → `ttsabc`) */
  tts?: Record<string, string>
}

export interface CallLogQuery {
  first?: number
  maxResults?: number
  /** yyyy-MM-dd, server local time */
  beginDate: string
  endDate: string
  telnum?: string
  /** 0 all, 1 answered, 2 placed (the vendor spells the key `dirction`) */
  direction?: 0 | 1 | 2
}

export interface Recording {
  status: number
  headers: IncomingMessage['headers']
  /** the answer's body, to stream or destroy */
  body: IncomingMessage
}

const DATE = /^\d{4}-\d{2}-\d{2}$/

type Params = ReadonlyArray<readonly [string, string | number | undefined]>

export class GuoxinClient {
  readonly base: string
  readonly encoding: GuoxinEncoding
  constructor(readonly opts: GuoxinClientOptions) {
    const u = new URL(opts.url)
    this.base = u.origin
    this.encoding = opts.encoding ?? 'utf-8'
  }

  /** The full callctrl URL for `opt` (the parameters in the seed's order, `opt` last). */
  callctrlUrl(opt: GuoxinOpt, params: Params): string {
    return `${this.base}/bridge/callctrl?${encodeQuery([...params, ['opt', opt]], this.encoding)}`
  }

  private decode(res: GetResponse): string {
    const m = /charset=["']?([\w-]+)/i.exec(res.headers['content-type'] ?? '')
    const cs = m && iconv.encodingExists(m[1]!) ? m[1] : this.encoding
    return iconv.decode(res.body, cs)
  }

  /** One control call: sent once, 200 or GuoxinRefused. */
  async control(opt: GuoxinOpt, params: Params, o: CallOptions = {}): Promise<GuoxinOk> {
    const res = await get(this.callctrlUrl(opt, params), { timeoutMs: this.opts.timeoutMs, signal: o.signal })
    const body = this.decode(res)
    if (res.status !== 200) throw new GuoxinRefused(opt, res.status, body)
    return { opt, status: 200, meaning: codeMeaning(opt, 200), body }
  }

  private retry<T>(fn: () => Promise<T>, o: CallOptions): Promise<T> {
    return retrying(fn, { attempts: this.opts.attempts ?? 2, baseMs: this.opts.retryBaseMs ?? 200, signal: o.signal })
  }

  /** A query (retried): the decoded body of a 200; a 404 is passed to `on404` when given. */
  private async query(opt: GuoxinOpt, url: string, o: CallOptions, okStatuses: number[] = [200]): Promise<{ status: number; body: string }> {
    return this.retry(async () => {
      const res = await get(url, { timeoutMs: this.opts.timeoutMs, signal: o.signal })
      const body = this.decode(res)
      if (!okStatuses.includes(res.status)) throw new GuoxinRefused(opt, res.status, body)
      return { status: res.status, body }
    }, o)
  }

  // §1
  clickToDial(p: { caller: string; callee: string; line?: DialLine }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      p.line === 'ip' ? 'CLICK_TO_IP_DIAL' : 'CLICK_TO_DIAL',
      [
        ['caller', p.caller],
        ['callee', p.callee],
        ['authtype', 'no'],
      ],
      o,
    )
  }

  // §2: the seed sends both numbers; callee may be left out when unknown
  clickToHangup(p: { caller: string; callee?: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CLICK_TO_HUNGUP',
      [
        ['caller', p.caller],
        ['callee', p.callee],
      ],
      o,
    )
  }

  // §3
  captchaCall(p: CaptchaCall, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      p.line === 'fixed' ? 'CLICK_TO_FIXEDLINE_CAPTCHA' : 'CLICK_TO_IP_CAPTCHA',
      [
        ['id', p.id],
        ['precallcount', p.precallcount ?? 0],
        ['playtimes', p.playtimes ?? 1],
        ['extnum', p.extnum],
        ['callee', p.callee],
        ['toneid', p.toneid],
        ['code', p.code],
        ['pwd', p.pwd ?? 'no'],
      ],
      o,
    )
  }

  async captchaResult(id: string, o: CallOptions = {}): Promise<CallTaskResult> {
    const r = await this.query('GET_CAPTCHA_RESULT', this.callctrlUrl('GET_CAPTCHA_RESULT', [['id', id]]), o, [200, 404])
    return parseTaskResult('GET_CAPTCHA_RESULT', r.status, r.body)
  }

  // §5 blind transfer of the call extnum is in
  transfer(p: { extnum: string; target: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CLICK_TO_TRANSFER',
      [
        ['extnum', p.extnum],
        ['target', p.target],
      ],
      o,
    )
  }

  // §6
  callerToIvr(p: { caller: string; callee: string; ivrid: number | string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'TALKING_CALLER_TO_IVR',
      [
        ['caller', p.caller],
        ['callee', p.callee],
        ['ivrid', p.ivrid],
      ],
      o,
    )
  }

  // §8
  setPresence(p: { extnum: string; state: 'online' | 'reducing' | 'busy' }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'SET_EXT_PRESENCE_STATE',
      [
        ['extnum', p.extnum],
        ['state', p.state],
      ],
      o,
    )
  }

  // §9
  conferenceCreate(p: { caller: string; callee: string; target: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CONFERENCE_CREATE',
      [
        ['caller', p.caller],
        ['callee', p.callee],
        ['target', p.target],
      ],
      o,
    )
  }

  // §10
  conferenceJoin(p: { conferenceid: string; target: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CONFERENCE_JOIN',
      [
        ['conferenceid', p.conferenceid],
        ['target', p.target],
      ],
      o,
    )
  }

  // §11
  callThird(p: { callee: string; target: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CALL_THIRD',
      [
        ['callee', p.callee],
        ['target', p.target],
      ],
      o,
    )
  }

  callThirdResume(p: { callee: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control('CALL_THIRD_RESUME', [['callee', p.callee]], o)
  }

  /**
   * The third party's state, told by the status line alone: 100 trying, 180 ringing, 200 answered,
   * 603 busy. fetch cannot report a 1xx as an answer, so this reads the status line off the socket.
   */
  async callThirdState(p: { callee: string }, o: CallOptions = {}): Promise<{ state: ThirdState; status: number; meaning: CodeMeaning }> {
    const opt = 'CALL_THIRD_GET_THIRD_STATE'
    const url = this.callctrlUrl(opt, [['callee', p.callee]])
    const status = await this.retry(() => statusLine(url, this.opts.timeoutMs, o.signal), o)
    const state: ThirdState | undefined = ({ 100: 'trying', 180: 'ringing', 200: 'answered', 603: 'busy' } as Record<number, ThirdState>)[status]
    if (!state) throw new GuoxinRefused(opt, status, '')
    return { state, status, meaning: codeMeaning(opt, status) }
  }

  // §12
  callThirdConference(p: { callee: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control('CALL_THIRD_CONFERENCE', [['callee', p.callee]], o)
  }

  // §13
  callThirdTransfer(p: { callee: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control('CALL_THIRD_TRANSFER', [['callee', p.callee]], o)
  }

  // §14
  extStatesUrl(): string {
    return `${this.base}/bridge/jsoncfg?opt=EXTNUM_STATE`
  }

  async extStates(o: CallOptions = {}): Promise<{ states: ExtState[]; skipped: Skipped[] }> {
    const r = await this.query('EXTNUM_STATE', this.extStatesUrl(), o)
    return parseExtStates(r.body)
  }

  // §15–17: the vendor spells the worker's key `wokerExtnum`
  monitor(p: { leaderExtnum: string; wokerExtnum: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'CALL_MONITOR',
      [
        ['leaderExtnum', p.leaderExtnum],
        ['wokerExtnum', p.wokerExtnum],
      ],
      o,
    )
  }

  forcePickup(p: { leaderExtnum: string; wokerExtnum: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'FORCE_PICKUP',
      [
        ['leaderExtnum', p.leaderExtnum],
        ['wokerExtnum', p.wokerExtnum],
      ],
      o,
    )
  }

  forceHungup(p: { leaderExtnum: string; wokerExtnum: string }, o?: CallOptions): Promise<GuoxinOk> {
    return this.control(
      'FORCE_HUNGUP',
      [
        ['leaderExtnum', p.leaderExtnum],
        ['wokerExtnum', p.wokerExtnum],
      ],
      o,
    )
  }

  // §18
  ivrTtsCall(p: TtsCall, o?: CallOptions): Promise<GuoxinOk> {
    const tts = Object.entries(p.tts ?? {}).map(([k, v]) => [k.startsWith('tts') ? k : `tts${k}`, v] as const)
    return this.control('IVR_TTS_CALL', [['token', p.token], ['callee', p.callee], ['toneid', p.toneid], ...tts], o)
  }

  async ivrTtsCallResult(token: string, o: CallOptions = {}): Promise<CallTaskResult> {
    const r = await this.query('IVR_TTS_CALL_RESULT', this.callctrlUrl('IVR_TTS_CALL_RESULT', [['token', token]]), o, [200, 404])
    return parseTaskResult('IVR_TTS_CALL_RESULT', r.status, r.body)
  }

  async ivrTtsCallMonitor(o: CallOptions = {}): Promise<TtsMonitor> {
    const r = await this.query('IVR_TTS_CALL_MONITOR', this.callctrlUrl('IVR_TTS_CALL_MONITOR', []), o)
    return parseTtsMonitor(r.body)
  }

  // §21
  async callLogQuery(q: CallLogQuery, o: CallOptions = {}): Promise<{ logs: CallLog[]; skipped: Skipped[] }> {
    if (!DATE.test(q.beginDate) || !DATE.test(q.endDate)) throw new RangeError('beginDate and endDate must be yyyy-MM-dd')
    const url = this.callctrlUrl('CALL_LOG_QUERY', [
      ['first', q.first ?? 0],
      ['maxResults', q.maxResults ?? 1000],
      ['beginDate', q.beginDate],
      ['endDate', q.endDate],
      ['telnum', q.telnum],
      ['dirction', q.direction ?? 0],
    ])
    const r = await this.query('CALL_LOG_QUERY', url, o)
    return parseCallLogs(r.body)
  }

  /** null when the server knows no such call (404 or an empty answer). */
  async callLogByCallId(callid: string, o: CallOptions = {}): Promise<CallLog | null> {
    const r = await this.query('CALL_LOG_GET_WITH_CALLID', this.callctrlUrl('CALL_LOG_GET_WITH_CALLID', [['callid', callid]]), o, [200, 404])
    return r.status === 404 ? null : parseCallLog(r.body)
  }

  // §19, §20, §24: servlets beside callctrl, answered by status code (the voice file list by JSON)
  servletUrl(path: 'ContactsSrvlt' | 'PreorderSrvlt' | 'ToneFileSvlt', params: Params): string {
    return `${this.base}/bridge/${path}?${encodeQuery(params, this.encoding)}`
  }

  private async servlet(op: GuoxinServletOp, url: string, o: CallOptions = {}): Promise<GuoxinOk> {
    const res = await get(url, { timeoutMs: this.opts.timeoutMs, signal: o.signal })
    const body = this.decode(res)
    if (res.status !== 200) throw new GuoxinRefused(op, res.status, body)
    return { opt: op, status: 200, meaning: codeMeaning(op, 200), body }
  }

  /** §19 import customers: `data` is the seed's JSON text ({"contacts":[…]}) */
  contactsCreate(data: string, o?: CallOptions): Promise<GuoxinOk> {
    return this.servlet('ContactsSrvlt', this.servletUrl('ContactsSrvlt', [['data', data]]), o)
  }

  /** §20 import sales leads: `data` is the seed's JSON text ({"preorder":[…]}) */
  preorderCreate(data: string, o?: CallOptions): Promise<GuoxinOk> {
    return this.servlet('PreorderSrvlt', this.servletUrl('PreorderSrvlt', [['data', data]]), o)
  }

  /** §24 the voice files: [{id, titel, path, des}] as the server spells them */
  async toneFiles(o: CallOptions = {}): Promise<unknown[]> {
    const r = await this.retry(() => this.servlet('ToneFileSvlt.query', this.servletUrl('ToneFileSvlt', [['opt', 'query']]), o), o)
    let json: unknown
    try {
      json = JSON.parse(r.body.charCodeAt(0) === 0xfeff ? r.body.slice(1) : r.body)
    } catch (err) {
      throw new GuoxinBadAnswer('ToneFileSvlt.query', `not JSON (${(err as Error).message})`, r.body.slice(0, 200))
    }
    if (!Array.isArray(json)) throw new GuoxinBadAnswer('ToneFileSvlt.query', 'expected a JSON array', r.body.slice(0, 200))
    return json as unknown[]
  }

  /** §24 delete a voice file */
  toneFileDelete(id: number, o?: CallOptions): Promise<GuoxinOk> {
    return this.servlet(
      'ToneFileSvlt.delete',
      this.servletUrl('ToneFileSvlt', [
        ['opt', 'delete'],
        ['id', id],
      ]),
      o,
    )
  }

  // §22
  recordingUrl(callid: string): string {
    return `${this.base}/Oms/FileDownServlet?${encodeQuery([['callid', callid]], this.encoding)}`
  }

  /**
   * Open the recording of a call for streaming. The timeout covers the wait for the answer's
   * headers; the body then streams for as long as it takes. Sent once (a download is cheap to
   * repeat, but the caller decides).
   */
  async openRecording(callid: string, o: { signal?: AbortSignal; range?: string; method?: 'GET' | 'HEAD' } = {}): Promise<Recording> {
    const res = await openGet(this.recordingUrl(callid), { timeoutMs: this.opts.timeoutMs, signal: o.signal, method: o.method, headers: o.range ? { range: o.range } : {} })
    return { status: res.statusCode ?? 0, headers: res.headers, body: res }
  }
}

/** GET `url` and return the status code of the first status line, 1xx included. */
export function statusLine(url: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const u = new URL(url)
  const https = u.protocol === 'https:'
  const port = Number(u.port || (https ? 443 : 80))
  const host = u.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve, reject) => {
    let buf = ''
    let done = false
    const sock: Socket = https ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port })
    const finish = (err: Error | null, code?: number) => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      sock.destroy()
      if (err) reject(err)
      else resolve(code!)
    }
    const onAbort = () => finish(Object.assign(new Error('aborted'), { name: 'AbortError' }))
    signal?.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => finish(new HttpTimeoutError(url, timeoutMs)), timeoutMs)
    sock.setEncoding('latin1')
    sock.once(https ? 'secureConnect' : 'connect', () => {
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\nAccept: */*\r\n\r\n`)
    })
    sock.on('data', (s: string) => {
      buf += s
      const nl = buf.indexOf('\r\n')
      if (nl < 0 && buf.length < 1024) return
      const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(nl < 0 ? buf : buf.slice(0, nl))
      if (m) finish(null, Number(m[1]))
      else finish(new GuoxinBadAnswer('CALL_THIRD_GET_THIRD_STATE', 'no HTTP status line', buf.slice(0, 80)))
    })
    sock.on('error', (err: NodeJS.ErrnoException) => finish(new HttpUnreachableError(url, err.code ?? err.message)))
    sock.on('close', () => finish(new HttpUnreachableError(url, 'connection closed before a status line')))
  })
}
