import { createServer, type Server, type Socket } from 'node:net'
import { LqConnectDecoder, decodeRegistration, encodePop, encodeTryReq } from '../../../protocols/lq-connect/index.js'
import { formatPop, isValidTimeZone, type PopFields, type PopFormat } from '../../../protocols/lq-pop/index.js'
import type { Logger } from '../../core/log.js'
import { UsageError, numberArg, type CliValues } from '../../core/usage.js'

export interface LqSimOptions {
  host: string
  port: number
  /** a pop format, or 'mixed' to rotate through t1v1…t1v5 */
  popVer: PopFormat | 'mixed'
  /** pops per second (0: only what a test sends) */
  rate: number
  channels: number
  agents: string[]
  /** seconds between TRY_REQ handshakes (0: never) */
  trySeconds: number
  timeZone: string
}

export const LQ_SIM_DEFAULTS: LqSimOptions = {
  host: '127.0.0.1',
  port: 7628,
  popVer: 't1v5',
  rate: 2,
  channels: 8,
  agents: ['801', '802', '803', '804'],
  trySeconds: 5,
  timeZone: 'Asia/Shanghai',
}

const FORMATS: PopFormat[] = ['t1v1', 't1v2', 't1v3', 't1v4', 't1v5']

/** CLI values → options, with a specific message for each bad value. */
export function parseLqSimOptions(v: CliValues): LqSimOptions {
  const num = (name: string, min: number, max: number, integer = true) => numberArg(v[name], name, min, max, { integer })
  const ver = String(v['pop-ver'] ?? 't1v5')
  if (![...FORMATS, 'mixed'].includes(ver)) throw new UsageError(`--pop-ver must be one of ${FORMATS.join(', ')}, mixed; got ${ver}`)
  const tz = typeof v['time-zone'] === 'string' ? v['time-zone'] : LQ_SIM_DEFAULTS.timeZone
  if (!isValidTimeZone(tz)) throw new UsageError(`--time-zone must be an IANA zone such as Asia/Shanghai, got ${tz}`)
  return {
    host: String(v.host ?? LQ_SIM_DEFAULTS.host),
    port: num('port', 0, 65535),
    popVer: ver as LqSimOptions['popVer'],
    rate: num('rate', 0, 100000, false),
    channels: num('channels', 1, 1024),
    agents: String(v.agents ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
    trySeconds: num('try-seconds', 0, 3600, false),
    timeZone: tz,
  }
}

interface SimClient {
  socket: Socket
  registration: string | null
  agent: string | null
  tryReps: number
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄']
const CITIES: [string, string][] = [
  ['江苏', '南京'],
  ['江苏', '苏州'],
  ['浙江', '杭州'],
  ['上海', '上海'],
  ['广东', '深圳'],
  ['四川', '成都'],
]
const LEVELS = ['普通', '银卡', '金卡', '钻石']

/**
 * An LQ-Connect server for demos and tests: accepts registrations, sends TRY_REQ on an interval,
 * and sends realistic GBK pops. A pop that names an agent goes to the clients registered as that
 * agent (and to clients whose registration named none); a pop without an agent goes to all.
 */
export class LqSimulator {
  readonly opts: LqSimOptions
  private server: Server | null = null
  readonly clients = new Set<SimClient>()
  private tryTimer: NodeJS.Timeout | null = null
  private popTimer: NodeJS.Timeout | null = null
  private seq = 0
  private rnd: () => number
  /** stop answering: no TRY_REQ and no pops (tests of silence detection) */
  silent = false
  popsSent = 0

  constructor(
    opts: Partial<LqSimOptions> = {},
    private readonly log?: Logger,
    seed = 1,
  ) {
    this.opts = { ...LQ_SIM_DEFAULTS, ...opts }
    let s = seed >>> 0 || 1
    this.rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
  }

  get port(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  async start(): Promise<number> {
    const server = createServer((s) => this.accept(s))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    this.server = server
    if (this.opts.trySeconds > 0) {
      this.tryTimer = setInterval(() => !this.silent && this.broadcast(encodeTryReq()), this.opts.trySeconds * 1000)
    }
    if (this.opts.rate > 0) {
      // ticks of at least 10 ms, several pops a tick at high rates
      const tickMs = Math.max(10, 1000 / this.opts.rate)
      const perTick = (this.opts.rate * tickMs) / 1000
      let owed = 0
      this.popTimer = setInterval(() => {
        if (this.silent || this.clients.size === 0) return
        owed += perTick
        for (; owed >= 1; owed--) this.sendRandomPop()
      }, tickMs)
    }
    return this.port
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true)
    const c: SimClient = { socket, registration: null, agent: null, tryReps: 0 }
    this.clients.add(c)
    const dec = new LqConnectDecoder({ handshake: 'TRY_REP', plausible: () => true })
    socket.on('data', (chunk) => {
      dec.write(
        chunk,
        (f) => {
          if (f.type === 'handshake') c.tryReps++
          else if (c.registration === null) {
            const r = decodeRegistration(f.payload)
            c.registration = r.text
            c.agent = r.agent
            this.log?.info({ registration: c.registration, agent: c.agent }, 'simulator: client registered')
          }
        },
        () => {},
      )
    })
    socket.on('error', () => {})
    socket.on('close', () => this.clients.delete(c))
    if (!this.silent) socket.write(encodeTryReq())
  }

  /** Send bytes to every client (tests use it for garbage, split frames…). */
  broadcast(bytes: Buffer): void {
    for (const c of this.clients) c.socket.write(bytes)
  }

  /** Send one pop (text → GBK frame) to the clients it belongs to. */
  sendPop(text: string | Buffer, agent: string | null = null): void {
    const frame = encodePop(text)
    for (const c of this.clients) if (agent === null || c.agent === null || c.agent === agent) c.socket.write(frame)
    this.popsSent++
  }

  /** A realistic pop in the configured format; returns its text. */
  sendRandomPop(): string {
    const ver = this.opts.popVer === 'mixed' ? FORMATS[this.seq % FORMATS.length]! : this.opts.popVer
    const fields = this.randomFields()
    const text = formatPop(fields, ver)
    // the server knows whose phone rings even when the format does not carry the agent
    this.sendPop(text, fields.agent ?? null)
    return text
  }

  randomFields(): PopFields {
    const r = this.rnd
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!
    this.seq++
    const mobile = r() < 0.6
    const phone = mobile
      ? `1${pick(['33', '35', '38', '39', '52', '58', '86', '89'])}${String(Math.floor(r() * 1e8)).padStart(8, '0')}`
      : `${pick(['', '025', '0512', '021'])}${String(Math.floor(r() * 9e7) + 1e7).slice(0, 8)}`
    const kindCode = pick([1, 1, 1, 1, 1, 2, 2, 4, 5, 6])
    const agent = pick(this.opts.agents.length ? this.opts.agents : ['801'])
    const [province, city] = pick(CITIES)
    const data = r() < 0.7 ? { 客户: pick(SURNAMES) + pick(['先生', '女士']), 省: province, 城市: city, 会员等级: pick(LEVELS) } : null
    return {
      channel: 1 + Math.floor(r() * this.opts.channels),
      phone,
      time: Date.now(),
      timeZone: this.opts.timeZone,
      agent,
      serial: String(100000 + this.seq),
      kindCode,
      originAgent: kindCode === 5 || kindCode === 6 ? pick(this.opts.agents.filter((a) => a !== agent).concat(['800'])) : null,
      member: data ? String(2000 + Math.floor(r() * 8000)) : null,
      data,
      dtmf: r() < 0.3 ? [pick(['1', '2', '3', '9'])] : [],
    }
  }

  async stop(): Promise<void> {
    if (this.tryTimer) clearInterval(this.tryTimer)
    if (this.popTimer) clearInterval(this.popTimer)
    for (const c of this.clients) c.socket.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = null
  }
}
