import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Logger } from '../../daemon/core/log.js'
import { UsageError, numberArg, type CliValues } from '../../daemon/core/usage.js'
import { decodeAnswer } from '../../protocols/800hu/answers.js'
import { normaliseMac } from '../../protocols/800hu/mac.js'
import { LINE_STATE, encodeStatus, statusWire, type StatusInput } from '../../protocols/800hu/status.js'
import { makeWav } from '../../protocols/wav/index.js'

/**
 * A simulated 八百呼 recording box (seed 003 §2.1.10): it speaks to its server exactly as a box
 * does — HTTP POST only, `cmd` + `satellite` on every request — and so doubles as a test client and
 * the demo's traffic. It posts cmd=channelstatus on an interval and at every line change, plays calls
 * on its RJ11 ports (inbound: ringing → talking → idle; outbound: dialing → talking → idle; some not
 * answered), uploads each call afterwards with cmd=upload (multipart, a generated 8 kHz 16-bit WAV,
 * the seed's fields plus `fileMd5`), and long-polls cmd=getMessageList, obeying dial / answer /
 * hang-up commands.
 */

export interface BoxSimOptions {
  /** the server's base URL, e.g. http://127.0.0.1:7701 */
  target: string
  /** the endpoint path on it */
  path: string
  /** the box's MAC, sent as `satellite` exactly as given here */
  mac: string
  /** RJ11 ports, numbered from 1 */
  channels: number
  /** seconds between channel status posts (a change is also posted at once) */
  intervalSeconds: number
  /** new random calls per minute on the whole box (0: calls only from commands and tests) */
  callRate: number
  /** share of calls that are answered (commanded dials always are) */
  answerRatio: number
  /** [min, max] seconds a line rings or dials before it is answered or given up */
  ringSeconds: readonly [number, number]
  /** [min, max] seconds of conversation */
  talkSeconds: readonly [number, number]
  /** upload every finished call (answered calls with a WAV, unanswered ones with `recorded=0` and no file) */
  upload: boolean
  /** long-poll getMessageList for commands */
  poll: boolean
  /** give up on one poll after this long without an answer (the server holds it up to its own limit, 25 s by default) */
  pollTimeoutSeconds: number
  /** attempts per upload on network errors or 5xx (a vendor `status` refusal is not retried) */
  uploadAttempts: number
  /** the box's LAN address reported in `status.ip` */
  ip: string
  /** `serial` reported for every channel */
  serial: string
  /** PRNG seed (default: from the MAC, so two boxes play different calls) */
  seed?: number
}

export const BOX_SIM_DEFAULTS: Omit<BoxSimOptions, 'mac'> = {
  target: 'http://127.0.0.1:7701',
  path: '/upload_record',
  channels: 4,
  intervalSeconds: 5,
  callRate: 2,
  answerRatio: 0.8,
  ringSeconds: [2, 8],
  talkSeconds: [5, 40],
  upload: true,
  poll: true,
  pollTimeoutSeconds: 60,
  uploadAttempts: 3,
  ip: '192.168.1.20',
  serial: '1',
}

