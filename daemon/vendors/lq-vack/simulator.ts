import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import {
  callbackUrl,
  CONTROL_VO_IDS,
  decodeForm,
  encodeChStatus,
  encodeCustCall,
  encodeCustCallback,
  encodeIvrCallback,
  encodeLoc,
  encodeOperStatus,
  encodePlaySelected,
  encodeQueueStatus,
  encodeVackResult,
  encodeVackXml,
  type FormCharset,
} from '../../../protocols/lq-vack/index.js'
import { formatLqTime, isValidTimeZone } from '../../../protocols/lq-pop/index.js'
import { makeWav } from '../../../protocols/wav/index.js'
import type { Logger } from '../../core/log.js'
import { UsageError, numberArg, type CliValues } from '../../core/usage.js'

/**
 * A 小灵呼 `/v/vack` server for demos, tests and the bench (seed 000 formats): form POST or GET,
 * gb2312 XML answers with `encoding="gb2312"`, `_NA_` for empty values, the `error` attribute for a
 * bad `_secs_`, an unknown vo_id or a refused action. Channels are external lines (外线) followed by
 * one agent channel (内线) per agent; a small state machine lets a dial be watched:
 * dialing (拨号) → talking (通话) → idle (空闲), and inbound calls ring (振铃) → talking → idle.
 * Optional mode 1 callbacks: each inbound call that reaches an agent GETs `custUrl`, each push2flow
 * GETs `ivrUrl` (GBK-percent-encoded, as the vendor's server does).
 *
 * The simulator's own choices (the vendor does not document them): error texts (安全校验失败,
 * 未知服务号 …), the order of channels, the call timings, and that callauto rings nobody first.
 */

export interface LqVackSimOptions {
  host: string
  port: number
  /** external lines (外线); agent channels come after them */
  channels: number
  agents: string[]
  /** `_secs_` the server wants ('' = no check) */
  secret: string
  /** random inbound calls per second (0 = only what a test starts) */
  rate: number
  /** share (0–1) of the random inbound calls whose caller hangs up before an agent answers: missed calls, logged vt 0 */
  missRatio?: number
  /** agents inbound calls are never routed to (the demo dials through them, so they stay free) */
  reserved?: string[]
  /** ms a dialled number takes to answer, an inbound call to reach an agent, an agent to pick up */
  answerMs: number
  /** ms a call lasts before it hangs up by itself (0 = until hung up) */
  talkMs: number
  timeZone: string
  /** custURL (mode 1): called for each inbound call that reaches an agent; should end with ? or & */
  custUrl?: string
  /** popCRURL: called after each push2flow with the E-IVR result */
  ivrUrl?: string
  /** how callback query values are encoded */
  callbackCharset: FormCharset
  /** control services answer 执行成功 without touching the state machine (the bench's round trips) */
  stateless?: boolean
}

export const LQ_VACK_SIM_DEFAULTS: LqVackSimOptions = {
  host: '127.0.0.1',
  port: 7627,
  channels: 8,
  agents: ['801', '802'],
  secret: 'lcall',
  rate: 0,
  answerMs: 2000,
  talkMs: 8000,
  timeZone: 'Asia/Shanghai',
  callbackCharset: 'gbk',
}

