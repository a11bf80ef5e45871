import { randomUUID } from 'node:crypto'
import type { Db } from '../db.js'
import type { EventBus } from '../events.js'
import type { Logger } from '../log.js'
import type { Counter, Metrics } from '../metrics.js'
import type { PopRecord } from '../pops.js'
import type { ChannelChange, ChannelState } from '../table.js'
import { CallLog, callKey } from './log.js'
import { callJson, type AgentReport, type Call, type CallInput, type CallReport, type CallSink, type Disposition } from './types.js'

/**
 * The call tracker: one record per call, whatever told telbridge about it.
 *
 * - Line state (every source moves the channel table): a call starts when a channel leaves
 *   idle/offline/unknown for ringing/dialing/talking/held, is answered at its first `talking`, and
 *   ends when the channel is idle again (or goes offline/unknown: the end is not known, `endedAt` null).
 * - Reports (CallSink.report): pops, vendor pushes, vendor call logs, uploads. A report joins the call
 *   that has one of its vendor ids; else the live call on its channel; else a call of the same source
 *   whose start is within `matchWindowMs` and whose channel, agent, phone and direction do not
 *   disagree (the nearest start wins); else it starts a call of its own.
 * - Merging: a vendor's record (push, log, upload) is the vendor's own accounting and overrides what
 *   line state inferred (disposition, durations, agent, phone); line state and pops only fill what is
 *   empty. Start times stay telbridge's own where it saw the call (one clock for every vendor).
 *
 * Finished calls are written to SQLite in one transaction per tick and their `call.ended` event is
 * published only after the commit, so a record any client saw survives a crash. Calls in progress
 * live in memory.
 */

export interface CallTrackerDeps {
  log: Logger
  bus: EventBus
  metrics: Metrics
  /** how far apart two inputs' start times may be and still be one call; default 120 s */
  matchWindowMs?: number
  now?: () => number
  /** the agent registry reports go to */
  onAgent?: (a: AgentReport) => void
  onAgents?: (source: string, list: readonly AgentReport[]) => void
}

const ACTIVE: ReadonlySet<ChannelState> = new Set(['ringing', 'dialing', 'talking', 'held'])
/** pop kinds sent only in a call already answered (transfers, three-way) */
const ANSWERED_KINDS: ReadonlySet<string> = new Set(['inbound-three-way', 'inbound-transfer', 'outbound-transfer', 'outbound-three-way'])
const VENDOR_INPUTS: ReadonlySet<CallInput> = new Set(['push', 'log', 'upload'])
/** finished calls waiting for a commit beyond this are refused (logged, counted): memory stays bounded while the disk fails */
const MAX_PENDING = 100_000
/** a call no line follows and no vendor report has touched for this long is written with its end unknown */
const STALE_MS = 4 * 3600_000
const NOT_AWAITED: Promise<Call | null> = Promise.resolve(null)

interface Pending {
  call: Call
  /** events to publish after the commit */
  events: ('call.ended' | 'call.updated')[]
  waiters: ((c: Call | null) => void)[]
}

export class CallTracker implements CallSink {
  private log: CallLog | null = null
  /** running without a database: calls are announced, not stored */
  private unlogged = false
  /** calls in progress, by call id */
  private readonly live = new Map<string, Call>()
  /** table channel id → the live call on it */
  private readonly byChannel = new Map<string, Call>()
  /** channel ids whose call a vendor record already finished while the line was still busy */
  private readonly detached = new Set<string>()
  /** vendor keys of live calls */
  private readonly liveKeys = new Map<string, Call>()
  private readonly pending = new Map<string, Pending>()
  /** calls started this tick: call.started waits one tick so the pop that started it can add its data */
  private readonly starting = new Set<Call>()
  private flushScheduled = false
  private retryTimer: NodeJS.Timeout | null = null
  private sweeper: NodeJS.Timeout | null = null
  private readonly now: () => number
  private readonly windowMs: number
  private readonly m: { calls: Counter; reports: Counter; writeErrors: Counter }

  constructor(private readonly deps: CallTrackerDeps) {
    this.now = deps.now ?? Date.now
    this.windowMs = deps.matchWindowMs ?? 120_000
    const mt = deps.metrics
    this.m = {
      calls: mt.counter('telbridge_calls_total', 'Finished calls written to the call log, by disposition', ['disposition']),
      reports: mt.counter('telbridge_call_reports_total', 'Call inputs merged by the tracker, by input kind and outcome (new, merged)', ['input', 'outcome']),
      writeErrors: mt.counter('telbridge_call_log_write_errors_total', 'Failed commits of the call log (retried)'),
    }
    mt.gauge('telbridge_calls_active', 'Calls in progress', () => [[undefined, this.live.size]])
  }