/** CLI values → options; every bad value is a UsageError naming the option. */
export function parseBoxSimOptions(v: CliValues): Partial<BoxSimOptions> & { mac: string } {
  const mac = typeof v.mac === 'string' ? v.mac : ''
  if (!normaliseMac(mac)) throw new UsageError(`--mac must be a MAC address such as 00:00:00:00:00:01, got ${mac || 'nothing'}`)
  const target = typeof v.target === 'string' ? v.target : BOX_SIM_DEFAULTS.target
  let u: URL
  try {
    u = new URL(target)
  } catch {
    throw new UsageError(`--target must be a URL such as http://127.0.0.1:7701, got ${target}`)
  }
  // the vendor: "八百呼盒子提交到第三方系统只支持HTTP，不支持HTTPS方式"
  if (u.protocol !== 'http:') throw new UsageError(`--target must be an http:// URL (boxes speak HTTP only), got ${target}`)
  const path = typeof v.path === 'string' ? v.path : BOX_SIM_DEFAULTS.path
  if (!path.startsWith('/')) throw new UsageError(`--path must start with /, got ${path}`)
  const talk = typeof v['talk-seconds'] === 'string' ? range(v['talk-seconds'], 'talk-seconds') : BOX_SIM_DEFAULTS.talkSeconds
  const out: Partial<BoxSimOptions> & { mac: string } = {
    mac,
    target: target.replace(/\/+$/, ''),
    path,
    channels: numberArg(v.channels ?? '4', 'channels', 1, 64),
    intervalSeconds: numberArg(v.interval ?? '5', 'interval', 0.05, 3600, { integer: false }),
    callRate: numberArg(v['call-rate'] ?? '2', 'call-rate', 0, 6000, { integer: false }),
    talkSeconds: talk,
    poll: v['no-poll'] !== true,
    upload: v['no-upload'] !== true,
    ip: typeof v.ip === 'string' ? v.ip : BOX_SIM_DEFAULTS.ip,
  }
  if (typeof v.seed === 'string') out.seed = numberArg(v.seed, 'seed', 0, 2 ** 32 - 1)
  return out
}

function range(s: string, name: string): [number, number] {
  const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(s)
  const a = m ? Number(m[1]) : NaN
  const b = m?.[2] !== undefined ? Number(m[2]) : a
  if (!m || !(a >= 0) || !(b >= a) || b > 86400) throw new UsageError(`--${name} must be SECONDS or MIN-MAX (e.g. 5-40), got ${s}`)
  return [a, b]
}

/** The box's line states (`state` in channelstatus). */
export const BOX_STATE = LINE_STATE
type BoxState = (typeof BOX_STATE)[keyof typeof BOX_STATE]

interface SimChannel {
  ch: number
  state: BoxState
  phone: string
  /** '1' outbound, '2' inbound, '' idle */
  peer: '' | '1' | '2'
  /** ms when the state was entered (for `timelen`) */
  since: number
  /** the call in progress */
  call: { start: number; answered: number | null; commanded: boolean } | null
  timer: NodeJS.Timeout | null
}

/** One upload as the box sent it (for tests and the demo). */
export interface SimUpload {
  callid: string
  channel: number
  direction: 'in' | 'out' | 'unkown'
  phone: string
  recorded: boolean
  bytes: number
  md5: string | null
  /** the server's `status` (null: no valid answer after every attempt) */
  status: number | null
  ok: boolean
  answer: unknown
}

export interface SimCommand {
  status: string
  channel: string
  phone: string
  memo: unknown
  outcome: 'obeyed' | 'ignored'
  reason?: string
}

export interface BoxSimStats {
  statusPosts: number
  statusFailures: number
  calls: number
  answered: number
  uploads: number
  uploadFailures: number
  uploadRejected: number
  polls: number
  pollFailures: number
  commands: number
  commandsIgnored: number
}

/**
 * Events: `state` (ch, state, phone), `status` (answer), `upload` (SimUpload), `command` (SimCommand),
 * `error` is never emitted (failures are counted and logged: a box keeps going).
 */
export class BoxSimulator extends EventEmitter {
  readonly opts: BoxSimOptions
  readonly channels: SimChannel[]
  readonly stats: BoxSimStats = {
    statusPosts: 0,
    statusFailures: 0,
    calls: 0,
    answered: 0,
    uploads: 0,
    uploadFailures: 0,
    uploadRejected: 0,
    polls: 0,
    pollFailures: 0,
    commands: 0,
    commandsIgnored: 0,
  }
  private running = false
  private abort = new AbortController()
  private statusTimer: NodeJS.Timeout | null = null
  private callTimer: NodeJS.Timeout | null = null
  private statusPosting: Promise<void> | null = null
  private statusDirty = false
  private readonly pending = new Set<Promise<unknown>>()
  private rnd: () => number
  private recordId = 0
  private callSeq = 0
  private readonly macLow: number
  private readonly url: string

