import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { decodePairs } from '../../../protocols/text/percent.js'
import { makeWav } from '../../../protocols/wav/index.js'
import type { Logger } from '../../core/log.js'
import { UsageError, numberArg, type CliValues } from '../../core/usage.js'

/**
 * A 言通 Yantong API server for demos and tests, faithful to seed 004: every action on one URL, GET
 * or POST form, `companyid` + `auth` checked, answers as PHP would write them
 * (`{"errno":"1","message":"\u6210\u529f","data":…}`, text/html, escaped slashes). Each staff member
 * has one extension with a small state machine — SendDial: ringing (8) → talking (1) → idle (0) with
 * a call record (GetCDRList, increasing `id`) and a recording (GetRecord) — and every request is
 * kept in `requests` so tests can see exactly what arrived.
 */

export interface YantongSimOptions {
  host: string
  port: number
  /** the path the API answers on */
  path: string
  companyid: number
  auth: string
  staff: string[]
  /** how long the agent's phone rings before the call is talking */
  ringMs: number
  /** how long a call talks before it ends by itself (0: until HangUp) */
  talkMs: number
  /** random calls per minute across idle staff, for demos (0: only what requests start) */
  rate: number
  /** staff random calls leave alone (the demo dials through them, so they stay free) */
  reserved?: string[]
  /** first CDR id minus one */
  firstCdrId: number
  /** control actions answer success and change nothing (benchmarks: every dial is the same work) */
  stateless?: boolean
}

export const YANTONG_SIM_DEFAULTS: YantongSimOptions = {
  host: '127.0.0.1',
  port: 8088,
  path: '/api',
  companyid: 8,
  auth: 'yantong-demo',
  staff: ['8001', '8002'],
  ringMs: 3000,
  talkMs: 15000,
  rate: 0,
  firstCdrId: 46469,
}

export function parseYantongSimOptions(v: CliValues): YantongSimOptions {
  const staff = String(v.staff ?? YANTONG_SIM_DEFAULTS.staff.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const s of staff) if (!/^[0-9A-Za-z_.@-]{1,32}$/.test(s)) throw new UsageError(`--staff must be a comma-separated list of staff ids, got ${JSON.stringify(s)}`)
  if (!staff.length) throw new UsageError('--staff must name at least one staff id')
  const path = String(v.path ?? YANTONG_SIM_DEFAULTS.path)
  if (!path.startsWith('/')) throw new UsageError(`--path must start with /, got ${path}`)
  return {
    host: String(v.host ?? YANTONG_SIM_DEFAULTS.host),
    port: numberArg(v.port ?? String(YANTONG_SIM_DEFAULTS.port), 'port', 0, 65535),
    path,
    companyid: numberArg(v.companyid ?? String(YANTONG_SIM_DEFAULTS.companyid), 'companyid', 0, 2_000_000_000),
    auth: String(v.auth ?? YANTONG_SIM_DEFAULTS.auth),
    staff,
    ringMs: numberArg(v['ring-seconds'] ?? '3', 'ring-seconds', 0, 3600, { integer: false }) * 1000,
    talkMs: numberArg(v['talk-seconds'] ?? '15', 'talk-seconds', 0, 86400, { integer: false }) * 1000,
    rate: numberArg(v.rate ?? '0', 'rate', 0, 6000, { integer: false }),
    firstCdrId: YANTONG_SIM_DEFAULTS.firstCdrId,
  }
}

export interface SimRequest {
  method: string
  action: string
  params: Record<string, string>
  at: number
}

export interface SimCdr {
  id: string
  src: string
  dst: string
  calldate: string
  duration_int: string
  billsec_int: string
  disposition: string
  customerid: string
  companyid: string
  ClassifId: string
  ProjectId: string
  staffid: string
  exten: string
  codeid_1: string
  codeid_2: string
  uniqueid: string
  calltype: string
}

interface Line {
  staff: string
  status: number
  callerNum: string | null
  call: { direction: 'out' | 'in'; phone: string; startedAt: number; answeredAt: number | null; codeid1: string; codeid2: string } | null
  timer: NodeJS.Timeout | null
}

const NAMES = ['陈涛', '王芳', '李娜', '张伟', '刘洋', '赵敏']
const REQUIRED: Record<string, string[]> = {
  SendDial: ['staffid', 'phonenum'],
  HangUp: ['staffid'],
  ExtenStatus: ['staffid'],
  GetCDRList: [],
  GetRecord: ['uniqueid'],
  ExtenSpy: ['staffid', 'spystaffid', 'spytype'],
  AddCBaseData: ['staffid', 'phonenum'],
  AddTaskData: ['batchid', 'phonenum'],
  GetUserInfo: [],
}