  /**
   * Calls that only a vendor's live report started (no line to watch) and that no report finished:
   * after `staleMs` without news they are written with the end unknown, so the live set stays bounded.
   */
  sweepStale(staleMs = STALE_MS): number {
    const cutoff = this.now() - staleMs
    const onLine = new Set(this.byChannel.values())
    let n = 0
    for (const c of [...this.live.values()]) {
      if (c.updatedMs > cutoff) continue
      if (onLine.has(c)) {
        // a line stuck busy for hours (a box gone silent keeps its last state): the line's next change ends it
        continue
      }
      void this.finish(c, false)
      n++
    }
    return n
  }

  /** Start writing: finished calls queued before are committed now. */
  open(db: Db | null): void {
    // no database (it did not open): finished calls are announced and forgotten, so nothing piles up
    this.unlogged = db === null
    this.log = db && new CallLog(db)
    if (this.pending.size) this.scheduleFlush()
    this.sweeper ??= setInterval(() => this.sweepStale(), 60_000)
    this.sweeper.unref()
  }

  get callLog(): CallLog | null {
    return this.log
  }

  get activeCount(): number {
    return this.live.size
  }

  /** Calls in progress, oldest first. */
  activeCalls(): Call[] {
    return [...this.live.values()]
  }

  /** The live call on a table channel (`<source>:<channel>`). */
  activeOn(channelId: string): Call | undefined {
    return this.byChannel.get(channelId)
  }

  agent(a: AgentReport): void {
    this.deps.onAgent?.(a)
  }

  agents(source: string, list: readonly AgentReport[]): void {
    this.deps.onAgents?.(source, list)
  }

  // ---- line state ----

  onChannel(change: ChannelChange): void {
    const e = change.entry
    const id = e.id
    let call = this.byChannel.get(id)
    if (change.changed[0] === 'removed') {
      if (call) this.endLine(id, call, null)
      this.detached.delete(id)
      return
    }
    const t = this.now()
    if (ACTIVE.has(e.state)) {
      // a line that rings (or dials) again under a new vendor call id before it was seen idle (a pop-only source never sees the
      // hang-up): the last call ended, this is another. A new id mid-talk (a transfer) stays the same call.
      if (call && e.callId && (e.state === 'ringing' || e.state === 'dialing') && call.vendorIds.callId !== undefined && call.vendorIds.callId !== e.callId && change.changed.includes('callId')) {
        this.endLine(id, call, null)
        call = undefined
      }
      if (!call) {
        if (this.detached.has(id)) return
        // the vendor's record of this very call came first (its log beat the line's late pushes): the line adds nothing
        if (e.callId && this.finishedUnseen(e.source, e.channel, e.callId)) {
          this.detached.add(id)
          return
        }
        const leg = e.vendor?.callLeg
        if (leg !== undefined && leg !== null && leg !== false) {
          // a leg of a call another channel records (LQ: an agent's extension on an outside line): it names the agent, it is no call of its own
          const main = typeof leg === 'string' ? this.byChannel.get(`${e.source}:${leg}`) : undefined
          if (main && e.agent && main.agent === null) main.agent = e.agent
          return
        }
        call = this.newCall(e.source, 'line', t)
        call.channel = e.channel
        this.byChannel.set(id, call)
        this.live.set(call.id, call)
        this.starting.add(call)
        this.scheduleFlush()
      }
      if (!vendorSaid(call)) {
        if (e.phone) call.phone = e.phone
        if (e.direction) call.direction = e.direction
        if (e.agent) call.agent = e.agent
      } else {
        call.phone ??= e.phone
        call.direction ??= e.direction
        call.agent ??= e.agent
      }
      if (e.callId && !call.vendorIds.callId) this.addKey(call, 'callId', e.callId)
      const memo = e.vendor?.paramvalue
      if (typeof memo === 'string' && memo && call.memo === null) call.memo = memo
      if (e.state === 'talking' && call.answeredMs === null) {
        call.answeredMs = t
        call.updatedMs = t
        // answered in the tick it started: flush() announces it right after call.started
        if (!this.starting.has(call)) this.deps.bus.publish('call.answered', callJson(call))
      }
      return
    }
    this.detached.delete(id)
    if (!call) return
    // idle: the call ended now; offline/unknown: telbridge lost sight of the line and does not know when
    this.endLine(id, call, e.state === 'idle' ? t : null)
  }

  private endLine(channelId: string, call: Call, endedMs: number | null): void {
    this.byChannel.delete(channelId)
    if (call.endedMs === null) call.endedMs = endedMs
    void this.finish(call, false)
  }