  constructor(
    opts: Partial<BoxSimOptions> & { mac: string },
    private readonly log?: Logger,
  ) {
    super()
    this.opts = { ...BOX_SIM_DEFAULTS, ...opts }
    const mac12 = normaliseMac(this.opts.mac)
    if (!mac12) throw new UsageError(`not a MAC address: ${this.opts.mac}`)
    this.macLow = parseInt(mac12.slice(6), 16)
    let s = (this.opts.seed ?? this.macLow) >>> 0 || 1
    this.rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
    this.url = this.opts.target.replace(/\/+$/, '') + this.opts.path
    const t = Date.now()
    this.channels = Array.from({ length: this.opts.channels }, (_, i) => ({ ch: i + 1, state: BOX_STATE.IDLE, phone: '', peer: '', since: t, call: null, timer: null }))
  }

  get isRunning(): boolean {
    return this.running
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.abort = new AbortController()
    this.markDirty()
    this.statusTimer = setInterval(() => this.markDirty(), this.opts.intervalSeconds * 1000)
    if (this.opts.callRate > 0) {
      // one tick a second; several calls a tick at high rates
      let owed = 0
      this.callTimer = setInterval(() => {
        owed += this.opts.callRate / 60
        const n = Math.floor(owed + this.rnd())
        owed -= n
        if (owed < 0) owed = 0
        for (let i = 0; i < n; i++) this.randomCall()
      }, 1000)
    }
    if (this.opts.poll) this.track(this.pollLoop())
  }

  /** Stop timers, abort requests in flight, and wait for every request to settle. Lines are left as they are. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.statusTimer) clearInterval(this.statusTimer)
    if (this.callTimer) clearInterval(this.callTimer)
    this.statusTimer = this.callTimer = null
    for (const c of this.channels) if (c.timer) clearTimeout(c.timer)
    this.abort.abort()
    while (this.pending.size) await Promise.allSettled([...this.pending])
  }

  // ---- calls -----------------------------------------------------------------------------------

  /** An inbound call on `ch` (or a random idle line); false when the line is busy. */
  ring(ch?: number, phone = this.randomPhone(), answer = this.rnd() < this.opts.answerRatio): boolean {
    const c = ch === undefined ? this.idleChannel() : this.channels[ch - 1]
    if (!c || c.state !== BOX_STATE.IDLE) return false
    this.stats.calls++
    c.call = { start: Date.now(), answered: null, commanded: false }
    this.setState(c, BOX_STATE.RINGING, phone, '2')
    c.timer = setTimeout(() => (answer ? this.answer(c) : this.hangup(c)), this.between(this.opts.ringSeconds) * 1000)
    return true
  }

  /** An outbound call on `ch` (or a random idle line); false when the line is busy. */
  dial(ch?: number, phone = this.randomPhone(), opts: { commanded?: boolean; answer?: boolean } = {}): boolean {
    const c = ch === undefined ? this.idleChannel() : this.channels[ch - 1]
    if (!c || c.state !== BOX_STATE.IDLE) return false
    this.stats.calls++
    const commanded = opts.commanded ?? false
    const answer = opts.answer ?? (commanded || this.rnd() < this.opts.answerRatio)
    c.call = { start: Date.now(), answered: null, commanded }
    this.setState(c, BOX_STATE.DIALING, phone, '1')
    // dialing takes a second or two before the far end rings; then it rings like an inbound call
    const ringMs = (1 + this.between(this.opts.ringSeconds)) * 1000
    c.timer = setTimeout(() => (answer ? this.answer(c) : this.hangup(c)), commanded ? Math.min(ringMs, 2000) : ringMs)
    return true
  }

