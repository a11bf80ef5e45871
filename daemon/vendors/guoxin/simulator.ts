import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import iconv from 'iconv-lite'
import { OPTS, decodeQuery, encodeQuery, type GuoxinEncoding, type GuoxinOpt, type PushState } from '../../../protocols/guoxin/index.js'
import { ULAW_WAV, encodeWav } from '../../../protocols/wav/index.js'
import type { Logger } from '../../core/log.js'
import { UsageError, numberArg, type CliValues } from '../../core/usage.js'

/**
 * A Guoxin call center for demos and tests (seed 001): `/bridge/callctrl?opt=…` answered with the
 * documented status codes, `/bridge/jsoncfg?opt=EXTNUM_STATE`, push callbacks (GET on the
 * configured URL) on every state change, call logs and recordings of finished calls. A small state
 * machine per extension: dial → (ringMs) remote ringing → (ringMs) talking → (talkMs) idle.
 */

export interface GuoxinSimOptions {
  host: string
  port: number
  extensions: string[]
  /** push callback URL (null: no pushes) */
  push: string | null
  /** charset of query strings and JSON answers */
  encoding: GuoxinEncoding
  /** leave `charset=` out of content types (the client must then fall back to its configured charset) */
  omitCharset: boolean
  /** how long a phone rings before it is answered */
  ringMs: number
  /** how long an answered call lasts (0: until hung up) */
  talkMs: number
  /** random inbound calls per minute (0: only what a test starts) */
  callsPerMinute: number
  /** extensions random calls leave alone (the demo dials through them, so they stay free) */
  reserved?: string[]
  /** extensions with the “坐席监控” permission (monitor, barge, force hang-up) */
  supervisors: string[]
  /** CLICK_TO_*_CAPTCHA password (null: only pwd=no is accepted) */
  password: string | null
  /** IVR menus that exist (TALKING_CALLER_TO_IVR) */
  ivrs: number[]
}

export const GUOXIN_SIM_DEFAULTS: GuoxinSimOptions = {
  host: '127.0.0.1',
  port: 12121,
  extensions: ['8001', '8002', '8003', '8004', '8005', '8006', '8007', '8008'],
  push: null,
  encoding: 'utf-8',
  omitCharset: false,
  ringMs: 3000,
  talkMs: 15000,
  callsPerMinute: 0,
  supervisors: [],
  password: null,
  ivrs: [1, 2, 3],
}

/** `8001-8008`, `801,802`, or both mixed. */
export function parseExtensionList(v: string): string[] {
  const out: string[] = []
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d{1,9})-(\d{1,9})$/.exec(part)
    if (m) {
      const [a, b] = [Number(m[1]), Number(m[2])]
      if (b < a || b - a > 9999) throw new UsageError(`--extensions: bad range ${part}`)
      for (let i = a; i <= b; i++) out.push(String(i).padStart(m[1]!.length, '0'))
    } else if (/^[0-9A-Za-z*#+._-]{1,64}$/.test(part)) out.push(part)
    else throw new UsageError(`--extensions: expected numbers or ranges like 8001-8008, got ${part}`)
  }
  if (!out.length) throw new UsageError('--extensions: give at least one extension')
  return [...new Set(out)]
}

export function parseGuoxinSimOptions(v: CliValues): GuoxinSimOptions {
  const num = (name: string, min: number, max: number, integer = true) => numberArg(v[name], name, min, max, { integer })
  const enc = String(v.encoding ?? 'utf-8')
  if (enc !== 'utf-8' && enc !== 'gbk') throw new UsageError(`--encoding must be utf-8 or gbk, got ${enc}`)
  let push: string | null = null
  if (typeof v.push === 'string' && v.push !== '') {
    try {
      const u = new URL(v.push)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error()
    } catch {
      throw new UsageError(`--push must be an http:// URL such as http://127.0.0.1:7701/guoxin/gx/push, got ${v.push}`)
    }
    push = v.push
  }
  const extensions = parseExtensionList(String(v.extensions ?? '8001-8008'))
  return {
    ...GUOXIN_SIM_DEFAULTS,
    host: String(v.host ?? GUOXIN_SIM_DEFAULTS.host),
    port: num('port', 0, 65535),
    extensions,
    push,
    encoding: enc,
    ringMs: Math.round(num('ring-seconds', 0, 600, false) * 1000),
    talkMs: Math.round(num('talk-seconds', 0, 86400, false) * 1000),
    callsPerMinute: num('calls-per-minute', 0, 6000, false),
    supervisors: typeof v.supervisors === 'string' && v.supervisors !== '' ? parseExtensionList(v.supervisors) : [extensions[extensions.length - 1]!],
  }
}