  // ---- pops ----

  onPop(r: PopRecord): void {
    const p = r.pop
    const call = r.channelId ? this.byChannel.get(r.channelId) : undefined
    const pairs = p.dataPairs
    const data: Record<string, unknown> = {}
    if (p.data && Object.keys(p.data).length) Object.assign(data, p.data)
    if (p.member) data.member = p.member
    if (p.kind) data.kind = p.kind
    if (p.originAgent) data.originAgent = p.originAgent
    const report: CallReport = {
      source: r.source,
      input: 'pop',
      channel: p.channel === null ? null : String(p.channel),
      agent: p.agent,
      phone: p.phone,
      direction: p.direction,
      // a transfer or three-way pop (LQ ty 3, 5, 6, 7) comes during a call someone already answered
      disposition: p.kind !== null && ANSWERED_KINDS.has(p.kind) ? 'answered' : null,
      popData: Object.keys(data).length || (pairs && pairs.length) ? data : null,
      vendorIds: { ...(p.callId ? { callId: p.callId } : {}), ...(p.serial ? { sn: p.serial } : {}) },
      final: false,
    }
    if (call) {
      this.merge(call, report)
      return
    }
    void this.report(report)
  }

  // ---- reports ----

  report(r: CallReport): Promise<Call | null> {
    const final = r.final ?? (r.input === 'log' || r.input === 'upload' || (r.input === 'push' && r.endedAt != null))
    const found = this.find(r)
    let call: Call
    let isNew = false
    // a finished record the report adds nothing to (a vendor log read again) is neither written nor announced
    const before = found && !this.live.has(found.id) && !this.pending.has(found.id) ? sameness(found) : null
    if (found) {
      call = found
      this.merge(call, r)
      this.m.reports.inc({ input: r.input, outcome: 'merged' })
    } else {
      const t = this.now()
      const start = r.startedAt ?? (r.endedAt != null ? r.endedAt - 1000 * ((r.ringSeconds ?? 0) + (r.talkSeconds ?? 0)) : t)
      call = this.newCall(r.source, r.input, start)
      this.merge(call, r)
      isNew = true
      this.m.reports.inc({ input: r.input, outcome: 'new' })
    }
    if (this.live.has(call.id)) {
      if (final && call.endedMs !== null) {
        // the vendor closed it while the line still shows it: finish now; the line's idle adds nothing
        for (const [ch, c] of this.byChannel) {
          if (c !== call) continue
          this.byChannel.delete(ch)
          this.detached.add(ch)
        }
        return this.finish(call)
      }
      return Promise.resolve(call)
    }
    if (isNew && !final) {
      // a call known only from a vendor's live report (a pop or push before any line change)
      this.live.set(call.id, call)
      for (const k of Object.keys(call.vendorIds)) this.liveKeys.set(callKey(call.source, k, call.vendorIds[k]!), call)
      if (r.channel) this.byChannel.set(`${r.source}:${r.channel}`, call)
      this.starting.add(call)
      this.scheduleFlush()
      return Promise.resolve(call)
    }
    // a finished call: new (a vendor record of a call telbridge did not see) or one already in the log
    this.derive(call)
    if (before !== null && sameness(call) === before) return Promise.resolve(call)
    return this.enqueue(call, isNew ? 'call.ended' : 'call.updated')
  }

  private find(r: CallReport): Call | undefined {
    const ids = r.vendorIds ? Object.entries(r.vendorIds) : []
    for (const [n, v] of ids) {
      const k = callKey(r.source, n, v)
      const c = this.liveKeys.get(k) ?? this.pendingByKey(k) ?? this.log?.byKey(k)
      if (c) return this.current(c)
    }
    if (r.channel) {
      const c = this.byChannel.get(`${r.source}:${r.channel}`)
      if (c && compatible(c, r, this.windowMs)) return c
    }
    const start = r.startedAt
    if (start == null) return undefined
    let best: Call | undefined
    let bestGap = Infinity
    const consider = (c: Call) => {
      if (c.source !== r.source || !compatible(c, r, this.windowMs)) return
      const gap = Math.abs(c.startedMs - start)
      if (gap < bestGap) {
        best = c
        bestGap = gap
      }
    }
    for (const c of this.live.values()) consider(c)
    for (const p of this.pending.values()) consider(p.call)
    for (const c of this.log?.window(r.source, start - this.windowMs, start + this.windowMs) ?? []) consider(this.current(c))
    return best
  }

  /** The in-memory copy of a call when there is one (live or waiting for its commit). */
  private current(c: Call): Call {
    return this.live.get(c.id) ?? this.pending.get(c.id)?.call ?? c
  }