  private answer(c: SimChannel): void {
    if (!c.call || (c.state !== BOX_STATE.RINGING && c.state !== BOX_STATE.DIALING)) return
    if (c.timer) clearTimeout(c.timer)
    c.call.answered = Date.now()
    this.stats.answered++
    this.setState(c, BOX_STATE.TALKING, c.phone, c.peer)
    c.timer = setTimeout(() => this.hangup(c), this.between(this.opts.talkSeconds) * 1000)
  }

  /** End the call on a line: back to idle, then upload the call. */
  private hangup(c: SimChannel): void {
    if (c.timer) clearTimeout(c.timer)
    c.timer = null
    const call = c.call
    if (!call) return
    const phone = c.phone
    const peer = c.peer
    c.call = null
    this.setState(c, BOX_STATE.IDLE, '', '')
    if (!this.opts.upload || !this.running) return
    const end = Date.now()
    const direction = call.answered === null ? 'unkown' : peer === '1' ? 'out' : 'in'
    const talk = call.answered === null ? 0 : (end - call.answered) / 1000
    this.track(this.upload({ ch: c.ch, phone, direction, startMs: call.start, endMs: end, talkSeconds: talk }))
  }

  private randomCall(): void {
    if (this.rnd() < 0.5) this.ring()
    else this.dial()
  }

  private idleChannel(): SimChannel | undefined {
    const idle = this.channels.filter((c) => c.state === BOX_STATE.IDLE)
    return idle[Math.floor(this.rnd() * idle.length)]
  }

  private setState(c: SimChannel, state: BoxState, phone: string, peer: SimChannel['peer']): void {
    c.state = state
    c.phone = phone
    c.peer = peer
    c.since = Date.now()
    this.emit('state', { ch: c.ch, state, phone })
    this.markDirty()
  }