type Presence = 'online' | 'reducing' | 'busy' | 'offline'

interface SimCall {
  id: string
  /** the extension in the call */
  ext: string
  /** the other party */
  remote: string
  direction: 'in' | 'out'
  phase: 'calling' | 'ringing' | 'talking'
  /** businessId of the extension's leg */
  businessId: string
  group: string
  beginTime: number
  talkAt: number | null
  third: { target: string; phase: 'trying' | 'ringing' | 'answered' | 'busy' } | null
  conferenceId: string | null
  members: string[]
  timers: NodeJS.Timeout[]
  /** CLICK_TO_DIAL's answer ('' for other calls) */
  clickcallid: string
}

interface SimExt {
  telNum: string
  userName: string
  registered: boolean
  presence: Presence
  missingCallCount: number
  group: string
  call: SimCall | null
}

interface SimTask {
  kind: 'captcha' | 'tts'
  code: number
  vars: Record<string, string>
  params: Record<string, string>
}

export interface SimRequest {
  method: string
  path: string
  opt: string | null
  /** decoded parameters (first value of each) */
  params: Record<string, string>
  /** the raw query string as received */
  rawQuery: string
  at: number
}

export interface SimPush {
  url: string
  params: Record<string, string>
  status: number | null
  error: string | null
}

interface SimLog {
  id: number
  caller: string
  callee: string
  channel: string
  beginTime: number
  duration: number
  /** STATE_RECEIVING: a test's entry of a call still talking (the simulator logs finished calls only) */
  state: 'STATE_FAILED' | 'STATE_RECEIVED' | 'STATE_RECEIVING'
  callType: string
  callid: string
  recordVoice: string
  clickcallid: string
}

const NAMES = ['李阳', '张霞', '王芳', '刘洋', '陈静', '杨帆', '赵磊', '黄丽', '周杰', '吴敏']
const PHONE_TYPE = 'NewRockTech-MX8-v1.9.82.333/UA'

export class GuoxinSimulator {
  readonly opts: GuoxinSimOptions
  readonly exts = new Map<string, SimExt>()
  readonly requests: SimRequest[] = []
  readonly pushes: SimPush[] = []
  readonly logs: SimLog[] = []
  readonly tasks = new Map<string, SimTask>()
  /** stop answering: requests are held open, never answered (tests of `down` / `unknown`) */
  silent = false
  private server: Server | null = null
  private readonly forced = new Map<string, number[]>()
  private seq = 0
  private logSeq = 0
  private pushChain: Promise<void> = Promise.resolve()
  private randomTimer: NodeJS.Timeout | null = null
  private rnd: () => number
  private readonly held = new Set<ServerResponse>()

  constructor(
    opts: Partial<GuoxinSimOptions> = {},
    private readonly log?: Logger,
    seed = 1,
  ) {
    this.opts = { ...GUOXIN_SIM_DEFAULTS, ...opts }
    if (!opts.supervisors) this.opts.supervisors = [this.opts.extensions[this.opts.extensions.length - 1]!]
    this.opts.extensions.forEach((telNum, i) => {
      this.exts.set(telNum, { telNum, userName: NAMES[i % NAMES.length]!, registered: true, presence: 'online', missingCallCount: 0, group: String(3000 + (i % 3) + 1), call: null })
    })
    let s = seed >>> 0 || 1
    this.rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
  }

  get port(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    this.server = server
    if (this.opts.callsPerMinute > 0) {
      this.randomTimer = setInterval(() => this.randomCall(), 60_000 / this.opts.callsPerMinute)
    }
    return this.port
  }

  async stop(): Promise<void> {
    if (this.randomTimer) clearInterval(this.randomTimer)
    for (const e of this.exts.values()) if (e.call) for (const t of e.call.timers) clearTimeout(t)
    for (const r of this.held) r.destroy()
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = null
    await this.pushChain
  }