  /** A finished call with this callId that no line followed, on this channel (or none): what a late line start belongs to. */
  private finishedUnseen(source: string, channel: string, callId: string): Call | undefined {
    const k = callKey(source, 'callId', callId)
    const c = this.pendingByKey(k) ?? this.log?.byKey(k)
    return c && !c.inputs.includes('line') && (c.channel === null || c.channel === channel) ? c : undefined
  }

  private pendingByKey(key: string): Call | undefined {
    for (const p of this.pending.values()) {
      for (const [n, v] of Object.entries(p.call.vendorIds)) if (callKey(p.call.source, n, v) === key) return p.call
    }
    return undefined
  }

  private newCall(source: string, input: CallInput, startedMs: number): Call {
    return {
      id: randomUUID(),
      source,
      channel: null,
      agent: null,
      direction: null,
      phone: null,
      startedMs,
      answeredMs: null,
      endedMs: null,
      ringSeconds: null,
      talkSeconds: null,
      disposition: 'unknown',
      recordings: [],
      vendorIds: {},
      popData: null,
      memo: null,
      inputs: [input],
      updatedMs: this.now(),
    }
  }

  private addKey(call: Call, name: string, value: string): void {
    if (call.vendorIds[name] !== undefined) return
    call.vendorIds[name] = value
    if (this.live.has(call.id)) this.liveKeys.set(callKey(call.source, name, value), call)
  }

  /** Merge a report into a call (see the class comment for who wins). */
  private merge(call: Call, r: CallReport): void {
    const vendor = VENDOR_INPUTS.has(r.input)
    const hadVendor = vendorSaid(call)
    const take = vendor || !hadVendor
    const set = <K extends 'channel' | 'agent' | 'direction' | 'phone' | 'memo'>(k: K, v: Call[K] | undefined) => {
      if (v === undefined || v === null || v === '') return
      if (call[k] === null || take) call[k] = v
    }
    set('channel', r.channel)
    set('agent', r.agent)
    set('direction', r.direction)
    set('phone', r.phone)
    set('memo', r.memo)
    // telbridge's own clock where it saw the call; the vendor's where it did not
    if (r.startedAt != null && (!call.inputs.includes('line') || call.startedMs > r.startedAt + this.windowMs)) call.startedMs = Math.min(call.startedMs, r.startedAt)
    if (r.answeredAt != null && (call.answeredMs === null || (vendor && !call.inputs.includes('line')))) call.answeredMs = r.answeredAt
    if (r.endedAt != null && (call.endedMs === null || (vendor && !call.inputs.includes('line')))) call.endedMs = r.endedAt
    if (r.ringSeconds != null && (call.ringSeconds === null || vendor)) call.ringSeconds = r.ringSeconds
    if (r.talkSeconds != null && (call.talkSeconds === null || vendor)) call.talkSeconds = r.talkSeconds
    if (r.disposition && (vendor || call.disposition === 'unknown')) call.disposition = r.disposition
    for (const rec of r.recordings ?? []) {
      if (!call.recordings.some((x) => x.kind === rec.kind && x.id === rec.id && x.source === rec.source)) call.recordings.push({ ...rec })
    }
    if (r.vendorIds) for (const [n, v] of Object.entries(r.vendorIds)) if (typeof v === 'string' && v) this.addKey(call, n, v)
    if (r.popData) call.popData = { ...(call.popData ?? {}), ...r.popData }
    if (!call.inputs.includes(r.input)) call.inputs.push(r.input)
    call.updatedMs = this.now()
    if (r.agent) this.deps.onAgent?.({ source: r.source, agent: r.agent, ...(r.channel ? { channels: [r.channel] } : {}) })
  }

  /** Fill durations and disposition from what is known, where no vendor said. */
  private derive(call: Call): void {
    if (call.ringSeconds === null) {
      const until = call.answeredMs ?? call.endedMs
      if (until !== null) call.ringSeconds = Math.max(0, Math.round((until - call.startedMs) / 1000))
    }
    if (call.talkSeconds === null) {
      if (call.answeredMs === null) call.talkSeconds = call.endedMs === null ? null : 0
      else if (call.endedMs !== null) call.talkSeconds = Math.max(0, Math.round((call.endedMs - call.answeredMs) / 1000))
    }
    if (call.disposition === 'unknown') call.disposition = inferDisposition(call)
    // "not answered" from a vendor that does not say which way (800hu `unkown`): an outbound call that never connected failed
    else if (call.disposition === 'missed' && call.direction === 'outbound') call.disposition = 'failed'
    // and a missed call nobody saw the direction of (a box's 未接 upload alone) rang in: missed is inbound by definition
    else if (call.disposition === 'missed' && call.direction === null) call.direction = 'inbound'
  }

