import { lookup } from 'node:dns/promises'
import { readFile } from 'node:fs/promises'
import { BlockList, isIP } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  CALL_ID_PATTERN,
  decodeQuery,
  GuoxinClient,
  GuoxinRefused,
  NUMBER_PATTERN,
  parseClickCallId,
  parsePush,
  type CallLog,
  type CallLogQuery,
  type ExtState,
  type GuoxinOk,
  type GuoxinPush,
  type Skipped,
} from '../../../protocols/guoxin/index.js'
import { encodePop, formatPop, hostTimeZone, localOffset, tryParsePop } from '../../../protocols/lq-pop/index.js'
import { badField, need, UnsupportedAction, VendorRefused, type ActionTable, type CallRequest, type CallResult } from '../../core/control.js'
import { ApiError } from '../../core/errors.js'
import { errorSchema } from '../../core/route-schema.js'
import type { ChannelEntry, ChannelPatch, ChannelState } from '../../core/table.js'
import { writeAtomic } from '../../core/fs.js'
import type { GuoxinConfig } from './config.js'
import { PolledSource, asVendorTimeout } from '../../core/polled.js'
import type { SourceContext, VendorRecording } from '../../core/source.js'
import type { VendorAction } from '../../core/actions.js'
import { guoxinActions } from './actions.js'
import { extAgent, logReport, pushReport, unrungReport, type PushLeg } from './calls.js'

/** States a poll's coarse BUSY_* must not overwrite: pushes and control actions know better. */
const IN_CALL: readonly ChannelState[] = ['ringing', 'dialing', 'talking', 'held']
/** Click-to-dial ids remembered for hang-up and correlation. */
const DIALS_KEEP = 2000

/** A click-to-dial telbridge placed: the answer's clickcallid, and the push id once a push shows the call. */
interface ClickDial {
  clickcallid: string
  ext: string
  callee: string
  at: number
  callId: string | null
}

/** States a push sets that an IDEL poll may not end (see heldByPush). */
const PUSH_HELD: readonly ChannelState[] = ['ringing', 'dialing', 'talking']
/** Remembered call ids that already made a pop (one pop per call and extension). */
const POPPED_KEEP = 2000
const SKIPPED_LOG_EVERY_MS = 60_000
/** A push is a handful of short fields: a form body beyond this is not one. */
const PUSH_BODY_MAX = 8192
/** CALL_LOG_QUERY page size (the seed's example asks 1000) and pages per round */
const LOG_PAGE = 1000
const LOG_MAX_PAGES = 10
/** a STATE_RECEIVING entry holds the call-log cursor this long at most */
const RECEIVING_HOLD_MS = 6 * 3_600_000
/** the longest a push answer waits for the commit of the call it ended */
const PUSH_COMMIT_WAIT_MS = 2000
/** Call ids whose first extension leg is remembered (a transfer's later legs are told apart by it). */
const LEGS_KEEP = 2000

/**
 * Guoxin call center (seed 001): polls EXTNUM_STATE into the table (one channel per extension,
 * presence and missed-call count in `vendor`), takes the server's push callbacks on the ingest
 * listener (state changes, and screen pops from the callee leg), and drives calls through
 * `/bridge/callctrl`. Control actions are sent once; a refusal carries the vendor's status code and
 * what it means for that operation.
 */
export class GuoxinSource extends PolledSource {
  readonly type = 'guoxin'
  readonly client: GuoxinClient
  readonly pushPath: string
  private readonly watch: ReadonlySet<string> | null
  private allow: BlockList | 'any' | null = null
  private allowProblem: string | null = null
  /** extension → epoch ms of the last push or control action that set its state */
  private readonly touchedAt = new Map<string, number>()
  /** `${callId}|${ext}` of pops made, oldest first */
  private readonly popped = new Set<string>()
  /** extension → the call a push put it in (ringing, dialing, talking) and when that call last pushed */
  private readonly pushHeld = new Map<string, { callId: string; at: number }>()
  /** clickcallid → the click-to-dial it answered (oldest first, at most DIALS_KEEP) */
  private readonly dials = new Map<string, ClickDial>()
  /** extension → the clickcallid of its latest click-to-dial, until that call ends */
  private readonly dialOf = new Map<string, string>()
  /** extension → third party of a CALL_THIRD in progress */
  private readonly consults = new Map<string, string>()
  /** extension → conference id of a conference it created */
  private readonly conferences = new Map<string, string>()
  private lastSkippedLog = 0
  private logDueAt = 0
  /** the reports of the push being applied (applyPush's answer waits for them) */
  private committing: Promise<unknown>[] = []
  /** the call-log cursor: the last entry id whose call is committed, and its beginTime */
  private readonly logCursor = {
    beyond: new Set<number>(),
    loaded: false,
    id: null as number | null,
    at: null as number | null,
    saved: null as string | null,
    reported: 0,
    lastError: null as string | null,
  }
  /** EXTNUM_STATE extension → what the agent registry was last told */
  private readonly agentSig = new Map<string, string>()
  /** push id → the first extension it reached (oldest first, at most LEGS_KEEP) */
  private readonly legs = new Map<string, string>()
  private readonly popOpts: { timeZone?: string }
  private stats = { pushes: 0, pushesRejected: 0, pushesForbidden: 0, pops: 0, lastPushAt: null as number | null, controls: 0, refused: 0 }