/** JSON as PHP's json_encode writes it: non-ASCII as \uXXXX and `/` as `\/`. */
export function phpJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
    .replace(/\//g, '\\/')
}

/** `application/x-www-form-urlencoded` → fields, percent-decoding bytes in the given charset (GBK read as its superset GB18030); the last of repeated keys wins, as in PHP. */
export function parseForm(text: string, charset: 'utf-8' | 'gbk'): Record<string, string> {
  return Object.fromEntries(decodePairs(text, charset === 'gbk' ? 'gb18030' : 'utf-8'))
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0')
}

/** Local wall-clock `YYYY-MM-DD HH:MM:SS` in Asia/Shanghai (UTC+8, no DST), as the vendor's server writes it. */
function cstTime(ms: number): string {
  const d = new Date(ms + 8 * 3600_000)
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

export class YantongSimulator {
  readonly opts: YantongSimOptions
  private server: Server | null = null
  readonly requests: SimRequest[] = []
  readonly lines = new Map<string, Line>()
  readonly cdrs: SimCdr[] = []
  /** uniqueid → the recording's path on this server (GetRecord) */
  readonly recordings = new Map<string, string>()
  /** path → the file's bytes, when a test sets them; other recordings are made on request (never kept) */
  readonly files = new Map<string, Buffer>()
  readonly customers: Record<string, string>[] = []
  readonly batches = new Set(['1001', '1002'])
  /** staff whose agent is not logged in (SendDial/HangUp/ExtenSpy answer errno 5) */
  readonly loggedOut = new Set<string>()
  /** stop answering: requests are held open until stop() (tests of timeouts and `down`) */
  silent = false
  private readonly held = new Set<ServerResponse>()
  private nextCdr: number
  private rateTimer: NodeJS.Timeout | null = null
  private seq = 0

  constructor(
    opts: Partial<YantongSimOptions> = {},
    private readonly log?: Logger,
  ) {
    this.opts = { ...YANTONG_SIM_DEFAULTS, ...opts }
    this.nextCdr = this.opts.firstCdrId
    for (const s of this.opts.staff) this.lines.set(s, { staff: s, status: 0, callerNum: null, call: null, timer: null })
  }

  get port(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  /** The API URL to configure as the source's `url`. */
  get url(): string {
    return `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this.port}${this.opts.path}`
  }

  async start(): Promise<number> {
    this.server = createServer((req, res) => this.handle(req, res))
    this.server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(this.opts.port, this.opts.host, () => {
        this.server!.off('error', reject)
        resolve()
      })
    })
    if (this.opts.rate > 0) this.scheduleRandom()
    this.log?.info({ url: this.url, staff: this.opts.staff }, 'Yantong simulator listening')
    return this.port
  }

  async stop(): Promise<void> {
    if (this.rateTimer) clearTimeout(this.rateTimer)
    for (const l of this.lines.values()) if (l.timer) clearTimeout(l.timer)
    for (const r of this.held) r.destroy()
    this.held.clear()
    const s = this.server
    this.server = null
    if (!s) return
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  /** The requests of one action (tests). */
  sent(action: string): SimRequest[] {
    return this.requests.filter((r) => r.action === action)
  }

  // ---- state machine ----------------------------------------------------------------------------

  /** Set a line's ExtenStatus directly (tests: break 18, unavailable 4, codes outside the seed). */
  setStatus(staff: string, status: number, callerNum: string | null = null): void {
    const l = this.line(staff)
    if (l.timer) clearTimeout(l.timer)
    l.timer = null
    l.status = status
    l.callerNum = callerNum
    if (status === 0) l.call = null
  }

  /**
   * An inbound call to a staff member: ringing, then talking, then a record. `no-answer`: it rings
   * ringMs and the caller gives up (NO ANSWER, no recording). `busy`: the line is in a call, so
   * only a BUSY record is written, at once, and the line does not change.
   */
  incoming(staff: string, phone: string, outcome: 'answer' | 'no-answer' | 'busy' = 'answer'): void {
    const l = this.line(staff)
    if (outcome === 'busy') {
      this.record(l, { direction: 'in', phone, startedAt: Date.now(), answeredAt: null, codeid1: '', codeid2: '' }, 'BUSY')
      return
    }
    this.begin(l, 'in', phone, '', '')
    if (outcome === 'no-answer') {
      if (l.timer) clearTimeout(l.timer)
      l.timer = setTimeout(() => this.end(l), this.opts.ringMs)
    }
  }

  private line(staff: string): Line {
    let l = this.lines.get(staff)
    if (!l) this.lines.set(staff, (l = { staff, status: 0, callerNum: null, call: null, timer: null }))
    return l
  }

  private begin(l: Line, direction: 'out' | 'in', phone: string, codeid1: string, codeid2: string): void {
    if (l.timer) clearTimeout(l.timer)
    l.call = { direction, phone, startedAt: Date.now(), answeredAt: null, codeid1, codeid2 }
    l.status = 8
    l.callerNum = phone
    l.timer = setTimeout(() => this.answer(l), this.opts.ringMs)
  }

  private answer(l: Line): void {
    if (!l.call) return
    l.call.answeredAt = Date.now()
    l.status = 1
    l.timer = this.opts.talkMs > 0 ? setTimeout(() => this.end(l), this.opts.talkMs) : null
  }

  /** End the line's call and write its record. */
  private end(l: Line): void {
    if (l.timer) clearTimeout(l.timer)
    l.timer = null
    const c = l.call
    l.status = 0
    l.callerNum = null
    l.call = null
    if (!c) return
    this.record(l, c, c.answeredAt !== null ? 'ANSWERED' : 'NO ANSWER')
  }

  private record(l: Line, c: NonNullable<Line['call']>, disposition: 'ANSWERED' | 'NO ANSWER' | 'BUSY'): void {
    const now = Date.now()
    const id = ++this.nextCdr
    const answered = c.answeredAt !== null
    const uniqueid = answered ? `${Math.floor(now / 1000)}.${id}` : ''
    if (answered) {
      const day = cstTime(c.startedAt).slice(0, 10)
      const stamp = cstTime(c.startedAt).replace(/[- :]/g, '')
      this.recordings.set(uniqueid, `/asterisk_file/${day}/${stamp}_${l.staff}_${c.phone}.wav`)
    }
    this.cdrs.push({
      id: String(id),
      src: c.direction === 'out' ? l.staff : c.phone,
      dst: c.direction === 'out' ? c.phone : l.staff,
      calldate: cstTime(c.startedAt),
      duration_int: String(Math.round((now - c.startedAt) / 1000)),
      billsec_int: String(answered ? Math.round((now - c.answeredAt!) / 1000) : 0),
      disposition,
      customerid: String(1318000 + (id % 1000)),
      companyid: String(this.opts.companyid),
      ClassifId: '3',
      ProjectId: '3',
      staffid: l.staff,
      exten: l.staff,
      codeid_1: c.codeid1,
      codeid_2: c.codeid2,
      uniqueid,
      calltype: c.direction === 'out' ? '0' : '1',
    })
  }

  /** Add a record directly (tests of paging); returns its id. */
  addCdr(fields: Partial<SimCdr> = {}): number {
    const id = ++this.nextCdr
    this.cdrs.push({
      id: String(id),
      src: '8001',
      dst: '15721266104',
      calldate: cstTime(Date.now()),
      duration_int: '12',
      billsec_int: '2',
      disposition: 'ANSWERED',
      customerid: '1318096',
      companyid: String(this.opts.companyid),
      ClassifId: '3',
      ProjectId: '3',
      staffid: '8001',
      exten: '8001',
      codeid_1: '',
      codeid_2: '',
      uniqueid: '',
      calltype: '0',
      ...fields,
    })
    return id
  }

  private scheduleRandom(): void {
    const mean = 60_000 / this.opts.rate
    this.rateTimer = setTimeout(
      () => {
        const idle = [...this.lines.values()].filter((l) => l.status === 0 && !this.loggedOut.has(l.staff) && !this.opts.reserved?.includes(l.staff))
        const l = idle[Math.floor(Math.random() * idle.length)]
        if (l) {
          const phone = '13' + String(Math.floor(Math.random() * 1e9)).padStart(9, '0')
          // a working day's mix: most calls talk, some inbound ones are missed, a few find a busy line
          const x = Math.random()
          if (x < 0.45) this.begin(l, 'out', phone, '', '')
          else this.incoming(l.staff, phone, x < 0.8 ? 'answer' : x < 0.93 ? 'no-answer' : 'busy')
        }
        this.scheduleRandom()
      },
      mean * (0.5 + Math.random()),
    )
  }

  // ---- HTTP ---------------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > 1 << 20) req.destroy()
      else chunks.push(c)
    })
    req.on('end', () => {
      if (this.silent) {
        this.held.add(res)
        res.on('close', () => this.held.delete(res))
        return
      }
      const url = new URL(req.url ?? '/', 'http://x')
      // the recordings GetRecord names, served by the same web server as the API (static files, Range)
      if (url.pathname.startsWith('/asterisk_file/') && (req.method === 'GET' || req.method === 'HEAD')) {
        if (this.requests.length >= 10_000) this.requests.shift()
        this.requests.push({ method: req.method, action: 'file', params: { path: decodeURIComponent(url.pathname), range: req.headers.range ?? '' }, at: Date.now() })
        return this.file(req, res, decodeURIComponent(url.pathname))
      }
      if (url.pathname !== this.opts.path) {
        res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end('<h1>404 Not Found</h1>')
        return
      }
      const ct = req.headers['content-type'] ?? ''
      const charset = /charset\s*=\s*"?(gbk|gb2312|gb18030)/i.test(ct) ? 'gbk' : 'utf-8'
      // PHP's $_REQUEST: query and form fields together, the form winning
      const params = {
        ...parseForm(url.search.slice(1), charset),
        ...(req.method === 'POST'
          ? parseForm(
              Buffer.concat(chunks)
                .toString('latin1')
                .replace(/[^\x00-\x7f]/g, ''),
              charset,
            )
          : {}),
      }
      const action = params.action ?? ''
      if (this.requests.length >= 10_000) this.requests.shift()
      this.requests.push({ method: req.method ?? 'GET', action, params, at: Date.now() })
      let answer: { errno: number; message?: string; data?: unknown }
      try {
        answer = this.act(action, params)
      } catch (err) {
        this.log?.error({ err }, 'simulator error')
        answer = { errno: 0, message: '系统错误' }
      }
      const body = phpJson({ errno: String(answer.errno), message: answer.message ?? (answer.errno === 1 ? '成功' : '失败'), data: answer.data ?? [] })
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body)
    })
  }

  /** A recording file as a static web server sends it: one byte range (206), 416 past the end, else the whole file. */
  private file(req: IncomingMessage, res: ServerResponse, path: string): void {
    const wav = this.fileBytes(path)
    if (!wav) {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end('<h1>404 Not Found</h1>')
      return
    }
    const size = wav.length
    const head = { 'content-type': 'audio/x-wav', 'accept-ranges': 'bytes', 'last-modified': new Date(0).toUTCString() }
    const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? '').trim())
    if (m && (m[1] !== '' || m[2] !== '')) {
      let start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1])
      let end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      if (m[1] !== '' && m[2] !== '' && Number(m[2]) < start) {
        start = 0
        end = size - 1
      } else if (start >= size || (m[1] === '' && Number(m[2]) === 0)) {
        res.writeHead(416, { ...head, 'content-range': `bytes */${size}` }).end()
        return
      } else {
        const body = wav.subarray(start, end + 1)
        res.writeHead(206, { ...head, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': body.length })
        res.end(req.method === 'HEAD' ? undefined : body)
        return
      }
    }
    res.writeHead(200, { ...head, 'content-length': size })
    res.end(req.method === 'HEAD' ? undefined : wav)
  }

  /** The bytes of a recording path: a test's, or for a call's own recording a tone as long as it talked (1–30 s); null when the server has no such file. */
  private fileBytes(path: string): Buffer | null {
    const set = this.files.get(path)
    if (set) return set
    for (const [uniqueid, p] of this.recordings) {
      if (p !== path) continue
      const cdr = this.cdrs.find((c) => c.uniqueid === uniqueid)
      if (!cdr) continue
      return makeWav(Math.min(30, Math.max(1, Number(cdr.billsec_int) || 1)), { seed: uniqueid.length })
    }
    return null
  }

  private act(action: string, p: Record<string, string>): { errno: number; message?: string; data?: unknown } {
    const required = REQUIRED[action]
    if (!required) return { errno: 4, message: '接口不存在' }
    if (!p.companyid || p.auth === undefined || p.auth === '') return { errno: 2, message: '缺少必要参数' }
    if (p.companyid !== String(this.opts.companyid) || p.auth !== this.opts.auth) return { errno: 3, message: '认证失败' }
    for (const k of required) if (!p[k]) return { errno: 2, message: `缺少必要参数:${k}` }
    if (this.opts.stateless && ['SendDial', 'HangUp', 'ExtenSpy'].includes(action)) return { errno: 1 }
    switch (action) {
      case 'SendDial': {
        const l = this.lines.get(p.staffid!)
        if (!l || this.loggedOut.has(l.staff)) return { errno: 5, message: '工号未登录' }
        if (!/^\+?\d{3,20}$/.test(p.phonenum!)) return { errno: 0, message: '号码格式错误' }
        if (l.status !== 0) return { errno: 0, message: '分机正忙' }
        this.begin(l, 'out', p.phonenum!, p.codeid_1 ?? '', p.codeid_2 ?? '')
        return { errno: 1 }
      }
      case 'HangUp': {
        const l = this.lines.get(p.staffid!)
        if (!l || this.loggedOut.has(l.staff)) return { errno: 5, message: '工号未登录' }
        if (!l.call) return { errno: 0, message: '当前没有通话' }
        this.end(l)
        return { errno: 1 }
      }
      case 'ExtenStatus': {
        const l = this.lines.get(p.staffid!)
        if (!l) return { errno: 1, data: { Status: -1, Extension: numeric(p.staffid!), CallerNum: '' } }
        return { errno: 1, data: { Status: l.status, Extension: numeric(l.staff), CallerNum: l.callerNum === null ? '' : numeric(l.callerNum) } }
      }
      case 'GetCDRList':
        return { errno: 1, data: this.cdrList(p) }
      case 'GetRecord': {
        const path = this.recordings.get(p.uniqueid!)
        return path ? { errno: 1, data: [{ path }] } : { errno: 0, message: '录音不存在' }
      }
      case 'ExtenSpy': {
        const spy = this.lines.get(p.staffid!)
        const target = this.lines.get(p.spystaffid!)
        if (!spy || this.loggedOut.has(spy.staff) || !target) return { errno: 5, message: '工号未登录' }
        if (!['1', '2', '3'].includes(p.spytype!)) return { errno: 0, message: '监听类型错误' }
        if (target.status !== 1) return { errno: 0, message: '被监听者不在通话中' }
        return { errno: 1 }
      }
      case 'AddCBaseData':
      case 'AddTaskData': {
        const key = action === 'AddCBaseData' ? 'staffid' : 'batchid'
        if (action === 'AddTaskData' && !this.batches.has(p.batchid!)) return { errno: 11, message: '任务批次不存在' }
        if (action === 'AddCBaseData' && !this.lines.has(p.staffid!)) return { errno: 5, message: '工号未登录' }
        if (this.customers.some((c) => c.kind === action && c[key] === p[key] && c.phonenum === p.phonenum)) return { errno: 10, message: '数据重复' }
        this.customers.push({ kind: action, [key]: p[key]!, phonenum: p.phonenum!, name: p.name ?? '', address: p.address ?? '', email: p.email ?? '', comment: p.comment ?? '' })
        return { errno: 1 }
      }
      case 'GetUserInfo': {
        const staff = p.staffid ? [p.staffid].filter((s) => this.lines.has(s)) : [...this.lines.keys()]
        return {
          errno: 1,
          data: staff.map((s, i) => ({
            UserName: s,
            TrueName: NAMES[i % NAMES.length],
            RoleName: '坐席',
            Identity: '坐席',
            DepartmentName: '部门一',
            Phone: '1595695' + s.padStart(4, '0').slice(-4),
            StaffId: s,
            UpdateTime: '2016-07-18 16:30:10',
            CreateTime: '2016-07-18 14:51:22',
          })),
        }
      }
    }
    return { errno: 4, message: '接口不存在' }
  }

  private cdrList(p: Record<string, string>): SimCdr[] {
    let list = this.cdrs.slice()
    const eq = (k: keyof SimCdr, v?: string) => {
      if (v) list = list.filter((r) => r[k] === v)
    }
    eq('staffid', p.staffid)
    eq('exten', p.exten)
    eq('codeid_1', p.codeid_1)
    eq('codeid_2', p.codeid_2)
    eq('dst', p.phonenum)
    if (p.begintime) list = list.filter((r) => r.calldate >= p.begintime!)
    if (p.endtime) list = list.filter((r) => r.calldate <= p.endtime!)
    if (p.PId && /^\d+$/.test(p.PId)) list = list.filter((r) => Number(r.id) > Number(p.PId))
    const asc = (p.Sort ?? 'DESC').toUpperCase() === 'ASC'
    list.sort((a, b) => (asc ? Number(a.id) - Number(b.id) : Number(b.id) - Number(a.id)))
    const limit = p.Limit && /^\d+$/.test(p.Limit) ? Math.min(Number(p.Limit), 1000) : 20
    return list.slice(0, limit)
  }

  /** a counter for tests that want unique phone numbers */
  nextPhone(): string {
    return '1390000' + String(++this.seq).padStart(4, '0')
  }
}

/** A digit string as PHP would put an int column in JSON: a number when it is one, else a string. */
function numeric(s: string): number | string {
  return /^[1-9]\d{0,14}$/.test(s) ? Number(s) : s
}