  /** Mainland numbers, no names: mobiles (1[3-9]…) and landlines with an area code. */
  randomPhone(): string {
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(this.rnd() * 10)).join('')
    if (this.rnd() < 0.7) return '1' + '3456789'[Math.floor(this.rnd() * 7)] + digits(9)
    const area = ['010', '021', '020', '025', '0571', '0755', '028'][Math.floor(this.rnd() * 7)]!
    return area + String(2 + Math.floor(this.rnd() * 8)) + digits(area.length === 3 ? 7 : 6)
  }

  private between([a, b]: readonly [number, number]): number {
    return a + this.rnd() * (b - a)
  }

  // ---- channel status --------------------------------------------------------------------------

  /** The line status a box posts (seed 003 §2.1.10), a fixed healthy disk. */
  status(): StatusInput {
    const now = Date.now()
    return {
      disk: { usagePercent: 5, size: '29510', surplus: '28034', status: 0 },
      ip: this.opts.ip,
      channels: this.channels.map((c) => ({
        ch: String(c.ch),
        state: c.state,
        phone: c.phone,
        timelen: c.state === BOX_STATE.IDLE ? 0 : Math.floor((now - c.since) / 1000),
        peer: c.peer,
        serial: this.opts.serial,
      })),
    }
  }

  /** The `status` JSON a box posts, every value a string as in the vendor's example except diskStatus. */
  statusJson(): Record<string, unknown> {
    return statusWire(this.status())
  }

  /** Changes in one tick are posted once; a change while a post is in flight is posted right after it. */
  private markDirty(): void {
    if (!this.running) return
    this.statusDirty = true
    if (this.statusPosting) return
    this.statusPosting = (async () => {
      await Promise.resolve() // let this tick's other changes join
      while (this.statusDirty && this.running) {
        this.statusDirty = false
        await this.postStatus().catch(() => {})
      }
      this.statusPosting = null
    })()
    this.track(this.statusPosting)
  }

  /** POST cmd=channelstatus now; resolves with the server's answer (throws on network errors). */
  async postStatus(): Promise<unknown> {
    const body = new URLSearchParams({ cmd: 'channelstatus', satellite: this.opts.mac, time: String(Date.now()), status: encodeStatus(this.status()) })
    try {
      const answer = await this.post(body, 10_000)
      this.stats.statusPosts++
      if (!isOk(answer)) {
        this.stats.statusFailures++
        this.log?.warn({ answer }, 'channelstatus refused')
      }
      this.emit('status', answer)
      return answer
    } catch (err) {
      this.stats.statusFailures++
      if (this.running) this.log?.warn({ err: String(err) }, 'channelstatus failed')
      throw err
    }
  }

  // ---- uploads ---------------------------------------------------------------------------------

  /** A callid like the vendor's ("7687658987667780097"): ms clock, MAC, sequence; unique across boxes. */
  private nextCallid(ms: number): string {
    return (BigInt(ms) * 1_000_000n + BigInt(this.macLow % 10_000) * 100n + BigInt(this.callSeq++ % 100)).toString()
  }

  private async upload(call: { ch: number; phone: string; direction: SimUpload['direction']; startMs: number; endMs: number; talkSeconds: number }): Promise<SimUpload> {
    const recorded = call.direction !== 'unkown'
    const callid = this.nextCallid(call.endMs)
    const wav = recorded ? makeWav(Math.max(0.5, call.talkSeconds), { seed: this.callSeq, frequency: 300 + Math.floor(this.rnd() * 300) }) : null
    const md5 = wav ? createHash('md5').update(wav).digest('hex') : null
    const fields: [string, string][] = [
      ['cmd', 'upload'],
      ['satellite', this.opts.mac],
      ['channel', String(call.ch)],
      ['start_time_secs', String(Math.floor(call.startMs / 1000))],
      ['start_time_hangup', String(Math.floor(call.endMs / 1000))],
      ['direction', call.direction],
      ['callid_dialed', call.phone],
      ['duration_secs', String(Math.floor(call.talkSeconds))],
      ['id', String(++this.recordId)],
      ['recorded', recorded ? '1' : '0'],
      ['callid', callid],
    ]
    if (md5) fields.push(['fileMd5', md5])
    const file = wav ? { name: `${stamp(call.startMs)}_${call.phone}_${call.ch}.wav`, bytes: wav } : null
    const result: SimUpload = { callid, channel: call.ch, direction: call.direction, phone: call.phone, recorded, bytes: wav?.length ?? 0, md5, status: null, ok: false, answer: null }
    for (let attempt = 1; attempt <= this.opts.uploadAttempts && this.running; attempt++) {
      try {
        const answer = await this.postMultipart(fields, file, 120_000)
        result.answer = answer
        result.status = statusOf(answer)
        result.ok = isOk(answer) && decodeAnswer(answer).callid === callid
        if (result.ok) this.stats.uploads++
        else {
          this.stats.uploadRejected++
          this.log?.warn({ callid, answer }, 'upload refused')
        }
        break
      } catch (err) {
        if (!this.running) break
        this.log?.warn({ callid, attempt, err: String(err) }, 'upload failed')
        if (attempt < this.opts.uploadAttempts) await this.sleep(1000 * 2 ** (attempt - 1))
      }
    }
    if (result.status === null) this.stats.uploadFailures++
    this.emit('upload', result)
    return result
  }

  // ---- commands --------------------------------------------------------------------------------

  private async pollLoop(): Promise<void> {
    let backoff = 1000
    while (this.running) {
      try {
        const answer = await this.post(new URLSearchParams({ cmd: 'getMessageList', satellite: this.opts.mac }), this.opts.pollTimeoutSeconds * 1000)
        this.stats.polls++
        backoff = 1000
        const { status: st, data } = decodeAnswer(answer)
        if (st === 0 && data) {
          for (const m of data) this.obey(m)
        } else if (st !== 3003 && st !== 0) {
          this.stats.pollFailures++
          this.log?.warn({ answer }, 'getMessageList refused')
          await this.sleep(2000)
        }
      } catch (err) {
        if (!this.running) return
        this.stats.pollFailures++
        this.log?.debug({ err: String(err) }, 'getMessageList failed')
        await this.sleep(backoff)
        backoff = Math.min(backoff * 2, 10_000)
      }
    }
  }

  /** One getMessageList item: status 0 dial, 1 answer, 2 hang up, 51 web; mdcWan = RJ11 port. */
  private obey(m: unknown): void {
    this.stats.commands++
    const o = (m && typeof m === 'object' ? m : {}) as Record<string, unknown>
    const text = (x: unknown) => (typeof x === 'string' || typeof x === 'number' ? String(x) : '')
    const cmd: SimCommand = { status: text(o.status), channel: text(o.mdcWan), phone: text(o.phone), memo: o.memo ?? null, outcome: 'ignored' }
    const c = /^\d+$/.test(cmd.channel) ? this.channels[Number(cmd.channel) - 1] : undefined
    const ignore = (reason: string) => {
      cmd.reason = reason
      this.stats.commandsIgnored++
      this.log?.info({ command: cmd }, `command ignored: ${reason}`)
    }
    if (cmd.status === '51')
      cmd.outcome = 'obeyed' // a web message: nothing to do on the line
    else if (!c) ignore(`no RJ11 port ${JSON.stringify(cmd.channel)}`)
    else if (cmd.status === '0') {
      if (!/^[0-9*#+]{1,32}$/.test(cmd.phone)) ignore(`cannot dial ${JSON.stringify(cmd.phone)}`)
      else if (this.dial(c.ch, cmd.phone, { commanded: true })) cmd.outcome = 'obeyed'
      else ignore(`port ${c.ch} is busy`)
    } else if (cmd.status === '1') {
      if (c.state === BOX_STATE.RINGING) {
        this.answer(c)
        cmd.outcome = 'obeyed'
      } else ignore(`port ${c.ch} is not ringing`)
    } else if (cmd.status === '2') {
      if (c.call) {
        this.hangup(c)
        cmd.outcome = 'obeyed'
      } else ignore(`port ${c.ch} has no call`)
    } else ignore(`unknown status ${JSON.stringify(cmd.status)}`)
    this.emit('command', cmd)
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async post(body: URLSearchParams, timeoutMs: number): Promise<unknown> {
    const res = await fetch(this.url, {
      method: 'POST',
      body,
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]),
    })
    return readAnswer(res)
  }

  private async postMultipart(fields: readonly [string, string][], file: { name: string; bytes: Buffer } | null, timeoutMs: number): Promise<unknown> {
    const form = new FormData()
    for (const [k, v] of fields) form.append(k, v)
    // the file goes last, as boxes send it: a streaming server has every field before the bytes
    if (file) form.append('file', new Blob([file.bytes], { type: 'audio/wav' }), file.name)
    const res = await fetch(this.url, { method: 'POST', body: form, signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]) })
    return readAnswer(res)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve()
      const t = setTimeout(done, ms)
      const onAbort = () => done()
      this.abort.signal.addEventListener('abort', onAbort, { once: true })
      function done() {
        clearTimeout(t)
        resolve()
      }
    })
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined)
    this.pending.add(q)
    void q.finally(() => this.pending.delete(q))
  }
}

/** The answer as JSON; a 5xx or a body that is not JSON is an error (retried where that makes sense). */
async function readAnswer(res: Response): Promise<unknown> {
  const text = await res.text()
  if (res.status >= 500) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`)
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new Error(`HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`)
  }
}

function statusOf(answer: unknown): number | null {
  return decodeAnswer(answer).status
}

function isOk(answer: unknown): boolean {
  return statusOf(answer) === 0
}

/** 20240131143005 (local time), as boxes name their files */
function stamp(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
}