  constructor(
    readonly cfg: GuoxinConfig,
    ctx: SourceContext,
  ) {
    super(cfg.id, ctx, { pollMs: cfg.pollMs, downAfter: cfg.downAfter })
    this.client = new GuoxinClient({ url: cfg.url, timeoutMs: cfg.timeoutMs, encoding: cfg.encoding })
    this.pushPath = cfg.pushPath ?? `/guoxin/${cfg.id}/push`
    this.watch = cfg.extensions ? new Set(cfg.extensions) : null
    this.popOpts = { timeZone: cfg.timeZone ?? ctx.timeZone }
  }

  override start(): void {
    void this.resolveAllow()
    super.start()
  }

  protected override supports(): string[] {
    return ['pops', ...this.callActions(), 'recordings', 'call-log']
  }

  protected override detail(): Record<string, unknown> {
    return {
      ...super.detail(),
      url: this.client.base,
      timeoutMs: this.cfg.timeoutMs,
      encoding: this.cfg.encoding,
      dialLine: this.cfg.dialLine,
      extensions: this.watch ? [...this.watch] : 'all',
      pushPath: this.pushPath,
      pushAllow: this.cfg.pushAllow ?? (this.allowProblem ? `unresolved: ${this.allowProblem}` : 'the server address'),
      pushes: this.stats.pushes,
      pushesRejected: this.stats.pushesRejected,
      pushesForbidden: this.stats.pushesForbidden,
      lastPushAt: this.stats.lastPushAt && new Date(this.stats.lastPushAt).toISOString(),
      pops: this.stats.pops,
      callLog: this.cfg.callLogPollMs > 0 ? { cursor: this.logCursor.id, reported: this.logCursor.reported, lastError: this.logCursor.lastError } : null,
      controls: this.stats.controls,
      refused: this.stats.refused,
    }
  }

  // ---- polling ----

  protected async poll(signal: AbortSignal): Promise<void> {
    const startedAt = Date.now()
    if (!this.allow) void this.resolveAllow()
    const { states, skipped } = await this.client.extStates({ signal })
    if (skipped.length) this.noteSkipped(skipped)
    this.applyStates(states, startedAt)
    this.reportAgents(states)
    if (this.cfg.callLogPollMs > 0 && this.ctx.calls && Date.now() >= this.logDueAt) {
      this.logDueAt = Date.now() + this.cfg.callLogPollMs
      // a call-log failure is logged, not a reason to call the extensions unknown
      await this.pollCallLog(signal).catch((err: unknown) => {
        if (signal.aborted) return
        const msg = (err as Error).message
        if (msg !== this.logCursor.lastError) this.ctx.log.warn({ err: msg }, 'CALL_LOG_QUERY failed; the call log resumes on a later round')
        this.logCursor.lastError = msg
      })
    }
  }

  /** Extensions to the agent registry, each when what EXTNUM_STATE says of it changed. */
  private reportAgents(states: readonly ExtState[]): void {
    const sink = this.ctx.calls
    if (!sink) return
    for (const s of states) {
      if (this.watch && !this.watch.has(s.telNum)) continue
      const a = extAgent(this.id, s)
      const sig = `${a.name ?? ''}|${a.presence ?? ''}|${String(a.loggedIn)}`
      if (this.agentSig.get(s.telNum) === sig) continue
      this.agentSig.set(s.telNum, sig)
      sink.agent(a)
    }
  }

  // ---- call log (§21) into the call log ----

