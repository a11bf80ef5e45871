import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HttpTimeoutError, HttpUnreachableError, openRequest, retrying } from '../../../protocols/http/client.js'
import {
  callbackFields,
  ChStatusReader,
  CONTROL_VO_IDS,
  decodeCustCallback,
  decodeIvrCallback,
  IN_USE_NAMES,
  IN_USE_WORDS,
  lineDirection,
  lineState,
  VackAnswerError,
  VackClient,
  VackError,
  type ChStatus,
  type ChStatusAnswer,
  type CustCall,
  type OperStatus,
  type QueueStatusAnswer,
  type VackDoc,
} from '../../../protocols/lq-vack/index.js'
import { encodePop, formatPop, hostTimeZone, isoInZone, lqTimeToIso, PopError, type Pop } from '../../../protocols/lq-pop/index.js'
import { UnsupportedAction, VendorRefused, type ActionTable, type CallRequest, type CallResult, type Handler } from '../../core/control.js'
import { ApiError } from '../../core/errors.js'
import type { ChannelPatch, ChannelState, ChannelTable } from '../../core/table.js'
import { asVendorTimeout, PolledSource } from '../../core/polled.js'
import type { VendorAction } from '../../core/actions.js'
import type { SourceContext, VendorRecording } from '../../core/source.js'
import { vackActions } from './actions.js'
import { agentLeg, custCallReport, operAgent } from './calls.js'
import type { LqVackConfig } from './config.js'

/** pages of getCustCall one read takes at most (10 rows a page by default): the rest comes next time */
const CALL_LOG_MAX_PAGES = 200
/** a gap in the serials older than this is no call in progress: the cursor passes it */
const CALL_LOG_SETTLE_MS = 4 * 3_600_000

/** One queue of GET /v1/queues. */
export interface LqVackQueue {
  source: string
  /** inbound: callers waiting for an agent (chWaitSize); auto-outbound: callauto requests (callautoSize); batch-outbound: callusb numbers (calloutbSize) */
  queue: 'inbound' | 'auto-outbound' | 'batch-outbound'
  size: number | null
  entries: QueueStatusAnswer['entries']
  /** ISO time of the getQueueStatus answer */
  updatedAt: string
}