  private finish(call: Call, wait = true): Promise<Call | null> {
    this.live.delete(call.id)
    for (const k of Object.keys(call.vendorIds)) this.liveKeys.delete(callKey(call.source, k, call.vendorIds[k]!))
    this.derive(call)
    call.updatedMs = this.now()
    return this.enqueue(call, 'call.ended', wait)
  }

  // ---- writing ----

  /** `wait` false: nobody awaits the commit (a line's end), so no promise is made per call. */
  private enqueue(call: Call, event: 'call.ended' | 'call.updated', wait = true): Promise<Call | null> {
    let p = this.pending.get(call.id)
    if (!p) {
      if (this.pending.size >= MAX_PENDING) {
        this.deps.log.error({ call: call.id, pending: this.pending.size }, 'call log not writable and its queue is full: call record dropped')
        return Promise.resolve(null)
      }
      p = { call, events: [], waiters: [] }
      this.pending.set(call.id, p)
    }
    p.call = call
    // a call that ends and is updated before its commit is announced once, as ended
    if (!p.events.includes('call.ended') && !p.events.includes(event)) p.events.push(event)
    this.scheduleFlush()
    return wait ? new Promise((resolve) => p.waiters.push(resolve)) : NOT_AWAITED
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => this.flush())
  }

  /** Commit what is pending, then announce it. */
  flush(): void {
    this.flushScheduled = false
    for (const c of this.starting) {
      if (!this.live.has(c.id) && !this.pending.has(c.id)) continue
      // one JSON form for both events: the bus serialises it, nobody mutates it
      const json = callJson(c)
      this.deps.bus.publish('call.started', json)
      if (c.answeredMs !== null) this.deps.bus.publish('call.answered', json)
    }
    this.starting.clear()
    if (!this.pending.size || (!this.log && !this.unlogged) || this.retryTimer) return
    const batch = [...this.pending.values()]
    try {
      this.log?.write(batch.map((p) => p.call))
    } catch (err) {
      this.m.writeErrors.inc()
      this.deps.log.error({ err, calls: batch.length }, 'call log commit failed; retrying in 1 s')
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null
        this.scheduleFlush()
      }, 1000)
      this.retryTimer.unref()
      return
    }
    for (const p of batch) {
      this.pending.delete(p.call.id)
      if (p.events.includes('call.ended')) this.m.calls.inc({ disposition: p.call.disposition })
      const json = callJson(p.call)
      for (const ev of p.events) this.deps.bus.publish(ev, json)
      for (const w of p.waiters) w(p.call)
    }
  }

  /** Commit what is pending (at stop). */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = null
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.flush()
  }
}

/** A call's content without its update time: equal before and after a merge when the merge changed nothing. */
function sameness(c: Call): string {
  return JSON.stringify({ ...c, updatedMs: 0 })
}

function vendorSaid(c: Call): boolean {
  return c.inputs.some((i) => VENDOR_INPUTS.has(i))
}

/** Digits only, without a leading 0/+/country code difference: `013800138000` and `13800138000` match. */
function phoneMatches(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return true
  const x = a.replace(/\D/g, '').replace(/^0+/, '')
  const y = b.replace(/\D/g, '').replace(/^0+/, '')
  if (!x || !y) return true
  return x.endsWith(y) || y.endsWith(x)
}

/** Could a report be about this call? Nothing it says may disagree. */
function compatible(c: Call, r: CallReport, windowMs: number): boolean {
  if (r.startedAt != null && Math.abs(c.startedMs - r.startedAt) > windowMs) return false
  if (r.channel && c.channel && r.channel !== c.channel) return false
  if (r.agent && c.agent && r.agent !== c.agent && !r.channel) return false
  if (r.direction && c.direction && r.direction !== c.direction && r.direction !== 'internal' && c.direction !== 'internal') return false
  if (!phoneMatches(c.phone, r.phone)) return false
  if (r.vendorIds) for (const [n, v] of Object.entries(r.vendorIds)) if (c.vendorIds[n] !== undefined && c.vendorIds[n] !== v) return false
  return true
}

/** What line state alone says of a finished call. */
export function inferDisposition(c: Call): Disposition {
  if (c.answeredMs !== null || (c.talkSeconds ?? 0) > 0) return 'answered'
  if (c.endedMs === null) return 'unknown'
  if (c.direction === 'inbound') return 'missed'
  if (c.direction === 'outbound') return 'failed'
  return 'unknown'
}