/** CLI values → options, with a specific message for each bad value. */
export function parseVackSimOptions(v: CliValues): LqVackSimOptions {
  const num = (name: string, min: number, max: number, integer = true) => numberArg(v[name], name, min, max, { integer })
  const tz = typeof v['time-zone'] === 'string' ? v['time-zone'] : LQ_VACK_SIM_DEFAULTS.timeZone
  if (!isValidTimeZone(tz)) throw new UsageError(`--time-zone must be an IANA zone such as Asia/Shanghai, got ${tz}`)
  const agents = String(v.agents ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
  if (agents.length === 0) throw new UsageError('--agents needs at least one agent id, e.g. 801,802')
  const bad = agents.find((a) => !/^[^\s&=]{1,32}$/.test(a))
  if (bad !== undefined) throw new UsageError(`--agents: ${JSON.stringify(bad)} is no agent id (1–32 characters, no spaces, & or =)`)
  if (new Set(agents).size !== agents.length) throw new UsageError('--agents lists an agent twice')
  const url = (name: string): string | undefined => {
    const s = v[name]
    if (typeof s !== 'string' || s === '') return undefined
    if (!/^https?:\/\/\S+$/.test(s)) throw new UsageError(`--${name} must be an http URL, got ${s}`)
    return s
  }
  return {
    host: String(v.host ?? LQ_VACK_SIM_DEFAULTS.host),
    port: num('port', 0, 65535),
    channels: num('channels', 1, 10000),
    agents,
    secret: String(v.secret ?? ''),
    rate: num('rate', 0, 1000, false),
    missRatio: v['miss-ratio'] === undefined ? 0 : num('miss-ratio', 0, 1, false),
    answerMs: num('answer-ms', 0, 600_000),
    talkMs: num('talk-ms', 0, 3_600_000),
    timeZone: tz,
    custUrl: url('cust-url'),
    ivrUrl: url('ivr-url'),
    callbackCharset: 'gbk',
  }
}

/** One channel as getChStatus shows it. Codes use the LV/LO numbering (seed 000 statusC). */
export interface SimChannel {
  ch: number
  kind: 'external' | 'agent'
  status: number
  inUse: number
  step: string
  peerCh: number
  phone: string | null
  oper: string | null
  startTime: string | null
  endTime: string | null
  loginTime: string | null
  idleTime: string | null
  listened: boolean
  recording: boolean
  busy: boolean
}

export interface SimAgent {
  oper: string
  ch: number
  loggedIn: boolean
  busy: boolean
}

interface SimCall {
  id: number
  phone: string
  direction: 'inbound' | 'outbound' | 'internal'
  line: SimChannel | null
  agents: SimChannel[]
  timers: NodeJS.Timeout[]
  startedAt: number
  sn: number
  /** the call's LQ id: 来电时间 (ms) + the channel it came in on (the pop's and the call log's `id`) */
  lqId: string
  answered: boolean
}

export interface SimRequest {
  voId: string
  method: string
  fields: Record<string, string>
  /** the form body and query as sent (latin1), to check the wire encoding */
  raw: string
  at: number
}

// the vendor document spells the USB-box dial both callusb and Callusb
const CONTROL = new Set<string>([...CONTROL_VO_IDS, 'Callusb'])

const LOC: [string, string, string, string][] = [
  ['1385149', '210000', '南京市', '江苏省'],
  ['025', '210000', '南京市', '江苏省'],
  ['0512', '215000', '苏州市', '江苏省'],
  ['021', '200000', '上海市', '上海市'],
  ['1391', '100000', '北京市', '北京市'],
]

/** A refusal the simulator answers with the `error` attribute. */
class Refuse extends Error {
  constructor(
    readonly error: string,
    readonly text = error,
  ) {
    super(error)
  }
}

export class LqVackSimulator {
  readonly opts: LqVackSimOptions
  readonly channels: SimChannel[] = []
  readonly agents = new Map<string, SimAgent>()
  /** every request, in order (tests check the fields) */
  readonly requests: SimRequest[] = []
  /** finished calls, newest last (getCustCall) */
  readonly log: { id: string; sn: number; ch: number; dir: number; vt: number; phone: string; oper: string | null; date: string; tms: string; tme: string; memo: string | null }[] = []
  /** the requests a silent simulator left unanswered (tests count retries) */
  readonly unanswered: SimRequest[] = []
  /** hang every request without an answer (tests of a vendor that stopped answering) */
  silent = false
  private server: Server | null = null
  private readonly hung = new Set<ServerResponse>()
  private readonly calls = new Set<SimCall>()
  private seq = 0
  private sn = 1000
  private rateTimer: NodeJS.Timeout | null = null
  private rnd: () => number
  private readonly queue: { call: SimCall; since: number }[] = []
  callbacksSent = 0
  callbackErrors = 0

  constructor(
    opts: Partial<LqVackSimOptions> = {},
    private readonly logger?: Logger,
    seed = 1,
  ) {
    this.opts = { ...LQ_VACK_SIM_DEFAULTS, ...opts }
    let s = seed >>> 0 || 1
    this.rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
    const now = this.clock()
    for (let i = 0; i < this.opts.channels; i++) this.channels.push(blank(i, 'external'))
    for (const oper of this.opts.agents) {
      const ch = this.channels.length
      const c = blank(ch, 'agent')
      c.oper = oper
      c.loginTime = now
      c.idleTime = now
      this.channels.push(c)
      this.agents.set(oper, { oper, ch, loggedIn: true, busy: false })
    }
  }

  get port(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  get url(): string {
    return `http://${this.opts.host}:${this.port}/v/vack`
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger?.error({ err }, 'simulator: request failed')
        if (!res.headersSent) res.writeHead(500).end()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    this.server = server
    if (this.opts.rate > 0) {
      const tickMs = Math.max(50, 1000 / this.opts.rate)
      this.rateTimer = setInterval(() => {
        if (!this.silent && this.rnd() < (this.opts.rate * tickMs) / 1000) this.inbound(undefined, this.rnd() < (this.opts.missRatio ?? 0) ? { giveUpMs: this.opts.answerMs } : {})
      }, tickMs)
    }
    return this.port
  }

  async stop(): Promise<void> {
    if (this.rateTimer) clearInterval(this.rateTimer)
    for (const c of this.calls) for (const t of c.timers) clearTimeout(t)
    this.calls.clear()
    for (const r of this.hung) r.destroy()
    this.hung.clear()
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = null
  }

  /** Requests for one vo_id (tests). */
  requestsFor(voId: string): SimRequest[] {
    return this.requests.filter((r) => r.voId === voId)
  }

  agentChannel(oper: string): SimChannel | undefined {
    const a = this.agents.get(oper)
    return a ? this.channels[a.ch] : undefined
  }

  // ---- HTTP ------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const qi = url.indexOf('?')
    const path = qi < 0 ? url : url.slice(0, qi)
    if (path.startsWith('/v/audio/')) {
      this.audio(path.slice('/v/audio/'.length), req, res)
      return
    }
    if (path !== '/v/vack') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    const chunks: Buffer[] = []
    let n = 0
    for await (const c of req as AsyncIterable<Buffer>) {
      n += c.length
      if (n > 1 << 20) {
        res.writeHead(413).end()
        return
      }
      chunks.push(c)
    }
    const ct = req.headers['content-type'] ?? ''
    const charset: FormCharset = /charset\s*=\s*"?utf-?8/i.test(ct) ? 'utf-8' : 'gbk'
    // the servlet API merges query and form fields; the query's come first
    const fields = { ...decodeForm(Buffer.concat(chunks).toString('latin1'), charset), ...decodeForm(qi < 0 ? '' : url.slice(qi + 1), charset) }
    const voId = fields['vo_id'] ?? ''
    const raw = Buffer.concat(chunks).toString('latin1') + (qi < 0 ? '' : `?${url.slice(qi + 1)}`)
    const list = this.silent ? this.unanswered : this.requests
    list.push({ voId, method: req.method ?? 'GET', fields, raw: raw.slice(0, 4096), at: Date.now() })
    if (list.length > 10000) list.splice(0, 5000)
    if (this.silent) {
      // keep the connection open and answer nothing, as a hung server does
      this.hung.add(res)
      res.on('close', () => this.hung.delete(res))
      return
    }
    const generated = Date.now()
    let body: Buffer
    try {
      if (this.opts.secret && fields['_secs_'] !== this.opts.secret) throw new Refuse('安全校验失败', '_secs_ 不正确')
      body = this.serve(voId, fields, generated)
    } catch (err) {
      if (!(err instanceof Refuse)) throw err
      body = encodeVackResult(generated, { error: err.error, text: err.text })
    }
    res.writeHead(200, { 'content-type': 'text/xml;charset=gb2312', 'content-length': body.length }).end(body)
  }

  /**
   * The recordings playSelected links to: `<sn>_<ch>.wav` (download, type=2) is a short WAV with
   * Range answered; `<sn>_<ch>.asx` (play, type=1) a Windows Media playlist pointing at the WAV.
   */
  private audio(name: string, req: IncomingMessage, res: ServerResponse): void {
    const m = /^(\d{1,20})_(\d{1,6})\.(wav|asx)$/.exec(name)
    if (!m || !this.log.some((r) => String(r.sn) === m[1] && String(r.ch) === m[2] && r.vt !== 0)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such recording\n')
      return
    }
    if (m[3] === 'asx') {
      const asx = `<asx version="3.0"><entry><ref href="http://${this.opts.host}:${this.port}/v/audio/${m[1]}_${m[2]}.wav"/></entry></asx>\n`
      res.writeHead(200, { 'content-type': 'video/x-ms-asf' }).end(asx)
      return
    }
    const wav = (this.wav ??= makeWav(0.25))
    const r = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''))
    if (r && (r[1] || r[2])) {
      const start = r[1] ? Number(r[1]) : Math.max(0, wav.length - Number(r[2]))
      const end = r[1] && r[2] ? Math.min(Number(r[2]), wav.length - 1) : wav.length - 1
      if (start >= wav.length || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${wav.length}` }).end()
        return
      }
      res.writeHead(206, { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'content-range': `bytes ${start}-${end}/${wav.length}`, 'content-length': end - start + 1 })
      res.end(req.method === 'HEAD' ? undefined : wav.subarray(start, end + 1))
      return
    }
    res.writeHead(200, { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'content-length': wav.length })
    res.end(req.method === 'HEAD' ? undefined : wav)
  }

  private wav: Buffer | null = null

  private ok(generated: number): Buffer {
    return encodeVackResult(generated, { msg: '执行成功', text: '执行成功' })
  }

  private serve(voId: string, f: Record<string, string>, generated: number): Buffer {
    switch (voId) {
      case 'getChStatus': {
        const t = f['type'] ?? '-1'
        const chs = t === '0' ? this.channels.filter((c) => c.kind === 'external') : t === '2' ? this.channels.filter((c) => c.kind === 'agent') : t === '1' || t === '3' ? [] : this.channels
        return encodeChStatus(chs, generated)
      }
      case 'getOperStatus': {
        const oper = f['oper'] ?? ''
        if (oper === 'all') throw new Refuse('暂不支持all')
        const list = oper === 'logon' ? [...this.agents.values()].filter((a) => a.loggedIn) : [this.agents.get(oper)].filter((a) => a !== undefined)
        if (oper !== 'logon' && list.length === 0) throw new Refuse('工号不存在', `工号${oper}不存在`)
        const rows = list.map((a) => {
          const c = this.channels[a.ch]!
          return { oper: a.oper, ch: a.ch, inUse: c.inUse, status: c.status, phone: c.phone, loggedIn: a.loggedIn, busy: a.busy }
        })
        return encodeOperStatus(rows, generated)
      }
      case 'getQueueStatus': {
        const now = Date.now()
        const entries = this.queue.map(({ call, since }) => ({
          inUse: 1,
          type: '外部呼入',
          phone: call.phone,
          ch: call.line?.ch ?? null,
          waitType: 'oper',
          waitValue: null,
          startTime: this.clock(since),
          totalSeconds: Math.floor((now - since) / 1000),
        }))
        return encodeQueueStatus({ sizes: { callauto: 0, chWait: this.queue.length, calloutb: 0 }, entries }, generated)
      }
      case 'getCustCall': {
        const oper = f['code_operator']
        const gt = f['ser_no_gt']
        const from = f['call_date_start']
        const rows = this.log.filter((r) => (!oper || oper === '%' || r.oper === oper) && (!gt || r.sn > Number(gt)) && (!from || r.date >= from))
        const pn = Math.max(1, Number(f['pn'] ?? '1') || 1)
        const page = rows.slice((pn - 1) * 10, pn * 10)
        const calls = page.map((r) => ({
          id: r.id,
          sn: String(r.sn),
          ch: r.ch,
          direction: r.dir,
          voiceType: r.vt,
          phone: r.phone,
          date: r.date,
          oper: r.oper,
          startTime: r.tms,
          endTime: r.tme,
          file: r.vt === 0 ? null : `${r.sn}_${r.ch}.wav`,
          reason: null,
          called: null,
          result: null,
          satisfaction: null,
          memo: r.memo,
        }))
        return encodeCustCall({ total: rows.length, page: pn, calls }, generated)
      }
      case 'playSelected': {
        const key = f['sn'] ?? f['id'] ?? ''
        const hit = this.log.find((r) => (f['sn'] !== undefined ? String(r.sn) === key : r.id === key) && r.vt !== 0)
        if (!hit) return encodePlaySelected({ url: null, error: `呼叫流水id=${key}读取错!` }, generated)
        const file = `${hit.sn}_${hit.ch}.${f['type'] === '2' ? 'wav' : 'asx'}`
        return encodePlaySelected({ url: `http://${this.opts.host}:${this.port}/v/audio/${file}` }, generated)
      }
      case 'getLoc': {
        const ph = f['phone'] ?? ''
        const hit = LOC.find(([p]) => ph.startsWith(p))
        return encodeLoc({ phone: ph, location: hit?.[1] ?? null, city: hit?.[2] ?? null, province: hit?.[3] ?? null }, generated)
      }
      case 'getSmsBal':
        return encodeVackXml({ generated, vo_id: 'getSmsBal', rcode: 0, msg: '执行成功' }, '<bal>88.50</bal>')
    }
    if (!CONTROL.has(voId)) throw new Refuse('未知服务号', `未知服务号${voId}`)
    if (!this.opts.stateless) this.act(voId, f)
    return this.ok(generated)
  }

  // ---- the state machine -----------------------------------------------------------------------------

  private clock(t = Date.now()): string {
    return formatLqTime(t, this.opts.timeZone).replace(/^\d{6}(\d\d)(\d\d)(\d\d)$/, '$1:$2:$3')
  }

  private agentOf(oper: string | undefined, what = 'oper'): { agent: SimAgent; ch: SimChannel } {
    const a = oper === undefined ? undefined : this.agents.get(oper)
    if (!a) throw new Refuse('工号不存在', `${what}=${oper ?? ''} 工号不存在`)
    if (!a.loggedIn) throw new Refuse('坐席未登录')
    return { agent: a, ch: this.channels[a.ch]! }
  }

  private callOf(ch: SimChannel): SimCall | undefined {
    for (const c of this.calls) if (c.line === ch || c.agents.includes(ch)) return c
    return undefined
  }

  private inCall(ch: SimChannel, need: 'talking' | 'any' = 'any'): SimCall {
    const call = this.callOf(ch)
    if (!call || (need === 'talking' && ch.status !== 3 && ch.status !== 7)) throw new Refuse(need === 'talking' ? '坐席不在通话状态' : '通道无效', '分通道无效')
    return call
  }

  private freeLine(): SimChannel {
    const line = this.channels.find((c) => c.kind === 'external' && c.status === 0 && !this.callOf(c))
    if (!line) throw new Refuse('无空闲外线')
    return line
  }

  /** Set fields of a channel (tests and the bench use this to stage states). */
  set(ch: number, patch: Partial<SimChannel>): void {
    const c = this.channels[ch]
    if (c) Object.assign(c, patch)
  }

  private setCh(c: SimChannel, status: number, inUse: number, step: string, call: SimCall | null, peer: SimChannel | null): void {
    c.status = status
    c.inUse = inUse
    c.step = step
    c.peerCh = peer ? peer.ch : -1
    if (call) {
      c.phone = call.phone
      if (status === 3 && c.startTime === null) c.startTime = this.clock()
    }
    if (c.kind === 'external') c.oper = call?.agents[0]?.oper ?? null
  }

  private later(call: SimCall, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      call.timers.splice(call.timers.indexOf(t), 1)
      if (this.calls.has(call)) fn()
    }, ms)
    call.timers.push(t)
  }

  private newCall(phone: string, direction: SimCall['direction'], line: SimChannel | null, agents: SimChannel[]): SimCall {
    const startedAt = Date.now()
    const call: SimCall = { id: ++this.seq, phone, direction, line, agents, timers: [], startedAt, sn: ++this.sn, lqId: `${startedAt}${(line ?? agents[0])?.ch ?? 0}`, answered: false }
    this.calls.add(call)
    return call
  }

  private talk(call: SimCall, inUse: number): void {
    const peer = call.line ?? call.agents[1] ?? null
    call.answered = true
    if (call.line) this.setCh(call.line, 3, inUse, '通话中', call, call.agents[0] ?? null)
    for (const a of call.agents) this.setCh(a, 3, inUse, '通话中', call, a === peer ? (call.agents[0] ?? null) : peer)
    if (call.line) call.line.recording = true
    if (this.opts.talkMs > 0) this.later(call, this.opts.talkMs, () => this.end(call))
  }

  /** Hang a call up: every channel in it goes back to idle, and it is logged. */
  end(call: SimCall, memo: string | null = null): void {
    if (!this.calls.delete(call)) return
    for (const t of call.timers) clearTimeout(t)
    const qi = this.queue.findIndex((q) => q.call === call)
    if (qi >= 0) this.queue.splice(qi, 1)
    const now = this.clock()
    for (const c of [call.line, ...call.agents]) {
      if (!c) continue
      const wasStart = c.startTime
      c.status = 0
      c.inUse = 0
      c.step = '空闲'
      c.peerCh = -1
      c.phone = null
      c.endTime = now
      c.idleTime = now
      c.recording = false
      c.listened = false
      c.startTime = null
      if (c.kind === 'external') c.oper = null
      if (c === (call.line ?? call.agents[0])) {
        const d = formatLqTime(call.startedAt, this.opts.timeZone)
        this.log.push({
          id: call.lqId,
          sn: call.sn,
          ch: c.ch,
          dir: call.direction === 'inbound' ? 1 : 2,
          // LCall 5.0.4.5+: 6 通话 (recorded), 0 未通话
          vt: call.answered ? 6 : 0,
          phone: call.phone,
          oper: call.agents[0]?.oper ?? null,
          date: `20${d.slice(0, 2)}-${d.slice(2, 4)}-${d.slice(4, 6)}`,
          tms: wasStart ?? this.clock(call.startedAt),
          tme: now,
          memo,
        })
        if (this.log.length > 5000) this.log.splice(0, 1000)
      }
    }
  }

  /**
   * Start an inbound call on a free line: ringing → (queue) → an agent rings → talking → idle.
   * `giveUpMs`: the caller hangs up after this long unless the call is talking by then (a missed call).
   */
  inbound(phone?: string, opts: { giveUpMs?: number } = {}): SimChannel | null {
    const line = this.channels.find((c) => c.kind === 'external' && c.status === 0 && !this.callOf(c))
    if (!line) return null
    const p = phone ?? `1${['38', '39', '58', '86'][Math.floor(this.rnd() * 4)]}${String(Math.floor(this.rnd() * 1e8)).padStart(8, '0')}`
    const call = this.newCall(p, 'inbound', line, [])
    this.setCh(line, 2, 1, '振铃', call, null)
    this.queue.push({ call, since: Date.now() })
    if (opts.giveUpMs !== undefined) this.later(call, opts.giveUpMs, () => !call.answered && this.end(call))
    let tries = 0
    const route = () => {
      const a = [...this.agents.values()].find((x) => x.loggedIn && !x.busy && !this.opts.reserved?.includes(x.oper) && this.channels[x.ch]!.status === 0 && !this.callOf(this.channels[x.ch]!))
      if (!a) {
        if (++tries > 10) this.end(call)
        else this.later(call, Math.max(200, this.opts.answerMs), route)
        return
      }
      const qi = this.queue.findIndex((q) => q.call === call)
      if (qi >= 0) this.queue.splice(qi, 1)
      const ach = this.channels[a.ch]!
      call.agents.push(ach)
      this.setCh(ach, 2, 1, '振铃', call, line)
      this.setCh(line, 2, 1, '等待坐席摘机', call, ach)
      this.custCallback(call, ach, line)
      this.later(call, this.opts.answerMs, () => this.talk(call, 1))
    }
    this.later(call, this.opts.answerMs, route)
    return line
  }

  private act(voId: string, f: Record<string, string>): void {
    switch (voId) {
      case 'callauto': {
        const { ch: ach } = this.agentOf(f['oper'])
        if (this.callOf(ach) || ach.status !== 0) throw new Refuse('坐席忙', '坐席通道忙')
        const phone = f['phone'] ?? ''
        if (!/^[0-9*#+]{1,40}$/.test(phone)) throw new Refuse('号码无效')
        if (f['reqType'] === '1') {
          const { ch: bch } = this.agentOf(phone, 'phone')
          if (this.callOf(bch) || bch.status !== 0) throw new Refuse('被叫坐席忙')
          const call = this.newCall(phone, 'internal', null, [ach, bch])
          this.setCh(ach, 5, 6, '呼叫分机', call, bch)
          this.setCh(bch, 2, 6, '振铃', call, ach)
          this.later(call, this.opts.answerMs, () => this.talk(call, 6))
          return
        }
        const line = this.freeLine()
        const call = this.newCall(phone, 'outbound', line, [ach])
        this.setCh(ach, 5, 2, '外呼拨号', call, line)
        this.setCh(line, 5, 2, '拨号', call, ach)
        this.later(call, Math.floor(this.opts.answerMs / 2), () => {
          this.setCh(line, 9, 2, '等待被叫摘机', call, ach)
          this.setCh(ach, 9, 2, '等待被叫摘机', call, line)
        })
        this.later(call, this.opts.answerMs, () => this.talk(call, 2))
        return
      }
      case 'agenthang': {
        const { ch } = this.agentOf(f['oper'])
        this.end(this.inCall(ch, 'talking'))
        return
      }
      case 'hangup': {
        const c = this.channels[Number(f['ch'])]
        if (!c || c.kind !== 'external' || !/^\d+$/.test(f['ch'] ?? '')) throw new Refuse('通道无效', '分通道无效')
        this.end(this.inCall(c))
        return
      }
      case 'agentdeny': {
        const { ch } = this.agentOf(f['oper'])
        const call = this.inCall(ch)
        if (ch.status !== 2) throw new Refuse('坐席不在振铃状态')
        this.end(call)
        return
      }
      case 'transfer2Ext': {
        const { ch } = this.agentOf(f['oper'])
        const call = this.inCall(ch, 'talking')
        const { ch: bch } = this.agentOf(f['phone'], 'phone')
        if (this.callOf(bch) || bch.status !== 0) throw new Refuse('被叫坐席忙')
        call.agents = call.agents.map((a) => (a === ch ? bch : a))
        this.setCh(ch, 0, 0, '空闲', null, null)
        ch.phone = null
        ch.startTime = null
        this.setCh(bch, 2, 6, '振铃', call, call.line)
        this.later(call, this.opts.answerMs, () => this.setCh(bch, 3, 1, '通话中', call, call.line))
        return
      }
      case 'callouterFast': {
        const { ch } = this.agentOf(f['oper'])
        const call = this.inCall(ch, 'talking')
        if (!call.line) throw new Refuse('无外线通话')
        call.agents = call.agents.filter((a) => a !== ch)
        this.setCh(ch, 0, 0, '空闲', null, null)
        ch.phone = null
        ch.startTime = null
        this.setCh(call.line, 3, 5, '外转通话', call, null)
        return
      }
      case 'talkkeep':
      case 'talkrestore': {
        const { ch } = this.agentOf(f['oper'])
        const call = this.inCall(ch, 'talking')
        const hold = voId === 'talkkeep'
        if (hold !== (ch.status === 3)) throw new Refuse(hold ? '通话已保持' : '通话未保持')
        ch.status = hold ? 7 : 3
        ch.step = hold ? '通话保持' : '通话中'
        if (call.line) call.line.step = hold ? '播放保持音乐' : '通话中'
        return
      }
      case 'senddtmf':
      case 'sendflash':
      case 'playTTS':
      case 'callouterSafe':
      case 'callouterSafeTalk':
      case 'callouterSafeReturn':
      case 'callouterSafeConf':
      case 'sendPop': {
        const { ch } = this.agentOf(f['oper'])
        this.inCall(ch, 'talking')
        if (voId === 'senddtmf' && !/^[0-9*#A-Da-d]+$/.test(f['dtmf'] ?? '')) throw new Refuse('DTMF无效')
        return
      }
      case 'push2flow': {
        const { ch } = this.agentOf(f['oper'])
        const call = this.inCall(ch, 'talking')
        this.ivrCallback(call, f['flow'] ?? '', f['para'] ?? '')
        return
      }
      case 'listenlc':
      case 'breakin':
      case 'talk3s': {
        const local = voId === 'talk3s' ? f['operLocal'] : f['operLocal']
        const { ch: me } = this.agentOf(local, 'operLocal')
        const { ch: target } = this.agentOf(f['oper'], 'oper')
        if (voId === 'talk3s') {
          // operLocal (in the call) brings oper in
          const call = this.inCall(me, 'talking')
          if (this.callOf(target)) throw new Refuse('被邀请坐席忙')
          call.agents.push(target)
          for (const c of [call.line, ...call.agents]) if (c) this.setCh(c, 3, 9, '三方通话', call, c === target ? me : c.ch === me.ch ? target : null)
          return
        }
        const call = this.inCall(target, 'talking')
        if (this.callOf(me)) throw new Refuse('坐席忙')
        call.agents.push(me)
        if (voId === 'listenlc') {
          target.listened = true
          this.setCh(me, 3, 6, '监听', call, target)
        } else {
          for (const c of [call.line, ...call.agents]) if (c) this.setCh(c, 3, 9, '强插通话', call, c === me ? target : null)
        }
        return
      }
      case 'breakout': {
        const { ch } = this.agentOf(f['oper'])
        this.end(this.inCall(ch))
        return
      }
      case 'setBusyAj': {
        const { agent, ch } = this.agentOf(f['oper'])
        const v = f['setBusy']
        if (v !== 'true' && v !== 'false') throw new Refuse('setBusy无效')
        agent.busy = v === 'true'
        ch.busy = agent.busy
        return
      }
      case 'agentLogout': {
        const { agent, ch } = this.agentOf(f['oper'])
        agent.loggedIn = false
        ch.oper = null
        ch.loginTime = null
        return
      }
      case 'popModifyCustCall': {
        const r = [...this.log].reverse().find((x) => x.phone === f['phone_cust'])
        if (!r) throw new Refuse('呼叫流水不存在')
        r.memo = f['memo'] ?? null
        return
      }
      case 'fastSMS':
      case 'fastFax':
        if (!(f['receiver'] ?? '')) throw new Refuse('接收号码为空')
        return
      // callusb / Callusb / callback: accepted, nothing to watch
    }
  }

  // ---- mode 1 callbacks ------------------------------------------------------------------------------

  private send(base: string, query: string): void {
    const url = callbackUrl(base, query)
    // a custURL may redirect the agent's browser to a CRM: the server only fires the GET
    fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'manual' })
      .then(async (r) => {
        await r.arrayBuffer()
        this.callbacksSent++
        if (r.status >= 400) this.callbackErrors++
      })
      .catch((err: unknown) => {
        this.callbackErrors++
        this.logger?.warn({ err: String(err), url: base }, 'simulator: callback failed')
      })
  }

  private custCallback(call: SimCall, agent: SimChannel, line: SimChannel): void {
    if (!this.opts.custUrl) return
    const t = Date.now()
    const q = encodeCustCallback(
      { phone: call.phone, oper: agent.oper ?? '', ch: agent.ch, outch: line.ch, startTime: t, datetime: formatLqTime(t, this.opts.timeZone), id: call.lqId, dtmf: '' },
      this.opts.callbackCharset,
    )
    this.send(this.opts.custUrl, q)
  }

  private ivrCallback(call: SimCall, flow: string, para: string): void {
    if (!this.opts.ivrUrl) return
    const url = this.opts.ivrUrl
    this.later(call, Math.min(500, this.opts.answerMs), () =>
      // the flow "checks" its parameter: given → 0 (success) 验证:通过, empty → 1 (failure) 验证:失败
      this.send(url, encodeIvrCallback({ v: `VO_${flow.toUpperCase() || 'FLOW'}`, r: para ? 0 : 1, ph: call.phone, pa: para, da: para ? '验证:通过' : '验证:失败' }, this.opts.callbackCharset)),
    )
  }
}

function blank(ch: number, kind: SimChannel['kind']): SimChannel {
  return {
    ch,
    kind,
    status: 0,
    inUse: 0,
    step: '空闲',
    peerCh: -1,
    phone: null,
    oper: null,
    startTime: null,
    endTime: null,
    loginTime: null,
    idleTime: null,
    listened: false,
    recording: false,
    busy: false,
  }
}