  /**
   * One round: the entries after the cursor, oldest first, reported; the cursor moves over those
   * whose call is committed, and stops at a call still talking (STATE_RECEIVING) so its final entry
   * is read later (the entries after it are reported meanwhile). The query is by date: from the cursor entry's day (or the lookback) to tomorrow,
   * paged with `first` as an offset; entries at or before the cursor are skipped.
   */
  private async pollCallLog(signal: AbortSignal): Promise<void> {
    if (!this.logCursor.loaded) await this.loadLogCursor()
    const now = Date.now()
    const fromMs = this.logCursor.at ?? now - this.cfg.callLogLookbackHours * 3_600_000
    const q = { beginDate: this.serverDate(fromMs - 86_400_000), endDate: this.serverDate(now + 86_400_000) }
    const entries: CallLog[] = []
    for (let page = 0; page < LOG_MAX_PAGES && !signal.aborted; page++) {
      const r = await this.client.callLogQuery({ ...q, first: page * LOG_PAGE, maxResults: LOG_PAGE }, { signal })
      if (r.skipped.length) this.ctx.log.warn({ skipped: r.skipped.slice(0, 5), count: r.skipped.length }, 'CALL_LOG_QUERY entries skipped')
      entries.push(...r.logs)
      if (r.logs.length + r.skipped.length < LOG_PAGE) break
    }
    const after = this.logCursor.id ?? -1
    const fresh = entries
      .filter((l) => l.id > after && (this.logCursor.id !== null || (l.beginTime ?? now) >= fromMs))
      .sort((a, b) => a.id - b.id)
      .filter((l, i, all) => i === 0 || all[i - 1]!.id !== l.id)
    const HOLD = 'hold'
    const batch: { l: CallLog; done: Promise<unknown> }[] = []
    for (const l of fresh) {
      // reported in an earlier round while the cursor was held behind a call still talking
      if (this.logCursor.beyond.has(l.id)) batch.push({ l, done: Promise.resolve(false) })
      // still talking: its final entry comes later (one that stays "talking" for hours is taken as it is)
      else if (l.state === 'receiving' && (l.beginTime ?? 0) > now - RECEIVING_HOLD_MS) batch.push({ l, done: Promise.resolve(HOLD) })
      else {
        const r = logReport(this.id, l, (n) => this.isExtension(n))
        // a transfer's later leg has the first leg's call id: the entry names the extension it ended on
        const first = l.callid ? this.legs.get(l.callid) : undefined
        if (r && first !== undefined && r.channel !== first && r.vendorIds) r.vendorIds = Object.fromEntries(Object.entries(r.vendorIds).filter(([k]) => k !== 'callId'))
        // bounded: a call log that cannot commit (a failing disk) must not stop the EXTNUM_STATE polls; the cursor then stays
        batch.push({ l, done: r ? withinMs(this.ctx.calls!.report(r), PUSH_COMMIT_WAIT_MS * 5) : Promise.resolve(true) })
      }
    }
    const results = await Promise.all(batch.map((b) => b.done))
    // the cursor moves over the committed entries up to the first one still talking (or not taken);
    // entries after that are reported all the same and remembered, so a long call delays no other
    let held = false
    let moved = false
    for (let i = 0; i < batch.length; i++) {
      const res = results[i]
      const l = batch[i]!.l
      if (res === null || res === HOLD) held = true
      else if (!held) {
        this.logCursor.id = l.id
        this.logCursor.at = l.beginTime ?? this.logCursor.at
        moved = true
      } else this.logCursor.beyond.add(l.id)
      if (res !== null && res !== HOLD && res !== false) this.logCursor.reported++
    }
    for (const id of this.logCursor.beyond) if (id <= (this.logCursor.id ?? -1)) this.logCursor.beyond.delete(id)
    // a re-report is harmless (the entry's id finds its call): the memory stays bounded
    if (this.logCursor.beyond.size > 50_000) this.logCursor.beyond.clear()
    this.logCursor.lastError = null
    if (moved) await this.saveLogCursor()
    if (results.includes(null)) throw new Error('the call log did not take every entry; the rest is read again next round')
  }