const PHONE = /^[0-9*#+]{1,40}$/
const AGENT = /^[^\s&=\x00-\x1f]{1,32}$/
const DIGITS = /^[0-9*#A-Da-d]{1,64}$/
const CHANNEL = /^\d{1,6}$/

/** which queue a waiting entry belongs to: by its `type` word (自动呼出, 批量外呼 …), else its inUse code */
function queueOf(e: { type: string | null; inUse: number | null }): LqVackQueue['queue'] {
  const inUse = (e.type !== null ? IN_USE_WORDS[e.type.trim()] : undefined) ?? e.inUse
  if (inUse === 4) return 'auto-outbound'
  if (inUse === 8) return 'batch-outbound'
  return 'inbound'
}

/** One vack service call a control action comes to: its vo_id (for logs and the answer) and the request. */
interface VackCall {
  voId: string
  run: (c: VackClient) => Promise<VackDoc | null>
}

/**
 * One control request as LQ sees it: LQ addresses agents and channels, not calls, so a call id is
 * looked up in the table; the acting agent is the one given, or the one on the call's / the
 * channel's line. Every check throws a 400 naming the action and the source.
 */
class VackAsk {
  readonly chan: string | undefined
  readonly byCall: { channel: string; agent: string | null } | undefined

  constructor(
    private readonly id: string,
    private readonly table: ChannelTable,
    readonly req: CallRequest,
  ) {
    if (req.callId !== undefined) {
      const e = table.list({ source: id }).find((x) => x.callId === req.callId)
      if (!e) throw this.bad(`no channel of ${id} carries call id ${req.callId}`)
      this.byCall = { channel: e.channel, agent: e.agent }
    }
    if (req.channel !== undefined && !CHANNEL.test(req.channel)) throw this.bad('channel must be a channel number')
    this.chan = req.channel ?? this.byCall?.channel
  }

  bad(msg: string): ApiError {
    return new ApiError('BAD_REQUEST', `${this.req.action} on ${this.id}: ${msg}`).with({ source: this.id, action: this.req.action })
  }

  chanKind(): unknown {
    return this.chan === undefined ? undefined : this.table.lookup(this.id, this.chan)?.vendor?.['kind']
  }

  agentOnChannel(): string | undefined {
    return this.chan === undefined ? undefined : (this.table.lookup(this.id, this.chan)?.agent ?? undefined)
  }

  checkId(v: string, name: string): string {
    if (!AGENT.test(v)) throw this.bad(`${name} must be 1–32 characters without spaces, & or =`)
    return v
  }

  /** the acting agent: given, or the agent on the call's / the channel's line */
  agent(): string {
    const a = this.req.agent ?? this.byCall?.agent ?? this.agentOnChannel()
    if (a === undefined || a === null) throw this.bad(this.chan !== undefined ? `needs agent (no agent is on channel ${this.chan})` : 'needs agent (the LQ 工号)')
    return this.checkId(a, 'agent')
  }

  target(what: string): string {
    if (this.req.target === undefined) throw this.bad(`needs target (${what})`)
    return this.checkId(this.req.target, 'target')
  }

  phone(): string {
    if (this.req.phone === undefined) throw this.bad('needs phone')
    if (!PHONE.test(this.req.phone)) throw this.bad('phone must be 1–40 of 0-9 * # +')
    return this.req.phone
  }
}

/**
 * 小灵呼 LQ-SDK service calls (`/v/vack`, seed 000): polls getChStatus into the table (this is what
 * moves LQ channels back to idle after a pop), getOperStatus and getQueueStatus less often; call
 * control through the vack services; and, on the ingest listener, the mode 1 callbacks (custURL,
 * popCRURL) turned into pops.
 */
export class LqVackSource extends PolledSource {
  readonly type = 'lq-vack'
  readonly client: VackClient
  private readonly timeZone: string
  private agents = new Map<string, OperStatus>()
  private agentsAt: number | null = null
  private queueAnswer: QueueStatusAnswer | null = null
  private queueAt: number | null = null
  private lastOperPoll = -Infinity
  private lastQueuePoll = -Infinity
  /** vendor refusals of the side queries, logged once per message */
  private readonly sideErrors = new Map<string, string>()
  private counts: Record<string, number | null> = {}
  /** one incremental reader per getChStatus query of a round */
  private readonly readers = [0, 1, 2, 3].map(() => new ChStatusReader())
  private skipped = 0
  private readonly stats = { controls: 0, refused: 0, timeouts: 0, callbacks: 0, callbacksInvalid: 0 }
  readonly callbackPath: string

  constructor(
    readonly cfg: LqVackConfig,
    ctx: SourceContext,
  ) {
    super(cfg.id, ctx, { pollMs: cfg.pollMs, downAfter: cfg.downAfter })
    this.client = new VackClient({ url: cfg.url, secret: cfg.secret, timeoutMs: cfg.timeoutMs, charset: cfg.charset, method: cfg.method })
    this.timeZone = cfg.timeZone ?? ctx.timeZone ?? hostTimeZone()
    this.callbackPath = cfg.callback.path ?? `/lq/${cfg.id}`
  }

  protected override supports(): string[] {
    return [...(this.cfg.callback.enabled ? ['pops'] : []), 'channels', 'agents', ...(this.cfg.queuePollMs > 0 ? ['queues'] : []), ...this.callActions(), 'recordings']
  }

  protected override detail(): Record<string, unknown> {
    return {
      ...super.detail(),
      url: this.cfg.url,
      timeoutMs: this.cfg.timeoutMs,
      counts: this.counts,
      skippedRecords: this.skipped,
      /** records fast-xml-parser had to parse in the last poll (unchanged ones are reused) */
      parsedRecords: this.readers[0]!.parsedRecords,
      agentsAt: this.agentsAt && new Date(this.agentsAt).toISOString(),
      agents: [...this.agents.values()],
      ...this.stats,
      callLog: { ...this.callLog, lastReadAt: this.callLog.lastReadAt && new Date(this.callLog.lastReadAt).toISOString(), serial: this.callLogSn === null ? null : String(this.callLogSn) },
      callback: this.cfg.callback.enabled ? { cust: `${this.callbackPath}/cust`, ivr: `${this.callbackPath}/ivr` } : null,
    }
  }

  // ---- polling ----------------------------------------------------------------------------------------

  private query<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    return retrying(() => fn(signal), { attempts: this.cfg.queryAttempts, baseMs: this.cfg.retryBaseMs, signal })
  }

  protected async poll(signal: AbortSignal): Promise<void> {
    const kinds = this.cfg.channelTypes.length === 0 || this.cfg.channelTypes.length === 4 ? [-1 as const] : this.cfg.channelTypes
    const answers: ChStatusAnswer[] = []
    for (const [i, k] of kinds.entries()) answers.push(await this.query((s) => this.client.getChStatus(k, { signal: s }, this.readers[i]), signal))
    const now = Date.now()
    // the side queries: a refusal (LOffice has no getQueueStatus) is logged, not a failed poll
    if (this.cfg.operPollMs > 0 && now - this.lastOperPoll >= this.cfg.operPollMs) {
      this.lastOperPoll = now
      await this.side('getOperStatus', async () => {
        const opers = this.cfg.opers.length ? this.cfg.opers : ['logon']
        const all: OperStatus[] = []
        for (const o of opers) all.push(...(await this.query((s) => this.client.getOperStatus(o, { signal: s }), signal)))
        this.agents = new Map(all.map((a) => [a.oper, a]))
        this.agentsAt = Date.now()
        this.reportAgents(all)
      })
    }
    if (this.cfg.queuePollMs > 0 && now - this.lastQueuePoll >= this.cfg.queuePollMs) {
      this.lastQueuePoll = now
      await this.side('getQueueStatus', async () => {
        this.queueAnswer = await this.query((s) => this.client.getQueueStatus({ signal: s }), signal)
        this.queueAt = Date.now()
      })
    }
    this.applyAnswers(answers, answers.length === kinds.length)
    if (this.cfg.callLogPollMs > 0 && this.ctx.calls && !this.callLogRun && now - this.lastCallLogPoll >= this.cfg.callLogPollMs) {
      this.lastCallLogPoll = now
      // its own task: the first read after start may be many pages, and line state must not wait for it
      this.callLogRun = this.readCallLog(this.callLogAbort.signal)
        .catch((err: unknown) => {
          this.callLog.errors++
          this.callLog.lastError = (err as Error).message
          this.ctx.log.warn({ err: (err as Error).message }, 'getCustCall failed; the call log is read again next time from where it was')
        })
        .finally(() => (this.callLogRun = null))
    }
  }

  /** The getOperStatus answer is every logged-in agent (oper=logon) or every agent asked for: the registry's full list for this source. */
  private reportAgents(all: readonly OperStatus[]): void {
    const calls = this.ctx.calls
    if (!calls) return
    const list = all.map((o) => operAgent(this.id, o))
    if (calls.agents) calls.agents(this.id, list)
    else for (const a of list) calls.agent(a)
  }

  // ---- the call log (getCustCall) -----------------------------------------------------------------------

  private callLogRun: Promise<void> | null = null
  private readonly callLogAbort = new AbortController()
  /** without serials (servers before 5.0.4.5): where the next read starts, by date */
  private callLogSince: number | null = null

  override async stop(): Promise<void> {
    this.callLogAbort.abort()
    await super.stop()
    await this.callLogRun
  }
  private lastCallLogPoll = -Infinity
  /** the highest 呼叫流水号 whose record is committed to the call log: the next read asks for ser_no_gt this */
  private callLogSn: bigint | null = null
  private readonly callLog = { reads: 0, records: 0, skipped: 0, errors: 0, lastError: null as string | null, lastReadAt: null as number | null }

  /**
   * One read of LQ's call log into the call tracker. The first (after start) reads from
   * callLogLookbackHours ago by date; later ones ask only for serials above the last one committed.
   * The serial moves only after the tracker has committed a record (`report` resolved), in serial
   * order, so a crash or a failed page never skips a record; a record read twice merges by its id.
   */
  private async readCallLog(signal: AbortSignal): Promise<void> {
    const calls = this.ctx.calls
    if (!calls) return
    const readAt = Date.now()
    const since = this.callLogSince ?? readAt - this.cfg.callLogLookbackHours * 3_600_000
    const dateStart = isoInZone(since, this.timeZone, false).slice(0, 10)
    const rows: CustCall[] = []
    let total: number | null = null
    let complete = false
    for (let pn = 1; pn <= CALL_LOG_MAX_PAGES; pn++) {
      const q = this.callLogSn !== null ? { serial: { gt: String(this.callLogSn) }, page: pn } : { dateStart, page: pn }
      const a = await this.query((s) => this.client.getCustCall(q, { signal: s }), signal)
      total ??= a.total
      rows.push(...a.calls)
      if (a.calls.length === 0 || (total !== null && rows.length >= total)) {
        complete = true
        break
      }
    }
    this.callLog.reads++
    this.callLog.lastReadAt = Date.now()
    const sn = (r: CustCall): bigint | null => (r.sn !== null && /^\d{1,30}$/.test(r.sn) ? BigInt(r.sn) : null)
    const ascending = rows.every((r, i) => i === 0 || (sn(r) ?? -1n) >= (sn(rows[i - 1]!) ?? -1n))
    // in serial order, so the cursor only passes records that are in
    const ordered = [...rows].sort((a, b) => {
      const x = sn(a) ?? -1n
      const y = sn(b) ?? -1n
      return x < y ? -1 : x > y ? 1 : 0
    })
    let top = this.callLogSn
    // serials are handed out when a call starts and logged when it ends: a gap is a call still going on,
    // and the cursor waits below it (the rows above are read again, and merge) until it is filled or old
    let gap = false
    for (const r of ordered) {
      // a line the popSource has popped is recorded there (with its pops): its log row goes there too
      const popped = this.cfg.popSource !== undefined && r.ch !== null && this.ctx.table.lookup(this.cfg.popSource, String(r.ch)) !== undefined
      const rep = custCallReport(popped ? this.cfg.popSource : this.id, r, this.timeZone, this.id)
      if (rep === null || (this.callLogSn === null && rep.startedAt! < since - 60_000)) {
        if (rep === null) this.callLog.skipped++
      } else {
        const done = await calls.report(rep)
        // not kept (the call log cannot be written): stop here, the next read asks again from the last committed one
        if (done === null) break
        this.callLog.records++
      }
      const s = sn(r)
      if (s === null || gap || !(complete || ascending)) continue
      const start = rep?.startedAt ?? null
      if (top === null || s === top + 1n || s <= top || start === null || start < readAt - CALL_LOG_SETTLE_MS) {
        if (top === null || s > top) top = s
      } else gap = true
    }
    this.callLogSn = top
    // no serials to ask by: the next read starts an hour before this one (a record is logged when its call ends), by date
    if (top === null && complete) this.callLogSince = readAt - 3_600_000
  }

  /**
   * One pass over the getChStatus answers of a round: only real changes emit events (the table
   * compares). `complete`: the answers cover every channel, so one the server no longer lists is set
   * offline (its configuration changed; it is not left looking alive).
   */
  applyAnswers(answers: readonly ChStatusAnswer[], complete = true): void {
    const seen = new Set<string>()
    let skipped = 0
    const kinds = new Map<number, string | null>()
    for (const a of answers) for (const c of a.channels) kinds.set(c.ch, c.kind)
    for (const a of answers) {
      skipped += a.skipped
      for (const c of a.channels) {
        const ch = String(c.ch)
        seen.add(ch)
        this.applyChannel(ch, c, kinds)
      }
    }
    this.skipped = skipped
    if (answers.length === 1) this.counts = { ...answers[0]!.counts }
    if (!complete || this.ctx.table.countBySource(this.id) === seen.size) return
    for (const e of this.ctx.table.list({ source: this.id })) {
      if (!seen.has(e.channel) && e.state !== 'offline') this.ctx.table.update(this.id, e.channel, { state: 'offline', callId: null })
    }
  }

  private async side(voId: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
      this.sideErrors.delete(voId)
    } catch (err) {
      if (!(err instanceof VackError || err instanceof VackAnswerError)) throw err
      if (this.sideErrors.get(voId) !== err.message) this.ctx.log.warn({ voId, err: err.message }, `${voId} refused; carrying on without it`)
      this.sideErrors.set(voId, err.message)
    }
  }

  /** One getChStatus record → the table (and the pop source's entry for the same channel). */
  applyChannel(ch: string, c: ChStatus, kinds?: ReadonlyMap<number, string | null>): void {
    const state: ChannelState = lineState(c)
    const dir = lineDirection(c.inUse)
    const ended = state === 'idle' || state === 'offline'
    const busy = state === 'ringing' || state === 'dialing' || state === 'talking' || state === 'held'
    // the popSource has this line: its calls are recorded there (with the pops), this entry only moves it
    const popped = this.cfg.popSource !== undefined && this.ctx.table.lookup(this.cfg.popSource, ch) !== undefined
    const peerKind = c.peerCh === null || c.peerCh < 0 ? undefined : (kinds?.get(c.peerCh) ?? (this.ctx.table.lookup(this.id, String(c.peerCh))?.vendor?.['kind'] as string | undefined) ?? undefined)
    const patch: ChannelPatch = {
      state,
      phone: c.phone,
      // three-way (9/10) tells no direction: keep what the pop or the dial said
      direction: dir ?? (c.inUse !== null && c.inUse > 0 && !ended ? undefined : null),
      agent: c.oper,
      vendor: {
        kind: c.kind,
        type: c.type,
        inUse: c.inUse,
        // the word, also when the server sent the code (inUse 0 → 未使用)
        inUseText: (c.inUse !== null ? IN_USE_NAMES[c.inUse] : undefined) ?? c.inUseText,
        status: c.status,
        statusText: c.statusText,
        step: c.step,
        peerCh: c.peerCh,
        recording: c.recording,
        listened: c.listened,
        busy: c.busy,
        file: c.file,
        startTime: c.startTime,
        endTime: c.endTime,
        loginTime: c.loginTime,
        idleTime: c.idleTime,
        // an agent channel on a call another channel records (the outside line): one call, one record
        ...(c.kind === 'agent' ? { callLeg: agentLeg(c.ch, c.peerCh, peerKind ?? undefined, busy) } : popped ? { callLeg: true } : {}),
      },
    }
    if (ended) patch.callId = null
    this.ctx.table.update(this.id, ch, patch)
    if (this.cfg.popSource !== undefined && this.ctx.table.lookup(this.cfg.popSource, ch)) {
      this.ctx.table.update(this.cfg.popSource, ch, { state, phone: c.phone, direction: patch.direction, agent: c.oper, ...(ended ? { callId: null } : {}) })
    }
  }

  queues(): LqVackQueue[] {
    const q = this.queueAnswer
    if (!q || this.queueAt === null) return []
    const updatedAt = new Date(this.queueAt).toISOString()
    const make = (queue: LqVackQueue['queue'], size: number | null): LqVackQueue => ({
      source: this.id,
      queue,
      size,
      entries: q.entries.filter((e) => queueOf(e) === queue).map((e) => ({ ...e, startTime: queueTimeToIso(e.startTime, this.queueAt!, this.timeZone) })),
      updatedAt,
    })
    return [make('inbound', q.sizes.chWait), make('auto-outbound', q.sizes.callauto), make('batch-outbound', q.sizes.calloutb)]
  }

  // ---- control ----------------------------------------------------------------------------------------

  /** The agents this source knows: the last getOperStatus answer and the agents on its channels. */
  private isKnownAgent(id: string): boolean {
    if (this.agents.has(id)) return true
    for (const e of this.ctx.table.list({ source: this.id })) if (e.agent === id) return true
    return false
  }

  /** Every API action, each a vack service (or a choice of two); this order is `supports'`. */
  protected override actions(): ActionTable {
    const on =
      (plan: (q: VackAsk) => VackCall): Handler =>
      async (req) =>
        this.send(req, plan(new VackAsk(this.id, this.ctx.table, req)))
    return {
      dial: on((q) => this.dial(q)),
      hangup: on((q) => this.hangup(q)),
      transfer: on((q) => this.transfer(q)),
      hold: on((q) => this.keep(q, 'talkkeep')),
      resume: on((q) => this.keep(q, 'talkrestore')),
      dtmf: on((q) => this.dtmf(q)),
      monitor: on((q) => this.listen(q, 'listenlc')),
      barge: on((q) => this.listen(q, 'breakin')),
      'force-hangup': on((q) => this.forceHangup(q)),
      conference: on((q) => this.conference(q)),
      presence: on((q) => this.presence(q)),
    }
  }

  private dial(q: VackAsk): VackCall {
    const { req, chan } = q
    if (req.agent === undefined && chan !== undefined && q.chanKind() !== 'agent') throw q.bad(`channel ${chan} is no agent channel (内线): dial needs the agent's channel or agent`)
    const oper = q.agent()
    const extra = req.memo !== undefined && this.cfg.memoField ? { [this.cfg.memoField]: req.memo } : undefined
    // callauto reqType 1 calls an extension: a target, or a phone that is one of this server's agents
    const ext = req.target !== undefined ? q.target('the extension to call') : req.phone !== undefined && this.isKnownAgent(req.phone) ? req.phone : undefined
    if (ext !== undefined) return { voId: 'callauto', run: (c) => c.callauto({ oper, phone: ext, reqType: 1, ch: chan, extra }) }
    const p = q.phone()
    return { voId: 'callauto', run: (c) => c.callauto({ oper, phone: p, reqType: this.cfg.dialPop ? 0 : 6, ch: chan, extra }) }
  }

  /** an agent (or an agent channel): agenthang; an external line: hangup ch */
  private hangup(q: VackAsk): VackCall {
    const { req, chan } = q
    if (req.agent !== undefined || (chan !== undefined ? q.chanKind() === 'agent' : q.byCall?.agent)) {
      const oper = q.agent()
      return { voId: 'agenthang', run: (c) => c.agenthang({ oper }) }
    }
    if (chan !== undefined) return { voId: 'hangup', run: (c) => c.hangup({ ch: chan }) }
    throw q.bad('needs agent (agenthang) or channel (hangup of an external line)')
  }

  /**
   * `ch` of transfer2Ext, callouterFast and talk3s is agent A's internal channel (内线通道号), never
   * the external line a call id or channel named: the agent channel given, else A's channel from
   * getOperStatus or the table, else -1 (the server looks it up by oper).
   */
  private agentCh(q: VackAsk, oper: string): string | undefined {
    if (q.chan !== undefined && q.chanKind() === 'agent') return q.chan
    const known = this.agents.get(oper)?.ch
    if (known !== null && known !== undefined && known >= 0) return String(known)
    const e = this.ctx.table.list({ source: this.id }).find((x) => x.agent === oper && x.vendor?.['kind'] === 'agent')
    if (e) return e.channel
    return q.chan !== undefined ? '-1' : undefined
  }

  private transfer(q: VackAsk): VackCall {
    const { req } = q
    const oper = q.agent()
    const chan = this.agentCh(q, oper)
    if (req.target !== undefined) {
      const ext = q.target('the extension to transfer to')
      return { voId: 'transfer2Ext', run: (c) => c.transfer2Ext({ oper, phone: ext, ch: chan }) }
    }
    if (req.phone !== undefined) {
      const p = q.phone()
      if (this.isKnownAgent(p)) return { voId: 'transfer2Ext', run: (c) => c.transfer2Ext({ oper, phone: p, ch: chan }) }
      return { voId: 'callouterFast', run: (c) => c.callouterFast({ oper, phone: p, ch: chan }) }
    }
    throw q.bad('needs target (an extension: transfer2Ext) or phone (an outside number: callouterFast)')
  }

  /** hold (talkkeep) and resume (talkrestore) */
  private keep(q: VackAsk, voId: 'talkkeep' | 'talkrestore'): VackCall {
    const oper = q.agent()
    return { voId, run: (c) => c[voId]({ oper, ch: q.chan }) }
  }

  private dtmf(q: VackAsk): VackCall {
    const oper = q.agent()
    const dtmf = q.req.digits
    if (dtmf === undefined || !DIGITS.test(dtmf)) throw q.bad('needs digits (1–64 of 0-9 * # A-D)')
    return { voId: 'senddtmf', run: (c) => c.senddtmf({ oper, dtmf }) }
  }

  /** monitor (listenlc) and barge (breakin): the agent listens to or joins the target's call */
  private listen(q: VackAsk, voId: 'listenlc' | 'breakin'): VackCall {
    const { req, chan } = q
    if (req.agent === undefined) throw q.bad('needs agent (the one who listens or joins)')
    const local = q.checkId(req.agent, 'agent')
    const t = req.target !== undefined ? q.target('the agent on the call') : q.agentOnChannel()
    if (t === undefined) throw q.bad(`needs target (no agent is on channel ${chan ?? '?'})`)
    const f = { oper: q.checkId(t, 'target'), operLocal: local, ch: chan }
    return { voId, run: (c) => c[voId](f) }
  }

  private forceHangup(q: VackAsk): VackCall {
    const { req, chan } = q
    const t = req.target ?? (chan !== undefined && q.chanKind() !== 'agent' ? undefined : (q.byCall?.agent ?? q.agentOnChannel()))
    if (t !== undefined && t !== null) {
      const oper = q.checkId(t, 'target')
      return { voId: 'breakout', run: (c) => c.breakout({ oper, ch: chan }) }
    }
    if (chan !== undefined) return { voId: 'hangup', run: (c) => c.hangup({ ch: chan }) }
    throw q.bad('needs target (breakout) or channel')
  }

  private conference(q: VackAsk): VackCall {
    const { req } = q
    const oper = q.agent()
    const chan = this.agentCh(q, oper)
    const t = req.target ?? (req.phone !== undefined && this.isKnownAgent(req.phone) ? req.phone : undefined)
    if (t === undefined) {
      throw new UnsupportedAction(
        this.id,
        'conference',
        req.phone !== undefined ? 'LQ three-way (talk3s) brings in another agent; an outside number needs callouterSafe then callouterSafeConf' : 'needs target, another agent',
      )
    }
    const other = q.checkId(t, 'target')
    return { voId: 'talk3s', run: (c) => c.talk3s({ oper: other, operLocal: oper, ch: chan }) }
  }

  private presence(q: VackAsk): VackCall {
    const oper = q.agent()
    if (q.req.presence !== 'busy' && q.req.presence !== 'idle') throw q.bad('needs presence busy or idle')
    const busy = q.req.presence === 'busy'
    return { voId: 'setBusyAj', run: (c) => c.setBusyAj({ oper, busy, ch: q.chan }) }
  }

  /** One vack service call: never retried (a dial that timed out may still have been placed); refusals 502, no answer 504. */
  private async send(req: CallRequest, { voId, run }: VackCall): Promise<CallResult> {
    const doc = await this.vack(req.action, voId, run, req.agent)
    // show the effect without waiting for the next round
    this.pollSoon()
    return { vendor: { voId, msg: doc?.msg ?? null, text: doc?.text ?? null, generated: doc?.generated ?? null } }
  }

  /** Run one service call: the `error` attribute → VendorRefused with the vendor's message, no answer → VendorTimeout. */
  private async vack<T>(action: string, voId: string, run: (c: VackClient) => Promise<T>, agent?: string): Promise<T> {
    this.stats.controls++
    const t0 = performance.now()
    let out: T
    try {
      out = await run(this.client)
    } catch (err) {
      const ms = Math.round(performance.now() - t0)
      if (err instanceof VackError) {
        this.stats.refused++
        this.ctx.log.info({ action, voId, agent, error: err.vendorMessage, ms }, 'LQ refused a call action')
        throw new VendorRefused(
          this.id,
          err.rcode !== null && err.rcode !== '0' ? err.rcode : 'error',
          err.text && err.text !== err.vendorMessage ? `${err.vendorMessage} (${err.text})` : err.vendorMessage,
        )
      }
      if (err instanceof VackAnswerError) {
        this.stats.refused++
        this.ctx.log.warn({ action, voId, err: err.message, raw: err.raw }, 'LQ gave an answer that is not a vack answer')
        throw new VendorRefused(this.id, err.code, err.message)
      }
      if (err instanceof HttpTimeoutError || err instanceof HttpUnreachableError) {
        this.stats.timeouts++
        this.ctx.log.warn({ action, voId, err: err.message, ms }, 'LQ did not answer a call action')
      }
      throw asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    }
    this.ctx.log.info({ action, voId, agent, ms: Math.round(performance.now() - t0) }, 'LQ call action done')
    return out
  }

  private actionList: VendorAction[] | null = null

  /** Every seed 000 service the common routes do not reach, by its vo_id (actions.ts). */
  vendorActions(): readonly VendorAction[] {
    this.actionList ??= vackActions(this.cfg.charset, async (voId, run) => {
      const out = await this.vack(voId, voId, run)
      // a control's effect shows without waiting for the next round; a query changes nothing
      if ((CONTROL_VO_IDS as readonly string[]).includes(voId)) this.pollSoon()
      return out
    })
    return this.actionList
  }

  // ---- recordings -------------------------------------------------------------------------------------

  /**
   * A recording by its call-log record: `ref` is the getCustCall `id` (来电时间+通道号, digits), or
   * `sn:<serial>` for the 呼叫流水号. playSelected type=2 gives the download URL, which is fetched
   * (Range passed on). The URL is the LQ server's own (its audio port): it must be reachable from here.
   */
  async openRecording(ref: string, o: { range?: string; signal?: AbortSignal; method?: 'GET' | 'HEAD' }): Promise<VendorRecording> {
    const m = /^(?:sn:)?(\d{1,40})$/.exec(ref)
    if (!m) throw new ApiError('BAD_REQUEST', 'callid: expected an LQ call-log id (digits) or sn:<serial>').with({ field: 'callid' })
    const q = ref.startsWith('sn:') ? { sn: m[1] } : { id: m[1] }
    const { url } = await this.vack('recording', 'playSelected', (c) =>
      retrying(() => c.playSelected({ ...q, download: true }, { signal: o.signal }), { attempts: this.cfg.queryAttempts, baseMs: this.cfg.retryBaseMs, signal: o.signal }),
    )
    if (url === null || !/^https?:\/\/\S+$/.test(url)) throw new ApiError('NOT_FOUND', `recording of call ${ref}`).with({ source: this.id, callid: ref })
    const res = await openRequest(url, { method: o.method ?? 'GET', headers: o.range ? { range: o.range } : {}, timeoutMs: this.cfg.timeoutMs, signal: o.signal }).catch((err: unknown) => {
      throw asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    })
    return { status: res.statusCode ?? 0, headers: res.headers, body: res, service: 'playSelected' }
  }

  // ---- mode 1 callbacks ---------------------------------------------------------------------------------

  ingestRoutes(app: FastifyInstance): void {
    if (!this.cfg.callback.enabled) return
    // the fields are read from the raw query in callback.charset (GBK by default), so nothing is declared
    // for fastify to check; answers are the vendor's plain text, HTML or a redirect
    const doc = (what: string) => ({
      summary: `LQ ${what} callback for source ${this.id}`,
      description: 'Fields by query string (phone, oper, ch, outch, datetime, startTime, dtmf, id, key), in callback.charset.',
      tags: ['lq-vack'],
    })
    app.get(`${this.callbackPath}/cust`, { schema: doc("custURL (screen pop in the agent's browser)") }, (req, reply) => this.onCallback('cust', req, reply))
    app.get(`${this.callbackPath}/ivr`, { schema: doc('popCRURL (IVR pop)') }, (req, reply) => this.onCallback('ivr', req, reply))
  }

  private async onCallback(kind: 'cust' | 'ivr', req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const q = callbackFields(req.raw.url ?? '', this.cfg.callback.charset)
    const key = this.cfg.callback.key
    if (key !== undefined && q['key'] !== key) {
      this.ctx.log.warn({ ip: req.ip, kind }, 'LQ callback without the right key; ignored')
      return reply.code(403).type('text/plain; charset=utf-8').send('forbidden: wrong or missing key\n')
    }
    delete q['key']
    const r = kind === 'cust' ? this.custPop(q) : this.ivrPop(q)
    if (r instanceof PopError) {
      this.stats.callbacksInvalid++
      this.ctx.pops.invalid(this.id, r)
      return reply
        .code(400)
        .type('text/plain; charset=utf-8')
        .send(`invalid ${kind === 'cust' ? 'custURL' : 'popCRURL'} call: ${r.message}\n`)
    }
    this.stats.callbacks++
    const record = this.ctx.pops.accept(this.id, r.pop, r.payload, 0)
    if (kind === 'ivr') return reply.type('text/plain; charset=utf-8').send('ok\n')
    // custURL is opened in the agent's browser window: send it on to the CRM, or show the pop
    const tpl = this.cfg.callback.redirect
    if (tpl) {
      const fill = (name: string): string =>
        encodeURIComponent(({ phone: r.pop.phone, oper: r.pop.agent, ch: r.pop.channel === null ? null : String(r.pop.channel), id: r.pop.callId } as Record<string, string | null>)[name] ?? '')
      return reply.redirect(
        tpl.replace(/\{(phone|oper|ch|id)\}/g, (_m, n: string) => fill(n)),
        302,
      )
    }
    const esc = (s: string | null) => (s ?? '').replace(/[&<>"']/g, (x) => `&#${x.charCodeAt(0)};`)
    return reply
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><meta charset="utf-8"><title>来电 ${esc(r.pop.phone)}</title>` +
          `<p>来电 <b>${esc(r.pop.phone)}</b> · 坐席 ${esc(r.pop.agent)} · 通道 ${esc(String(r.pop.channel))} · ${esc(r.pop.time)}</p>` +
          `<p>telbridge event ${record.eventId}</p>\n`,
      )
  }

  /** custURL: phone, oper, ch, outch, startTime, datetime, dtmf, id → an inbound pop on the external line. */
  custPop(q: Record<string, string>): { pop: Pop; payload: Buffer } | PopError {
    const pop = decodeCustCallback(q, this.timeZone)
    return pop instanceof PopError ? pop : { pop, payload: this.payload(pop, pop.format as 't1v2' | 't1v3') }
  }

  /** popCRURL: v, r, ph, pa, da → a t2 pop (an E-IVR result). */
  ivrPop(q: Record<string, string>): { pop: Pop; payload: Buffer } | PopError {
    const pop = decodeIvrCallback(q)
    return pop instanceof PopError ? pop : { pop, payload: this.payload(pop, 't2') }
  }

  /**
   * The pop as LQ-Connect would have sent it, for the legacy socket clients of telbridge's LQ server.
   * Empty when a value cannot be carried in a pop string (a `,` or `;` in it): the pop itself is
   * published all the same.
   */
  private payload(pop: Pop, format: 't1v2' | 't1v3' | 't2'): Buffer {
    try {
      const text = formatPop(
        {
          channel: pop.channel,
          phone: pop.phone,
          time: pop.time === null ? null : Date.parse(pop.time),
          timeZone: this.timeZone,
          callId: pop.callId,
          agent: pop.agent,
          dtmf: pop.dtmf,
          data: pop.data,
          ivr: pop.ivr,
        },
        format,
      )
      const buf = encodePop(text)
      return buf.length <= 255 ? buf : Buffer.alloc(0)
    } catch (err) {
      if (err instanceof RangeError) return Buffer.alloc(0)
      throw err
    }
  }
}

/**
 * getQueueStatus gives `startTime` as a wall-clock time of day (`14:18:25`, the server's zone); the
 * API's times are ISO 8601. Its date is the answer's, or the day before when that time is still to
 * come (a wait that began before midnight). Anything else the server might send becomes null.
 */
export function queueTimeToIso(time: string | null, answeredAt: number, zone: string): string | null {
  const m = time === null ? null : /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(time.trim())
  if (!m) return null
  const hms = m[1]!.padStart(2, '0') + m[2]! + m[3]!
  const on = (utcMs: number) => {
    const d = isoInZone(utcMs, zone, false) // YYYY-MM-DDT…
    return lqTimeToIso(d.slice(2, 4) + d.slice(5, 7) + d.slice(8, 10) + hms, zone)
  }
  const today = on(answeredAt)
  if (today === null) return null
  return Date.parse(today) > answeredAt + 60_000 ? on(answeredAt - 86_400_000) : today
}