  /** Answer the next call of `opt` (or servlet op) with `status` (tests of every documented code). */
  failNext(opt: GuoxinOpt, status: number): void {
    const q = this.forced.get(opt) ?? []
    q.push(status)
    this.forced.set(opt, q)
  }

  /** Requests received with this opt. */
  requestsFor(opt: string): SimRequest[] {
    return this.requests.filter((r) => r.opt === opt)
  }

  /** Wait until pushes sent so far have been delivered (or failed). */
  flushPushes(): Promise<void> {
    return this.pushChain
  }

  // ---- HTTP ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const qi = url.indexOf('?')
    const path = qi < 0 ? url : url.slice(0, qi)
    // the seed's own examples carry a doubled "callctrl?/bridge/callctrl?": read past it as the server does
    let rawQuery = qi < 0 ? '' : url.slice(qi + 1)
    const dup = rawQuery.lastIndexOf('?')
    if (dup >= 0) rawQuery = rawQuery.slice(dup + 1)
    const all = decodeQuery(rawQuery, this.opts.encoding)
    const params: Record<string, string> = {}
    for (const [k, v] of all) params[k] = v[0]!
    const opt = params.opt ?? null
    this.requests.push({ method: req.method ?? 'GET', path, opt, params, rawQuery, at: Date.now() })
    if (this.silent) {
      this.held.add(res)
      res.on('close', () => this.held.delete(res))
      return
    }
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.status(res, 405)
      if (path === '/bridge/jsoncfg') return opt === 'EXTNUM_STATE' ? this.json(res, this.extStates()) : this.status(res, 400)
      if (path === '/Oms/FileDownServlet') return this.download(res, params)
      const servlet = /^\/bridge\/(ContactsSrvlt|PreorderSrvlt|ToneFileSvlt)$/.exec(path)?.[1]
      const servletForced = servlet && this.forced.get(servlet === 'ToneFileSvlt' ? `ToneFileSvlt.${params.opt}` : servlet)?.shift()
      if (typeof servletForced === 'number') return this.status(res, servletForced)
      if (path === '/bridge/ContactsSrvlt' || path === '/bridge/PreorderSrvlt') return this.importData(res, path === '/bridge/ContactsSrvlt' ? 'contacts' : 'preorder', params.data)
      if (path === '/bridge/ToneFileSvlt') return this.toneFile(res, params)
      if (path !== '/bridge/callctrl') return this.status(res, 404)
      if (!opt || !(OPTS as readonly string[]).includes(opt)) return this.status(res, 400)
      const forced = this.forced.get(opt)?.shift()
      if (forced !== undefined) return forced < 200 ? this.statusLine(res, forced) : this.status(res, forced)
      this.callctrl(opt as GuoxinOpt, params, res)
    } catch (err) {
      this.log?.error({ err }, 'guoxin simulator: request failed')
      if (!res.headersSent) this.status(res, 500)
    }
  }

  private contentType(type: string): string {
    return this.opts.omitCharset ? type : `${type};charset=${this.opts.encoding === 'gbk' ? 'GBK' : 'UTF-8'}`
  }

  private status(res: ServerResponse, code: number, body = ''): void {
    const buf = iconv.encode(body, this.opts.encoding)
    res.writeHead(code, { 'content-type': this.contentType('text/plain'), 'content-length': buf.length })
    res.end(buf)
  }

  /** A status line fetch would take for an interim answer (100, 180): written on the socket as the whole answer. */
  private statusLine(res: ServerResponse, code: number): void {
    const reason = code === 180 ? 'Ringing' : code === 100 ? 'Trying' : 'Status'
    res.socket?.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
  }

  private json(res: ServerResponse, value: unknown, code = 200): void {
    const buf = iconv.encode(JSON.stringify(value), this.opts.encoding)
    res.writeHead(code, { 'content-type': this.contentType('application/json'), 'content-length': buf.length })
    res.end(buf)
  }

  extStates(): Record<string, unknown>[] {
    return [...this.exts.values()].map((e) => {
      const o: Record<string, unknown> = {
        telNum: e.telNum,
        userName: e.userName,
        telRegState: e.registered ? 1 : 0,
        phoneType: PHONE_TYPE,
      }
      // as the real server is likely to: a phone that only rings is still IDEL (no remoteNum)
      const inCall = e.call !== null && e.call.phase === 'talking'
      if (inCall) o.remoteNum = e.call!.remote
      o.state = !e.registered ? 'OFFLINE' : inCall ? (e.call!.direction === 'in' ? 'BUSY_INCOMING' : 'BUSY_OUTGOING') : 'IDEL'
      o.presence = e.presence
      o.missingCallCount = e.missingCallCount
      return o
    })
  }

  private download(res: ServerResponse, p: Record<string, string>): void {
    const log = p.callid !== undefined ? this.logs.find((l) => l.callid === p.callid && l.recordVoice) : p.filename !== undefined ? this.logs.find((l) => l.recordVoice === p.filename) : undefined
    if (!log) return this.status(res, 404)
    const wav = ulawWav(Math.min(4000 + log.duration * 800, 64000))
    res.writeHead(200, {
      'content-type': 'audio/x-wav',
      'content-length': wav.length,
      'content-disposition': `attachment; filename="${log.recordVoice.split('/').pop()}"`,
    })
    res.end(wav)
  }

  /** §24 the voice files, as the seed's example lists them */
  readonly toneFiles = [
    { id: 1, titel: '个人来电转语音邮箱导航', path: 'personalVoiceMail.wav', des: '您好, 我现在无法接听你的来电, 请留言。' },
    { id: 2, titel: '非工作时间提醒', path: 'offwork.wav', des: '非工作时间提醒' },
    { id: 12, titel: '静音', path: 'mute.wav', des: '静音 0.3 秒' },
  ]
  /** §19/§20 phone numbers imported so far (a repeat is 483) */
  readonly imported = { contacts: new Set<string>(), preorder: new Set<string>() }

  /** §19 ContactsSrvlt / §20 PreorderSrvlt: 200, 483 a number already imported, 400 bad data. */
  private importData(res: ServerResponse, key: 'contacts' | 'preorder', data: string | undefined): void {
    let list: unknown
    try {
      list = (JSON.parse(data ?? '') as Record<string, unknown>)[key]
    } catch {
      return this.status(res, 400)
    }
    if (!Array.isArray(list) || !list.length) return this.status(res, 400)
    const numbers: string[] = []
    for (const e of list as Record<string, unknown>[]) {
      if (typeof e !== 'object' || e === null || typeof e.cname !== 'string') return this.status(res, 400)
      if (key === 'preorder') numbers.push(String(e.telnum))
      else if (Array.isArray(e.details)) for (const d of e.details as Record<string, unknown>[]) if (d && (d.tid === 1 || d.tid === 2)) numbers.push(String(d.cvalue))
    }
    const seen = this.imported[key]
    if (numbers.some((n) => seen.has(n))) return this.status(res, 483)
    numbers.forEach((n) => seen.add(n))
    this.status(res, 200)
  }

  /** §24 ToneFileSvlt: opt=query (JSON list), opt=delete&id= (200, 400, 404). */
  private toneFile(res: ServerResponse, p: Record<string, string>): void {
    if (p.opt === 'query') return this.json(res, this.toneFiles)
    if (p.opt !== 'delete' || !/^\d+$/.test(p.id ?? '')) return this.status(res, 400)
    const i = this.toneFiles.findIndex((f) => f.id === Number(p.id))
    if (i < 0) return this.status(res, 404)
    this.toneFiles.splice(i, 1)
    this.status(res, 200)
  }

  // ---- operations ----

  private callctrl(opt: GuoxinOpt, p: Record<string, string>, res: ServerResponse): void {
    const ok = () => this.status(res, 200)
    const S = (code: number) => this.status(res, code)
    const ext = (n: string | undefined) => (n === undefined ? undefined : this.exts.get(n))
    switch (opt) {
      case 'CLICK_TO_DIAL':
      case 'CLICK_TO_IP_DIAL': {
        if (!p.caller || !p.callee) return S(400)
        const e = ext(p.caller)
        if (!e) return S(404)
        if (!e.registered) return S(480)
        if (e.call) return S(486)
        // the answer is the call's clickcallid (seed §21: "点击呼叫接口会立刻返回 clickcallid 值")
        return this.status(res, 200, this.dial(e, p.callee).clickcallid)
      }
      case 'CLICK_TO_HUNGUP': {
        if (!p.caller) return S(400)
        const e = ext(p.caller)
        if (!e) return S(404)
        if (!e.call || (p.callee && p.callee !== e.call.remote)) return S(481)
        this.endCall(e.call, 'hungup')
        return ok()
      }
      case 'CLICK_TO_IP_CAPTCHA':
      case 'CLICK_TO_FIXEDLINE_CAPTCHA': {
        if (!p.id || !p.callee || !p.toneid || !p.pwd) return S(420)
        if (!this.passwordOk(p)) return S(401)
        if (this.tasks.has(p.id)) return S(486)
        this.task(p.id, 'captcha', p)
        return ok()
      }
      case 'GET_CAPTCHA_RESULT': {
        const t = p.id === undefined ? undefined : this.tasks.get(p.id)
        return this.status(res, 200, t && t.kind === 'captcha' ? String(t.code) : '404')
      }
      case 'CLICK_TO_TRANSFER': {
        if (!p.extnum || !p.target) return S(400)
        const from = ext(p.extnum)
        const to = ext(p.target)
        if (!to) return S(404)
        if (!to.registered) return S(480)
        if (!from?.call || from.call.phase !== 'talking') return S(481)
        if (to.call || to.presence === 'busy') return S(486)
        this.moveCall(from.call, to)
        return ok()
      }
      case 'TALKING_CALLER_TO_IVR': {
        const calls = this.calls().filter((c) => c.remote === p.caller && c.ext === p.callee)
        if (!calls.length || !this.opts.ivrs.includes(Number(p.ivrid))) return S(404)
        if (calls.length > 1) return S(483)
        this.endCall(calls[0]!, 'hungup', false)
        return ok()
      }
      case 'SET_EXT_PRESENCE_STATE': {
        if (!p.extnum || !['online', 'reducing', 'busy'].includes(p.state ?? '')) return S(400)
        const e = ext(p.extnum)
        if (!e) return S(404)
        e.presence = p.state as Presence
        return ok()
      }
      case 'CONFERENCE_CREATE': {
        const c = this.calls().find((c) => c.phase === 'talking' && ((c.remote === p.caller && c.ext === p.callee) || (c.ext === p.caller && c.remote === p.callee)))
        if (!c || !p.target) return S(404)
        if (c.conferenceId) return S(483)
        const t = ext(p.target)
        if (t?.call) return S(486)
        c.conferenceId = p.caller!
        c.members.push(p.target)
        return ok()
      }
      case 'CONFERENCE_JOIN': {
        const c = this.calls().find((c) => c.conferenceId === p.conferenceid)
        if (!c || !p.target) return S(404)
        if (ext(p.target)?.call) return S(486)
        c.members.push(p.target)
        return ok()
      }
      case 'CALL_THIRD': {
        if (!p.callee || !p.target) return S(400)
        const c = ext(p.callee)?.call
        if (!c || c.phase !== 'talking') return S(404)
        const t = ext(p.target)
        c.third = { target: p.target, phase: 'trying' }
        const third = c.third
        c.timers.push(setTimeout(() => (third.phase = t?.call ? 'busy' : 'ringing'), Math.min(50, this.opts.ringMs)))
        c.timers.push(setTimeout(() => third.phase === 'ringing' && (third.phase = 'answered'), this.opts.ringMs))
        return ok()
      }
      case 'CALL_THIRD_RESUME':
      case 'CALL_THIRD_CONFERENCE':
      case 'CALL_THIRD_TRANSFER': {
        if (!p.callee) return S(400)
        const e = ext(p.callee)
        const c = e?.call
        if (!c || !c.third) return S(404)
        const third = c.third
        c.third = null
        if (opt === 'CALL_THIRD_CONFERENCE') {
          c.conferenceId = c.direction === 'in' ? c.remote : c.ext
          c.members.push(third.target)
        } else if (opt === 'CALL_THIRD_TRANSFER') {
          const to = ext(third.target)
          if (to && !to.call) this.moveCall(c, to, true)
          else this.endCall(c, 'hungup', false)
        }
        return ok()
      }
      case 'CALL_THIRD_GET_THIRD_STATE': {
        if (!p.callee) return S(400)
        const t = ext(p.callee)?.call?.third
        if (!t) return S(404)
        const code = { trying: 100, ringing: 180, answered: 200, busy: 603 }[t.phase]
        return code < 200 ? this.statusLine(res, code) : S(code)
      }
      case 'CALL_MONITOR':
      case 'FORCE_PICKUP':
      case 'FORCE_HUNGUP': {
        if (!p.leaderExtnum || !p.wokerExtnum) return S(400)
        if (!this.opts.supervisors.includes(p.leaderExtnum)) return S(403)
        const c = ext(p.wokerExtnum)?.call
        if (!c || c.phase !== 'talking') return S(404)
        if (opt === 'FORCE_HUNGUP') this.endCall(c, 'hungup')
        else if (opt === 'FORCE_PICKUP') {
          const leader = ext(p.leaderExtnum)
          if (!leader || leader.call) return S(503)
          this.moveCall(c, leader, true)
        }
        return ok()
      }
      case 'IVR_TTS_CALL': {
        if (!p.token || !p.callee || !p.toneid) return S(400)
        if (this.tasks.has(p.token)) return S(483)
        this.task(p.token, 'tts', p)
        return ok()
      }
      case 'IVR_TTS_CALL_RESULT': {
        const t = p.token === undefined ? undefined : this.tasks.get(p.token)
        if (!t || t.kind !== 'tts') return S(404)
        return this.status(res, 200, [`state=${t.code}`, ...Object.entries(t.vars).map(([k, v]) => `${k}=${v}`)].join(';'))
      }
      case 'IVR_TTS_CALL_MONITOR': {
        const playing = [...this.tasks.values()].filter((t) => t.kind === 'tts' && t.code === 4).length
        return this.status(res, 200, `queue=0;playcount=${playing}`)
      }
      case 'CALL_LOG_QUERY': {
        const first = Number(p.first ?? 0)
        const max = Number(p.maxResults ?? 1000)
        const dir = Number(p.dirction ?? 0)
        const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
        const logs = this.logs
          .filter((l) => (!p.telnum || l.caller === p.telnum || l.callee === p.telnum) && (!p.beginDate || day(l.beginTime) >= p.beginDate) && (!p.endDate || day(l.beginTime) <= p.endDate))
          .filter((l) => dir === 0 || (dir === 1) === this.exts.has(l.callee))
          .slice(first, first + max)
        return this.json(
          res,
          logs.map((l) => this.logJson(l)),
        )
      }
      case 'CALL_LOG_GET_WITH_CALLID': {
        const l = this.logs.find((l) => l.callid === p.callid)
        return l ? this.json(res, this.logJson(l)) : S(404)
      }
      case 'EXTNUM_STATE':
        return this.json(res, this.extStates())
    }
  }

  private passwordOk(p: Record<string, string>): boolean {
    if (this.opts.password === null) return p.pwd === 'no'
    const date = new Date().toISOString().slice(0, 10)
    const want = createHash('md5')
      .update(this.opts.password + p.callee + (p.code ?? '') + date)
      .digest('hex')
    return p.pwd === want
  }

  private task(key: string, kind: SimTask['kind'], params: Record<string, string>): void {
    const t: SimTask = { kind, code: 0, vars: {}, params }
    this.tasks.set(key, t)
    setTimeout(() => (t.code = 4), 10).unref()
    setTimeout(
      () => {
        t.code = 1
        if (kind === 'tts') t.vars = { satisfact: '8' }
      },
      this.opts.ringMs * 2 + 20,
    ).unref()
  }

  private logJson(l: SimLog): Record<string, unknown> {
    const d = new Date(l.beginTime)
    return {
      id: l.id,
      caller: l.caller,
      callee: l.callee,
      beginTime: l.beginTime,
      duration: l.duration,
      state: l.state,
      callType: l.callType,
      estimate: '',
      channel: '127.0.0.1',
      // as the vendor's example: the id still percent-encoded
      callid: l.callid.replace('@', '%40'),
      record: '',
      recordVoice: l.recordVoice,
      cname: '',
      servicetype: '',
      manustate: '',
      clickcallid: l.clickcallid,
      fxonum: '',
      productid: 0,
      _callTime: d.toUTCString(),
      _judge: 0,
    }
  }

  private calls(): SimCall[] {
    const out: SimCall[] = []
    for (const e of this.exts.values()) if (e.call) out.push(e.call)
    return out
  }

  private newId(): string {
    this.seq++
    return `${Date.now()}${String(this.seq).padStart(6, '0')}-0@127.0.0.1`
  }

  private newCall(e: SimExt, remote: string, direction: 'in' | 'out'): SimCall {
    const id = `${(this.seq + 1).toString(16).padStart(8, '0')}-4c50-4340-adcf-${Date.now().toString(16).padStart(12, '0')}@127.0.0.1`
    const c: SimCall = {
      id,
      ext: e.telNum,
      remote,
      direction,
      phase: 'calling',
      businessId: this.newId(),
      group: e.group,
      beginTime: Date.now(),
      talkAt: null,
      third: null,
      conferenceId: null,
      members: [],
      timers: [],
      clickcallid: '',
    }
    e.call = c
    return c
  }

  /** The extension's leg of a call, as a push. */
  private pushLeg(c: SimCall, state: PushState, mainCall = false): void {
    const out = c.direction === 'out'
    this.sendPush({
      id: c.id,
      caller: out ? c.ext : c.remote,
      callee: out ? c.remote : c.ext,
      state,
      direction: out ? 'outgoing' : 'incoming',
      businessId: mainCall ? 'maincall' : c.businessId,
      group: c.group,
    })
  }

  /** CLICK_TO_DIAL: the agent's phone first, then the customer. */
  dial(e: SimExt, callee: string): SimCall {
    const c = this.newCall(e, callee, 'out')
    c.clickcallid = `cc${Date.now().toString(36)}${String(this.seq).padStart(4, '0')}`
    // the server rings the agent's own phone first: a maincall leg that names the extension as its callee
    this.sendPush({ id: c.id, caller: callee, callee: e.telNum, state: 'calling', direction: 'outgoing', businessId: 'maincall', group: c.group })
    this.pushLeg(c, 'calling')
    c.timers.push(
      setTimeout(() => {
        c.phase = 'ringing'
        this.pushLeg(c, 'ringing')
        c.timers.push(setTimeout(() => this.answer(c), this.opts.ringMs))
      }, this.opts.ringMs),
    )
    return c
  }

  /**
   * A customer calls an extension: the maincall leg, then the extension's leg rings and is answered
   * after ringMs. `answer: false`: nobody answers, the caller hangs up after ringMs (canceled, a
   * STATE_FAILED log entry). An extension in a call, unregistered or set busy never rings: the
   * maincall leg is canceled at once and the log has a STATE_FAILED entry.
   */
  incoming(extNum: string, caller: string, o: { answer?: boolean } = {}): SimCall | null {
    const e = this.exts.get(extNum)
    if (!e) throw new Error(`no extension ${extNum}`)
    if (e.call || !e.registered || e.presence === 'busy') {
      e.missingCallCount++
      const id = this.newId()
      this.sendPush({ id, caller, callee: extNum, state: 'calling', direction: 'incoming', businessId: 'maincall', group: e.group })
      this.sendPush({ id, caller, callee: extNum, state: 'canceled', direction: 'incoming', businessId: 'maincall', group: e.group })
      this.logs.push({
        id: ++this.logSeq,
        caller,
        callee: extNum,
        channel: '127.0.0.1',
        beginTime: Date.now(),
        duration: 0,
        state: 'STATE_FAILED',
        callType: 'LOCAL_CALL',
        callid: id,
        clickcallid: '',
        recordVoice: '',
      })
      return null
    }
    const c = this.newCall(e, caller, 'in')
    this.pushLeg(c, 'calling', true)
    c.phase = 'ringing'
    this.pushLeg(c, 'ringing')
    c.timers.push(setTimeout(() => (o.answer === false ? this.endCall(c, 'canceled') : this.answer(c)), this.opts.ringMs))
    return c
  }

  private answer(c: SimCall): void {
    if (this.exts.get(c.ext)?.call !== c) return
    c.phase = 'talking'
    c.talkAt = Date.now()
    this.pushLeg(c, 'talking')
    if (this.opts.talkMs > 0) c.timers.push(setTimeout(() => this.endCall(c, 'hungup'), this.opts.talkMs))
  }

  /** End a call: the extension's leg (and for inbound, the maincall leg) hang up; a log entry is kept. */
  endCall(c: SimCall, state: 'hungup' | 'canceled', log = true): void {
    const e = this.exts.get(c.ext)
    if (!e || e.call !== c) return
    for (const t of c.timers) clearTimeout(t)
    e.call = null
    const st = c.phase === 'talking' ? state : 'canceled'
    this.pushLeg(c, st)
    if (c.direction === 'in') this.pushLeg(c, st, true)
    if (!log) return
    const talked = c.talkAt !== null
    const duration = talked ? Math.round((Date.now() - c.talkAt!) / 1000) : 0
    const stamp = new Date(c.beginTime).toISOString().replace(/\D/g, '').slice(0, 14)
    this.logs.push({
      id: ++this.logSeq,
      caller: c.direction === 'in' ? c.remote : c.ext,
      callee: c.direction === 'in' ? c.ext : c.remote,
      channel: '127.0.0.1',
      beginTime: c.beginTime,
      duration,
      state: talked ? 'STATE_RECEIVED' : 'STATE_FAILED',
      callType: this.exts.has(c.remote) ? 'CENTREX_CALL' : 'LOCAL_CALL',
      callid: c.id,
      clickcallid: c.clickcallid,
      recordVoice: talked ? `D:/records/${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}/${c.ext}_${c.remote}_${stamp}.wav` : '',
    })
  }

  /** Transfer or barge: the call leaves one extension and rings (or, `answered`, talks) at another. */
  private moveCall(c: SimCall, to: SimExt, answered = false): void {
    const from = this.exts.get(c.ext)!
    for (const t of c.timers) clearTimeout(t)
    c.timers = []
    this.pushLeg(c, 'hungup')
    from.call = null
    c.ext = to.telNum
    c.group = to.group
    c.businessId = this.newId()
    c.third = null
    c.conferenceId = null
    c.members = []
    to.call = c
    if (answered) {
      c.phase = 'talking'
      this.pushLeg(c, 'talking')
      if (this.opts.talkMs > 0) c.timers.push(setTimeout(() => this.endCall(c, 'hungup'), this.opts.talkMs))
    } else {
      c.phase = 'ringing'
      this.pushLeg(c, 'ringing')
      c.timers.push(setTimeout(() => this.answer(c), this.opts.ringMs))
    }
  }

  private randomCall(): void {
    const free = [...this.exts.values()].filter((e) => !e.call && e.registered && !this.opts.reserved?.includes(e.telNum))
    if (!free.length) return
    const e = free[Math.floor(this.rnd() * free.length)]!
    const phone = `1${['33', '35', '38', '39', '52', '58', '86', '89'][Math.floor(this.rnd() * 8)]}${String(Math.floor(this.rnd() * 1e8)).padStart(8, '0')}`
    // a working day's mix: dials, answered calls, some missed, and now and then a caller who finds the line busy
    const x = this.rnd()
    const busy = [...this.exts.values()].filter((b) => b.call && !this.opts.reserved?.includes(b.telNum))
    if (x < 0.3) this.dial(e, phone)
    else if (x < 0.4 && busy.length) this.incoming(busy[Math.floor(this.rnd() * busy.length)]!.telNum, phone)
    else this.incoming(e.telNum, phone, { answer: x >= 0.55 })
  }

  /** Send one push (in order: each waits for the previous one). */
  sendPush(params: Record<string, string>): void {
    const target = this.opts.push
    if (!target) return
    const url = target + (target.includes('?') ? '&' : '?') + encodeQuery(Object.entries(params), this.opts.encoding)
    const rec: SimPush = { url, params, status: null, error: null }
    this.pushes.push(rec)
    this.pushChain = this.pushChain.then(async () => {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) })
        await r.arrayBuffer()
        rec.status = r.status
        if (r.status !== 200) this.log?.warn({ url, status: r.status }, 'guoxin simulator: push not accepted')
      } catch (err) {
        rec.error = (err as Error).message
        this.log?.warn({ url, err: rec.error }, 'guoxin simulator: push failed')
      }
    })
  }
}

/** A short μ-law 8 kHz mono WAV (the format the seed names for its voice files): μ-law silence. */
function ulawWav(samples: number): Buffer {
  return encodeWav(Buffer.alloc(samples, 0xff), ULAW_WAV)
}