  private async loadLogCursor(): Promise<void> {
    const file = this.cfg.callLogCursorFile
    this.logCursor.loaded = true
    if (!file) return
    try {
      const text = (await readFile(file, 'utf8')).trim()
      const m = /^(\d{1,15}) (\d{1,15})$/.exec(text)
      if (m) {
        this.logCursor.id = Number(m[1])
        this.logCursor.at = Number(m[2])
        this.logCursor.saved = text
      } else this.ctx.log.warn({ file, content: text.slice(0, 40) }, 'call-log cursor file holds no cursor; starting from the lookback')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }

  /** Written atomically: a crash leaves the old cursor or the new, never half. */
  private async saveLogCursor(): Promise<void> {
    const file = this.cfg.callLogCursorFile
    if (!file || this.logCursor.id === null) return
    const text = `${this.logCursor.id} ${this.logCursor.at ?? 0}`
    if (text === this.logCursor.saved) return
    await writeAtomic(file, `${text}\n`, { mode: 0o644 })
    this.logCursor.saved = text
  }

  /** yyyy-MM-dd in the server's zone. */
  private serverDate(ms: number): string {
    const zone = this.cfg.timeZone ?? this.ctx.timeZone ?? hostTimeZone()
    return new Date(ms + localOffset(ms, zone)).toISOString().slice(0, 10)
  }

  private noteSkipped(skipped: Skipped[]): void {
    const now = Date.now()
    if (now - this.lastSkippedLog < SKIPPED_LOG_EVERY_MS) return
    this.lastSkippedLog = now
    this.ctx.log.warn({ skipped: skipped.slice(0, 10), count: skipped.length }, 'EXTNUM_STATE entries skipped')
  }

  /** One EXTNUM_STATE answer onto the table. `startedAt`: when the request went out. */
  applyStates(states: readonly ExtState[], startedAt: number): void {
    const seen = new Set<string>()
    for (const s of states) {
      if (this.watch && !this.watch.has(s.telNum)) continue
      seen.add(s.telNum)
      this.ctx.table.update(this.id, s.telNum, this.patchFor(s, startedAt))
    }
    if (this.watch) {
      // a watched extension the server does not list: we cannot tell its state
      for (const ext of this.watch) if (!seen.has(ext)) this.ctx.table.update(this.id, ext, { state: 'unknown', vendor: { listed: false } })
    } else if (seen.size === 0) {
      // an empty list from a server that had extensions is more likely a hiccup (a restart) than
      // every extension deleted: keep the channels, as unknown
      this.ctx.table.updateSource(this.id, { state: 'unknown' })
    } else {
      // an extension deleted on the server leaves the table
      for (const e of this.ctx.table.list({ source: this.id })) if (!seen.has(e.channel)) this.ctx.table.remove(e.id)
    }
  }

  private patchFor(s: ExtState, startedAt: number): ChannelPatch {
    const vendor: Record<string, unknown> = {
      userName: s.userName,
      presence: s.presence,
      missingCallCount: s.missingCallCount,
      registered: s.registered,
      phoneType: s.phoneType,
      state: s.stateRaw,
    }
    const cur = this.ctx.table.lookup(this.id, s.telNum)
    // a push or control action after this poll went out is newer than the poll's answer
    const newer = (this.touchedAt.get(s.telNum) ?? 0) >= startedAt
    const idle: ChannelPatch = { phone: null, direction: null, callId: null }
    if (s.state === 'offline' || (s.registered === false && s.state !== 'busy-incoming' && s.state !== 'busy-outgoing')) {
      this.forgetCall(s.telNum)
      return { state: 'offline', ...idle, agent: s.telNum, vendor }
    }
    if (s.state === 'idle') {
      if (newer || this.heldByPush(s.telNum, cur)) return { agent: s.telNum, vendor }
      this.forgetCall(s.telNum)
      return { state: 'idle', ...idle, agent: s.telNum, vendor }
    }
    if (s.state === 'busy-incoming' || s.state === 'busy-outgoing') {
      const patch: ChannelPatch = { agent: s.telNum, vendor }
      if (newer && cur && !IN_CALL.includes(cur.state)) return patch
      if (!cur || !IN_CALL.includes(cur.state)) patch.state = 'talking'
      patch.direction = s.state === 'busy-incoming' ? 'inbound' : 'outbound'
      if (s.remoteNum !== null) patch.phone = s.remoteNum
      return patch
    }
    return { state: 'unknown', agent: s.telNum, vendor }
  }

  /**
   * A push is fresher than a poll: the server's EXTNUM_STATE says IDEL while a phone rings, so an
   * IDEL poll must not end a call a push started. It does once no push for that call came within
   * pushHoldSeconds (a lost hungup push must not leave the extension in a call forever).
   */
  private heldByPush(ext: string, cur: ChannelEntry | undefined): boolean {
    const held = this.pushHeld.get(ext)
    if (!held || !cur || cur.callId !== held.callId || !PUSH_HELD.includes(cur.state)) return false
    if (Date.now() - held.at < this.cfg.pushHoldSeconds * 1000) return true
    this.ctx.log.info({ ext, callId: held.callId, pushHoldSeconds: this.cfg.pushHoldSeconds }, 'no push for the call within pushHoldSeconds; the IDEL poll ends it')
    return false
  }

  private forgetCall(ext: string): void {
    this.pushHeld.delete(ext)
    // a click-to-dial not yet seen by a push survives an IDEL poll (the agent's phone may be ringing)
    const d = this.dialOf.get(ext)
    if (d !== undefined && this.dials.get(d)?.callId !== null) this.dialOf.delete(ext)
    this.consults.delete(ext)
    this.conferences.delete(ext)
  }

  // ---- push callbacks ----

  /** Who may push: the configured addresses, or the address(es) of the server's URL. */
  private async resolveAllow(): Promise<void> {
    const list = new BlockList()
    const add = (a: string) => {
      if (a.includes('/')) {
        const [net, bits] = a.split('/') as [string, string]
        list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4')
      } else list.addAddress(a, isIP(a) === 6 ? 'ipv6' : 'ipv4')
    }
    if (this.cfg.pushAllow) {
      if (this.cfg.pushAllow.includes('any')) this.allow = 'any'
      else {
        this.cfg.pushAllow.forEach(add)
        this.allow = list
      }
      return
    }
    const host = new URL(this.cfg.url).hostname.replace(/^\[|\]$/g, '')
    try {
      const addrs = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address)
      addrs.forEach(add)
      // a server configured by a loopback name may push from either loopback family
      if (addrs.some((a) => a === '127.0.0.1' || a === '::1')) ['127.0.0.1', '::1'].forEach(add)
      this.allow = list
      this.allowProblem = null
    } catch (err) {
      this.allowProblem = `cannot resolve ${host}: ${(err as Error).message}`
      this.ctx.log.warn({ host, err: (err as Error).message }, 'cannot resolve the Guoxin server; pushes are refused until it resolves (or set pushAllow)')
    }
  }

  private pushAllowed(ip: string): boolean {
    if (this.allow === 'any') return true
    if (!this.allow) return false
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
    const addr = v4 ? v4[1]! : ip
    return this.allow.check(addr, isIP(addr) === 6 ? 'ipv6' : 'ipv4')
  }

  ingestRoutes(app: FastifyInstance): void {
    // the push's fields are parsePush's to check: its 400 names the field and counts the bad push
    const schema = {
      summary: `Guoxin server push for source ${this.id} (call state changes)`,
      description:
        'Fields by query string (GET, as the Guoxin server sends them) or form body (POST, application/x-www-form-urlencoded), percent-encoded in the source\'s `encoding`; accepted from pushAllow only. Answers "ok" (text/plain).',
      tags: ['guoxin'],
      response: { 200: { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } } } }, '4xx': errorSchema },
    }
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!this.pushAllowed(req.ip)) {
        this.stats.pushesForbidden++
        this.ctx.log.warn({ ip: req.ip }, 'Guoxin push from an address not allowed; refused')
        throw new ApiError('FORBIDDEN', `pushes to ${this.pushPath} are accepted from the Guoxin server only (pushAllow), not from ${req.ip}`)
      }
      // decoded here, not by fastify: the server percent-encodes in its own charset (GBK on older installs)
      const qi = req.url.indexOf('?')
      const fields = pushFields(qi < 0 ? '' : req.url.slice(qi + 1), typeof req.body === 'string' ? req.body : '', this.cfg.encoding)
      const r = parsePush(fields)
      if (!r.ok) {
        this.stats.pushesRejected++
        this.ctx.log.warn({ ip: req.ip, field: r.field, url: req.url.slice(0, 300) }, `bad Guoxin push: ${r.message}`)
        throw new ApiError('BAD_REQUEST', `${r.field}: ${r.message}`).with({ field: r.field })
      }
      this.stats.pushes++
      this.stats.lastPushAt = Date.now()
      // a call's end is answered once its record is committed (bounded: a failing disk does not hold the server's push)
      await withinMs(this.applyPush(r.push), PUSH_COMMIT_WAIT_MS)
      reply.type('text/plain; charset=utf-8')
      return 'ok'
    }
    void app.register(async (sub) => {
      // a form body is kept as its raw text (read as latin1): its %XX are in the server's charset
      sub.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: PUSH_BODY_MAX }, (_req, body, done) => done(null, (body as Buffer).toString('latin1')))
      sub.get(this.pushPath, { schema }, handler)
      const body = { description: 'the push fields (id, caller, callee, state, direction, businessId, group) as a form, percent-encoded in the source encoding', type: 'string' }
      sub.post(
        this.pushPath,
        {
          schema: { ...schema, consumes: ['application/x-www-form-urlencoded'], body },
          // a POST with its fields in the query string only has no body: an empty form
          preValidation: async (req) => {
            if (req.body === undefined || req.body === null) req.body = ''
          },
        },
        handler,
      )
    })
  }

  private isExtension(n: string | null): n is string {
    if (n === null) return false
    return this.watch ? this.watch.has(n) : this.ctx.table.lookup(this.id, n) !== undefined
  }

  /** One push onto the table (and a pop from the callee leg). Exposed for tests and benches. */
  applyPush(p: GuoxinPush): Promise<unknown> {
    const now = Date.now()
    // extensions are what EXTNUM_STATE lists (or `extensions`): a customer's number never becomes a channel
    const callee = this.isExtension(p.callee)
    const caller = this.isExtension(p.caller)
    if (!callee && !caller) this.ctx.log.debug({ id: p.id, caller: p.caller, callee: p.callee }, 'Guoxin push names no known extension; ignored')
    // a click-to-dial rings the agent's own phone first: that leg names the extension as its callee,
    // but the extension is the caller of the call (dialing, no pop)
    const dial = callee ? this.pendingDial(p.callee, p) : undefined
    if (dial) {
      dial.callId ??= p.id
      this.applyLeg(p.callee, p, 'outbound', dial.callee, now, { ext: p.callee, direction: 'outbound', phone: dial.callee, withCallId: true, clickcallid: dial.clickcallid })
    } else if (callee && !(p.mainCall && p.state === 'calling')) {
      // a maincall `calling` only says the caller reached the server: the callee's own leg tells its ringing
      // (an extension-to-extension call: the caller's leg carries the call id, see calls.ts)
      const leg: PushLeg | null = p.mainCall ? null : { ext: p.callee, direction: caller ? 'internal' : 'inbound', phone: p.caller, withCallId: !caller }
      if (p.mainCall && p.state === 'canceled' && !this.legs.has(p.id)) this.unrung(p, now)
      this.applyLeg(p.callee, p, 'inbound', p.caller, now, leg)
    }
    if (caller) this.applyLeg(p.caller!, p, 'outbound', p.callee, now, p.mainCall ? null : { ext: p.caller!, direction: callee ? 'internal' : 'outbound', phone: p.callee, withCallId: true })
    if (callee && !dial && !p.mainCall && (p.state === 'ringing' || p.state === 'talking')) this.pop(p)
    const done = this.committing
    this.committing = []
    return done.length ? Promise.all(done) : Promise.resolve()
  }

  /** A push leg to the call log (before the table ends the line, after it starts it: the report then finds the line's live call). */
  private reportLeg(p: GuoxinPush, leg: PushLeg, now: number): void {
    const sink = this.ctx.calls
    if (!sink) return
    if (!this.legs.has(p.id)) {
      this.legs.set(p.id, leg.ext)
      if (this.legs.size > LEGS_KEEP) this.legs.delete(this.legs.keys().next().value!)
    }
    this.committing.push(sink.report(pushReport(this.id, p, leg, now)))
  }

  /** The caller gave up before the extension rang (it was busy, or set busy): a call of its own. */
  private unrung(p: GuoxinPush, now: number): void {
    const cur = this.ctx.table.lookup(this.id, p.callee)
    if (this.ctx.calls) this.committing.push(this.ctx.calls.report(unrungReport(this.id, p, cur !== undefined && IN_CALL.includes(cur.state), now)))
  }

  /** The click-to-dial of `ext` a push with `ext` as callee belongs to: maincall legs, or legs from the dialed number. */
  private pendingDial(ext: string, p: GuoxinPush): ClickDial | undefined {
    const id = this.dialOf.get(ext)
    const d = id === undefined ? undefined : this.dials.get(id)
    if (!d) return undefined
    if (d.callId !== null) return d.callId === p.id ? d : undefined
    // no push of it within pushHoldSeconds: this push is another call
    if (Date.now() - d.at > Math.max(this.cfg.pushHoldSeconds, 10) * 1000) return undefined
    return p.mainCall || p.caller === d.callee ? d : undefined
  }

  private applyLeg(ext: string, p: GuoxinPush, direction: 'inbound' | 'outbound', other: string | null, now: number, leg: PushLeg | null): void {
    const cur = this.ctx.table.lookup(this.id, ext)
    if (p.state === 'hungup' || p.state === 'canceled') {
      // the end of another call (e.g. the leg a transfer left) must not idle the extension's current one
      if (cur && cur.callId !== null && cur.callId !== p.id) return
      if (leg) this.reportLeg(p, leg, now)
      this.touchedAt.set(ext, now)
      this.forgetCall(ext)
      this.dialOf.delete(ext)
      this.ctx.table.update(this.id, ext, { state: 'idle', phone: null, direction: null, callId: null, agent: ext })
      return
    }
    const state: ChannelState = p.state === 'talking' ? 'talking' : direction === 'inbound' ? 'ringing' : 'dialing'
    // a consult (CALL_THIRD) keeps the extension `held` while its legs report talking
    if (cur?.state === 'held' && this.consults.has(ext) && cur.callId === p.id) return
    this.touchedAt.set(ext, now)
    this.pushHeld.set(ext, { callId: p.id, at: now })
    this.ctx.table.update(this.id, ext, { state, phone: other, direction, callId: p.id, agent: ext })
    if (leg) this.reportLeg(p, leg, now)
  }

  private pop(p: GuoxinPush): void {
    const key = `${p.id}|${p.callee}`
    if (this.popped.has(key)) return
    this.popped.add(key)
    if (this.popped.size > POPPED_KEEP) this.popped.delete(this.popped.values().next().value!)
    try {
      // the pop travels as an LQ t1v5 string, so legacy LQ clients behind telbridge's LQ server get it too
      const text = formatPop(
        {
          channel: 0,
          phone: p.caller ?? '',
          time: Date.now(),
          timeZone: this.popOpts.timeZone,
          callId: p.id,
          agent: p.callee,
          serial: p.businessId ?? '',
          kindCode: 1,
          data: p.group ? { group: p.group } : null,
        },
        't1v5',
      )
      const payload = encodePop(text)
      const r = tryParsePop(payload, this.popOpts)
      if (!r.ok) throw r.error
      // Guoxin has no trunk channel (ch=0): the pop names the extension as its agent, and the table
      // entry is this source's own (set from the push), not the pop hub's
      this.ctx.pops.accept(this.id, { ...r.pop, channel: null }, payload, 0)
      this.stats.pops++
    } catch (err) {
      this.ctx.log.error({ err, callId: p.id }, 'could not build a pop from a Guoxin push')
    }
  }

  // ---- call control ----

  private ext(req: CallRequest): string {
    let ext = req.agent ?? req.channel
    if (ext === undefined && req.callId !== undefined) ext = this.byCallId(req.callId)?.channel ?? this.dials.get(req.callId)?.ext
    if (ext === undefined) throw badField('agent', `${req.action} needs the agent's extension (agent or channel${req.callId ? `; no extension is in call ${req.callId}` : ''})`)
    return checkNumber('agent', ext)
  }

  private byCallId(callId: string): ChannelEntry | undefined {
    return this.ctx.table.list({ source: this.id }).find((e) => e.callId === callId)
  }

  /** Mark an extension's state after an accepted action (the next poll confirms). */
  private mark(ext: string, patch: ChannelPatch): void {
    this.touchedAt.set(ext, Date.now())
    this.ctx.table.update(this.id, ext, patch)
  }

  /** Guoxin's call control; this order is `supports'`. DTMF: the interface has none. */
  protected override actions(): ActionTable {
    return {
      dial: (req) => this.dial(req),
      hangup: (req) => this.hangup(req),
      transfer: (req) => this.transfer(req),
      hold: (req) => this.hold(req),
      resume: (req) => this.resume(req),
      monitor: (req) => this.supervise(req, (p) => this.client.monitor(p)),
      barge: (req) => this.supervise(req, (p) => this.client.forcePickup(p)),
      'force-hangup': (req) => this.supervise(req, (p) => this.client.forceHungup(p)),
      conference: (req) => this.conference(req),
      presence: (req) => this.presence(req),
    }
  }

  protected override unsupportedWhy(action: string): string | undefined {
    return action === 'dtmf' ? 'the Guoxin interface has no DTMF operation' : undefined
  }

  /** One control request, sent once; a refusal carries the vendor's status and its meaning. */
  private async send(fn: () => Promise<GuoxinOk>): Promise<GuoxinOk> {
    this.stats.controls++
    try {
      return await fn()
    } catch (err) {
      if (err instanceof GuoxinRefused) {
        this.stats.refused++
        throw new VendorRefused(this.id, err.status, `${err.opt}: ${err.meaning.en}${err.meaning.zh ? ` (${err.meaning.zh})` : ''}`)
      }
      throw asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    }
  }

  private done(ok: GuoxinOk, callId?: string): CallResult {
    this.pollSoon()
    return { ...(callId ? { callId } : {}), vendor: { opt: ok.opt, status: ok.status, meaning: ok.meaning.en } }
  }

  private async dial(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    const phone = checkNumber('phone', need(req.phone, 'phone', 'dial needs the number to call'))
    const ok = await this.send(() => this.client.clickToDial({ caller: ext, callee: phone, line: this.cfg.dialLine }))
    // the answer body is the call's clickcallid (seed §21): the API's callId, for hang-up and the call log
    const clickcallid = parseClickCallId(ok.body)
    if (clickcallid === null) {
      if (ok.body.trim() !== '') this.ctx.log.warn({ body: ok.body.slice(0, 200) }, 'CLICK_TO_DIAL answer is no clickcallid; the call has no callId')
      return this.done(ok)
    }
    this.dials.delete(clickcallid)
    this.dials.set(clickcallid, { clickcallid, ext, callee: phone, at: Date.now(), callId: null })
    if (this.dials.size > DIALS_KEEP) this.dials.delete(this.dials.keys().next().value!)
    this.dialOf.set(ext, clickcallid)
    const r = this.done(ok, clickcallid)
    return { ...r, vendor: { ...(r.vendor as Record<string, unknown>), clickcallid } }
  }

  private async hangup(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    // the callee: given, else the table's (push or poll), else the number telbridge dialed; unknown
    // (a call placed elsewhere, seen by no push, polled without remoteNum) it is left out
    const byId = req.callId !== undefined ? this.dials.get(req.callId) : undefined
    const latest = this.dialOf.get(ext)
    const dialed = byId ?? (latest !== undefined ? this.dials.get(latest) : undefined)
    const phone = req.phone ?? this.ctx.table.lookup(this.id, ext)?.phone ?? dialed?.callee
    return this.done(await this.send(() => this.client.clickToHangup({ caller: ext, callee: phone })))
  }

  private async transfer(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    const target = req.target ?? req.phone
    const consult = this.consults.get(ext)
    if (consult !== undefined && (target === undefined || target === consult)) {
      const ok = await this.send(() => this.client.callThirdTransfer({ callee: ext }))
      this.forgetCall(ext)
      return this.done(ok)
    }
    const to = checkNumber('target', need(target, 'target', 'transfer needs target (an extension) or phone'))
    return this.done(await this.send(() => this.client.transfer({ extnum: ext, target: to })))
  }

  private async hold(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    const target = req.target ?? req.phone
    if (target === undefined) throw new UnsupportedAction(this.id, 'hold', 'Guoxin holds a caller only while calling a third party (CALL_THIRD): give target or phone')
    const to = checkNumber('target', target)
    const ok = await this.send(() => this.client.callThird({ callee: ext, target: to }))
    this.consults.set(ext, to)
    this.mark(ext, { state: 'held' })
    return this.done(ok)
  }

  private async resume(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    const ok = await this.send(() => this.client.callThirdResume({ callee: ext }))
    this.consults.delete(ext)
    if (this.ctx.table.lookup(this.id, ext)?.state === 'held') this.mark(ext, { state: 'talking' })
    return this.done(ok)
  }

  private async conference(req: CallRequest): Promise<CallResult> {
    const target = req.target ?? req.phone
    // a call id that is no extension's call names a conference to join (CONFERENCE_JOIN)
    if (req.agent === undefined && req.channel === undefined && req.callId !== undefined && !this.byCallId(req.callId)) {
      const to = checkNumber('target', need(target, 'target', 'joining a conference needs target or phone'))
      return this.done(await this.send(() => this.client.conferenceJoin({ conferenceid: req.callId!, target: to })), req.callId)
    }
    const ext = this.ext(req)
    const consult = this.consults.get(ext)
    if (consult !== undefined && (target === undefined || target === consult)) {
      const ok = await this.send(() => this.client.callThirdConference({ callee: ext }))
      this.consults.delete(ext)
      this.mark(ext, { state: 'talking' })
      return this.done(ok)
    }
    const to = checkNumber('target', need(target, 'target', 'conference needs target or phone'))
    const existing = this.conferences.get(ext)
    if (existing !== undefined) return this.done(await this.send(() => this.client.conferenceJoin({ conferenceid: existing, target: to })), existing)
    const e = this.ctx.table.lookup(this.id, ext)
    if (!e?.phone || !e.direction) throw badField('agent', `extension ${ext} is in no call telbridge knows the parties of; CONFERENCE_CREATE needs the caller and callee`)
    const [caller, callee] = e.direction === 'inbound' ? [e.phone, ext] : [ext, e.phone]
    const ok = await this.send(() => this.client.conferenceCreate({ caller, callee, target: to }))
    // the seed: the conference is usually numbered by the creating call's caller
    this.conferences.set(ext, caller)
    return this.done(ok, caller)
  }

  /** monitor, barge, force-hangup: a supervisor's extension acting on an agent's call. */
  private async supervise(req: CallRequest, fn: (p: { leaderExtnum: string; wokerExtnum: string }) => Promise<GuoxinOk>): Promise<CallResult> {
    const workerRaw = req.target ?? req.channel ?? (req.callId !== undefined ? this.byCallId(req.callId)?.channel : undefined)
    const leader = checkNumber('agent', need(req.agent, 'agent', `${req.action} needs agent: the supervisor's extension (Guoxin checks its "坐席监控" permission)`))
    const worker = checkNumber('target', need(workerRaw, 'target', `${req.action} needs target: the extension of the agent whose call it is`))
    return this.done(await this.send(() => fn({ leaderExtnum: leader, wokerExtnum: worker })))
  }

  private async presence(req: CallRequest): Promise<CallResult> {
    const ext = this.ext(req)
    const state = req.presence === 'busy' ? 'busy' : req.presence === 'idle' ? 'online' : undefined
    if (!state) throw badField('presence', 'presence must be busy or idle')
    return this.done(await this.send(() => this.client.setPresence({ extnum: ext, state })))
  }

  // ---- vendor actions (POST /v1/sources/:id/actions/<opt>) ----

  private vendorActionList: VendorAction[] | null = null

  /** Every opt of seed 001 the common call-control routes do not reach (daemon/vendors/guoxin/actions.ts). */
  vendorActions(): readonly VendorAction[] {
    return (this.vendorActionList ??= guoxinActions({
      client: this.client,
      control: (fn) => this.send(fn),
      query: (fn) =>
        fn().catch((err: unknown) => {
          throw this.queryError(err)
        }),
      consultStarted: (callee, target) => {
        this.consults.set(callee, target)
        this.mark(callee, { state: 'held' })
        this.pollSoon()
      },
    }))
  }

  // ---- recordings and call log (for guoxinApiRoutes) ----

  /** The call's recording from the server's FileDownServlet (Range passed through). */
  async openRecording(callid: string, o: { range?: string; signal?: AbortSignal; method?: 'GET' | 'HEAD' }): Promise<VendorRecording> {
    if (!CALL_ID_PATTERN.test(callid)) throw new ApiError('BAD_REQUEST', 'callid: expected a Guoxin call id (1–128 of A-Z a-z 0-9 @ . _ : -)').with({ field: 'callid' })
    const rec = await this.client.openRecording(callid, o).catch((err: unknown) => {
      throw asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    })
    return { ...rec, service: 'FileDownServlet' }
  }

  async callLog(q: CallLogQuery): Promise<{ logs: CallLog[]; skipped: Skipped[] }> {
    return this.client.callLogQuery(q).catch((err: unknown) => {
      throw this.queryError(err)
    })
  }

  async callLogEntry(callid: string): Promise<CallLog | null> {
    return this.client.callLogByCallId(callid).catch((err: unknown) => {
      throw this.queryError(err)
    })
  }

  private queryError(err: unknown): unknown {
    if (err instanceof GuoxinRefused) return new VendorRefused(this.id, err.status, `${err.opt}: ${err.meaning.en}${err.meaning.zh ? ` (${err.meaning.zh})` : ''}`)
    return asVendorTimeout(this.id, this.cfg.timeoutMs, err)
  }
}

/** The promise's value, or null when it fails or takes longer than ms. */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))
  return Promise.race([p.catch(() => null), late]).finally(() => clearTimeout(timer))
}

/** Query and form fields of a push: a repeated name (in either, or both) becomes an array, which parsePush refuses. */
function pushFields(query: string, body: string, encoding: GuoxinConfig['encoding']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (const part of [query, body]) {
    for (const [k, vs] of decodeQuery(part, encoding)) {
      const prev = out[k]
      const all = [...(prev === undefined ? [] : Array.isArray(prev) ? prev : [prev]), ...vs]
      out[k] = all.length === 1 ? all[0]! : all
    }
  }
  return out
}

function checkNumber(field: string, v: string): string {
  if (!NUMBER_PATTERN.test(v)) throw badField(field, `${field} must be an extension or phone number (1–64 of 0-9 A-Z a-z * # + . _ -), got ${JSON.stringify(v.slice(0, 40))}`)
  return v
}
