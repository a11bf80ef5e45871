import { readFile } from 'node:fs/promises'
import { HttpTimeoutError, HttpUnreachableError, openRequest, retrying } from '../../../protocols/http/client.js'
import { formatOffset, hostTimeZone, localOffset } from '../../../protocols/lq-pop/index.js'
import {
  SPY_TYPE,
  YantongClient,
  YantongError,
  YantongFormatError,
  type Answer,
  type CdrQuery,
  type CdrRecord,
  type Customer,
  type ExtenStatus,
  type SpyType,
} from '../../../protocols/yantong/index.js'
import type { ActionOutcome, ActionParam, VendorAction } from '../../core/actions.js'
import { need as needField, VendorRefused, type ActionTable, type CallRequest, type CallResult } from '../../core/control.js'
import { writeAtomic } from '../../core/fs.js'
import type { ChannelPatch } from '../../core/table.js'
import { PolledSource, asVendorTimeout } from '../../core/polled.js'
import { ApiError } from '../../core/errors.js'
import type { SourceContext, VendorRecording } from '../../core/source.js'
import type { YantongConfig } from './config.js'
import { cdrReport, mapExtenStatus, staffAgent } from './calls.js'

export { mapExtenStatus }

/** A dial we placed marks the staff member's next call outbound for this long (ring + answer time). */
const DIAL_MEMORY_MS = 120_000
/** How long a CDR page waits for the call log's commit before the round gives up (the cursor stays). */
const COMMIT_WAIT_MS = 10_000
/** With no `staff` configured, the staff list comes from GetUserInfo, refreshed this often. */
const STAFF_REFRESH_MS = 300_000

/** Field forms of seed 004, shared by the vendor actions (the seed gives types, not forms: these are ours). */
const STAFF = { type: 'string', pattern: /^[0-9A-Za-z_.@-]{1,32}$/, patternText: 'a staff id (1–32 letters, digits, _ . @ -)' } as const
const PHONE = { type: 'string', pattern: /^\+?[0-9][0-9*#-]{0,39}$/, patternText: 'a phone number (digits, optional leading +, * # -; at most 40)' } as const
const TIME = { type: 'string', pattern: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, patternText: "a time as YYYY-MM-DD HH:MM:SS (the vendor's local time)" } as const
/** an Asterisk uniqueid (`1451974063.123`) or any similar id: what GetRecord and the recordings route accept */
export const UNIQUEID_PATTERN = /^[0-9A-Za-z_.:-]{1,64}$/
const UNIQUEID = { type: 'string', pattern: UNIQUEID_PATTERN, patternText: 'a call uniqueid (1–64 of A-Z a-z 0-9 _ . : -)' } as const
const CODEID = { type: 'string', maxLength: 64 } as const
const CUSTOMER: readonly ActionParam[] = [
  { name: 'phonenum', ...PHONE, required: true, description: "the customer's phone number (客户手机号码)" },
  { name: 'name', type: 'string', maxLength: 64, description: "the customer's name (客户姓名)" },
  { name: 'address', type: 'string', maxLength: 256, description: "the customer's address (客户地址信息)" },
  { name: 'email', type: 'string', maxLength: 128, description: "the customer's e-mail address (客户邮件地址)" },
  { name: 'comment', type: 'string', maxLength: 1000, description: 'a note (备注)' },
]

/** errno values that describe the staff member's phone, not a failed request: the line is offline. */
const OFFLINE_ERRNO = new Set([5, 6, 7, 8])
/** errno values that fail the whole poll: every answer would be the same. */
const FATAL_ERRNO = new Set([2, 3, 4])

/**
 * 言通 Yantong (seed 004). Polls ExtenStatus for each staff member (工号 = 分机号: one channel each),
 * follows GetCDRList with the PId cursor and publishes each call record as a `cdr` event, and
 * carries dial / hang-up / listen / three-way through the control API.
 */
export class YantongSource extends PolledSource {
  readonly type = 'yantong'
  readonly client: YantongClient
  private staff: string[]
  private staffRefreshedAt = 0
  private readonly zone: string
  /** last PId seen; null until loaded or initialised */
  private cursor: number | null = null
  private cdrDueAt = 0
  private cdrPublished = 0
  private cdrInvalid = 0
  private cdrLastError: string | null = null
  private cdrBackfilled = 0
  /** staff id → name (GetUserInfo), for the agent registry */
  private readonly names = new Map<string, string>()
  /** staff id → what the registry was last told */
  private readonly agentSig = new Map<string, string>()
  private cursorSaved: number | null = null
  /** staff → the number we asked it to dial, and when */
  private readonly dialed = new Map<string, { phone: string; at: number; seen: boolean }>()
  private controls = 0

  constructor(
    readonly cfg: YantongConfig,
    ctx: SourceContext,
  ) {
    super(cfg.id, ctx, { pollMs: cfg.pollMs, downAfter: cfg.downAfter })
    this.client = new YantongClient({ url: cfg.url, companyid: cfg.companyid, auth: cfg.auth, timeoutMs: cfg.timeoutMs, method: cfg.method, charset: cfg.charset })
    this.staff = [...new Set(cfg.staff)]
    if (this.staff.length !== cfg.staff.length) ctx.log.warn('staff lists a staff id more than once; polled once')
    this.zone = cfg.timeZone ?? ctx.timeZone ?? hostTimeZone()
  }

  override start(): void {
    // the configured lines exist from the start, as unknown until the first answer
    for (const s of this.staff) this.ctx.table.update(this.id, s, { agent: s })
    super.start()
  }

  protected override supports(): string[] {
    return ['channels', ...(this.cfg.cdrPollMs > 0 ? ['cdr'] : []), ...this.callActions(), 'recordings']
  }

  protected override detail(): Record<string, unknown> {
    return {
      ...super.detail(),
      url: this.cfg.url,
      companyid: this.cfg.companyid,
      staff: this.staff.length,
      timeoutMs: this.cfg.timeoutMs,
      cdr: this.cfg.cdrPollMs > 0 ? { cursor: this.cursor, published: this.cdrPublished, backfilled: this.cdrBackfilled, invalid: this.cdrInvalid, lastError: this.cdrLastError } : null,
      controls: this.controls,
    }
  }

  protected async poll(signal: AbortSignal): Promise<void> {
    if (!this.cfg.staff.length && Date.now() - this.staffRefreshedAt >= STAFF_REFRESH_MS) await this.discoverStaff(signal)
    await this.pollStatus(signal)
    if (this.cfg.cdrPollMs > 0 && Date.now() >= this.cdrDueAt) {
      this.cdrDueAt = Date.now() + this.cfg.cdrPollMs
      // a CDR failure is logged, not a reason to call the lines unknown
      await this.pollCdr(signal).catch((err) => {
        if (signal.aborted) return
        const msg = (err as Error).message
        if (msg !== this.cdrLastError) this.ctx.log.warn({ err: msg }, 'GetCDRList failed; call records resume on a later round')
        this.cdrLastError = msg
      })
    }
  }

  private query<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return retrying(fn, { attempts: this.cfg.queryAttempts, signal })
  }

  private async discoverStaff(signal: AbortSignal): Promise<void> {
    const { users } = await this.query(() => this.client.getUserInfo({}, { signal }), signal)
    const ids = [...new Set(users.map((u) => u.staffId ?? u.userName).filter((s): s is string => !!s && /^[0-9A-Za-z_.@-]{1,32}$/.test(s)))]
    const gone = this.staff.filter((s) => !ids.includes(s))
    for (const s of gone) this.ctx.table.remove(`${this.id}:${s}`)
    if (gone.length || ids.length !== this.staff.length) this.ctx.log.info({ staff: ids.length, removed: gone.length }, 'staff list from GetUserInfo')
    this.staff = ids
    this.staffRefreshedAt = Date.now()
    for (const u of users) {
      const id = u.staffId ?? u.userName
      if (id && u.trueName) this.names.set(id, u.trueName)
    }
  }

  private async pollStatus(signal: AbortSignal): Promise<void> {
    const list = this.staff
    if (!list.length) return
    let failed = 0
    let firstErr = null as Error | null // set in the callbacks, which TypeScript does not follow
    await pool(list, this.cfg.concurrency, async (staffid) => {
      try {
        const st = await this.query(() => this.client.extenStatus({ staffid }, { signal }), signal)
        this.apply(staffid, st)
      } catch (err) {
        if (signal.aborted) throw err
        if (err instanceof YantongError && OFFLINE_ERRNO.has(err.errno)) {
          this.ctx.table.update(this.id, staffid, { state: 'offline', direction: null, phone: null, agent: staffid, vendor: { errno: err.errno, message: err.vendorMessage } })
          this.agentSeen(staffid, { errno: err.errno })
          return
        }
        failed++
        firstErr ??= err as Error
        if (err instanceof YantongError && FATAL_ERRNO.has(err.errno)) return
        this.ctx.table.update(this.id, staffid, { state: 'unknown', vendor: { error: (err as Error).message } })
      }
    })
    // one line failing is that line's news; all of them failing (or a refusal every line would get)
    // means the vendor is not answering us
    if (firstErr && (failed === list.length || (firstErr instanceof YantongError && FATAL_ERRNO.has(firstErr.errno)))) throw firstErr
  }

  private apply(staffid: string, st: ExtenStatus): void {
    const { state, presence, callWaiting = false } = mapExtenStatus(st.status)
    const prev = this.ctx.table.lookup(this.id, staffid)
    const patch: ChannelPatch = { state, agent: staffid, vendor: { status: st.status, statusText: st.statusText, extension: st.extension, presence, callWaiting, callerNum: st.callerNum } }
    const inCall = state === 'ringing' || state === 'talking' || state === 'held'
    if (callWaiting && prev && (prev.state === 'talking' || prev.state === 'held') && prev.phone !== null) {
      // the call in progress keeps its number and direction; CallerNum may be the waiting caller's
      // (the seed does not say), so it stays in vendor.callerNum only
    } else if (inCall) {
      const dial = this.dialed.get(staffid)
      if (dial && Date.now() - dial.at < DIAL_MEMORY_MS) {
        dial.seen = true
        patch.direction = 'outbound'
        patch.phone = st.callerNum ?? dial.phone
      } else {
        if (prev && prev.direction === null && state === 'ringing') patch.direction = 'inbound'
        if (st.callerNum !== null) patch.phone = st.callerNum
      }
    } else {
      // a poll between SendDial and the first ring still sees idle: forget the dial only once its
      // call has been seen, or when it never came
      const dial = this.dialed.get(staffid)
      if (dial && (dial.seen || Date.now() - dial.at >= DIAL_MEMORY_MS)) this.dialed.delete(staffid)
      patch.direction = null
      patch.phone = null
    }
    this.ctx.table.update(this.id, staffid, patch)
    this.agentSeen(staffid, st)
  }

  /** The staff member to the agent registry, when what it says of them changed. */
  private agentSeen(staffid: string, st: ExtenStatus | { errno: number }): void {
    if (!this.ctx.calls) return
    const a = staffAgent(this.id, staffid, st, this.names.get(staffid) ?? null)
    const sig = `${a.presence ?? ''}|${String(a.loggedIn)}|${a.name ?? ''}`
    if (this.agentSig.get(staffid) === sig) return
    this.agentSig.set(staffid, sig)
    this.ctx.calls.agent(a)
  }

  // ---- call records -----------------------------------------------------------------------------

  private async pollCdr(signal: AbortSignal): Promise<void> {
    if (this.cursor === null) {
      this.cursor = await this.initialCursor(signal)
      await this.saveCursor()
    }
    for (let page = 0; page < this.cfg.cdrMaxPages && !signal.aborted; page++) {
      const from: number = this.cursor
      const res = await this.query(() => this.client.getCdrList({ PId: from, Limit: this.cfg.cdrLimit, Sort: 'ASC' }, { signal }), signal)
      if (res.invalid.length) {
        this.cdrInvalid += res.invalid.length
        this.ctx.log.warn({ invalid: res.invalid.slice(0, 5), count: res.invalid.length }, 'GetCDRList entries skipped')
      }
      // a vendor that ignores Sort or PId still gives each record once, in order
      const fresh = res.records.filter((r) => r.id > from).sort((a, b) => a.id - b.id)
      // the call log first: the cursor passes a record only once its call is committed, so a crash
      // re-reads it (the exact vendor id makes the second reading add nothing)
      const kept = await this.reportCdrs(fresh)
      for (const r of fresh.slice(0, kept)) {
        this.ctx.bus.publish('cdr', this.cdrEvent(r))
        this.cdrPublished++
        this.cursor = r.id
      }
      if (this.cursor !== from) await this.saveCursor()
      if (kept < fresh.length) throw new Error('the call log did not take every record; the rest is read again next round')
      this.cdrLastError = null
      if (!fresh.length || res.records.length + res.invalid.length < this.cfg.cdrLimit) break
    }
  }

  /** Records into the call log; resolves with how many, from the first, are committed. */
  private async reportCdrs(records: readonly CdrRecord[]): Promise<number> {
    const sink = this.ctx.calls
    if (!sink || !records.length) return records.length
    // bounded: a call log that cannot commit (a failing disk) must not stop the line polling; the cursor then stays
    const done = await Promise.all(records.map((r) => withinMs(sink.report(cdrReport(this.id, r, this.msOf(r.calldate))), COMMIT_WAIT_MS)))
    const bad = done.findIndex((c) => c === null)
    return bad < 0 ? records.length : bad
  }

  /**
   * With no stored cursor, `latest` starts the `cdr` events after the newest record; the call log
   * still gets the records of the last cdrLookbackHours (calls made while telbridge was not
   * running), without events. Not kept: a crash here does it again, and the vendor id dedupes.
   */
  private async backfill(upTo: number, signal: AbortSignal): Promise<void> {
    if (this.cfg.cdrLookbackHours <= 0 || !this.ctx.calls || upTo <= 0) return
    const begintime = this.localTime(Date.now() - this.cfg.cdrLookbackHours * 3_600_000)
    let from = 0
    for (let page = 0; page < this.cfg.cdrMaxPages && !signal.aborted; page++) {
      const res = await this.query(() => this.client.getCdrList({ PId: from, begintime, Limit: this.cfg.cdrLimit, Sort: 'ASC' }, { signal }), signal)
      const fresh = res.records.filter((r) => r.id > from && r.id <= upTo).sort((a, b) => a.id - b.id)
      const kept = await this.reportCdrs(fresh)
      this.cdrBackfilled += kept
      if (kept < fresh.length || !fresh.length || res.records.length + res.invalid.length < this.cfg.cdrLimit) break
      from = fresh[fresh.length - 1]!.id
      if (from >= upTo) break
    }
    if (this.cdrBackfilled) this.ctx.log.info({ records: this.cdrBackfilled, hours: this.cfg.cdrLookbackHours }, 'call log filled from GetCDRList history')
  }

  private async initialCursor(signal: AbortSignal): Promise<number> {
    if (this.cfg.cdrCursorFile) {
      try {
        const text = (await readFile(this.cfg.cdrCursorFile, 'utf8')).trim()
        if (/^\d{1,15}$/.test(text)) {
          this.cursorSaved = Number(text)
          return Number(text)
        }
        this.ctx.log.warn({ file: this.cfg.cdrCursorFile, content: text.slice(0, 40) }, 'CDR cursor file holds no cursor; starting afresh')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    if (this.cfg.cdrStart === 'all') return 0
    // `latest`: history before telbridge started is the vendor's business, not a flood of events
    const last = await this.query(() => this.client.getCdrList({ Limit: 1, Sort: 'DESC' }, { signal }), signal)
    const latest = last.records[0]?.id ?? 0
    await this.backfill(latest, signal)
    return latest
  }

  /** Written atomically: a crash leaves the old cursor or the new, never half. */
  private async saveCursor(): Promise<void> {
    const file = this.cfg.cdrCursorFile
    if (!file || this.cursor === null || this.cursor === this.cursorSaved) return
    await writeAtomic(file, `${this.cursor}\n`, { mode: 0o644 })
    this.cursorSaved = this.cursor
  }

  private cdrEvent(r: CdrRecord): Record<string, unknown> {
    const direction = r.callType === 'inbound' ? 'inbound' : r.callType === 'unknown' ? null : 'outbound'
    return {
      source: this.id,
      id: r.id,
      uniqueId: r.uniqueId,
      staff: r.staffId,
      exten: r.exten,
      channel: r.staffId ?? r.exten,
      phone: direction === 'inbound' ? r.src : r.dst,
      src: r.src,
      dst: r.dst,
      direction,
      callType: r.callType,
      startedAt: this.isoOf(r.calldate),
      calldate: r.calldate,
      durationSeconds: r.durationSeconds,
      billSeconds: r.billSeconds,
      disposition: r.disposition,
      answered: r.disposition === 'ANSWERED',
      codeid1: r.codeid1,
      codeid2: r.codeid2,
      customerId: r.customerId,
      classifId: r.classifId,
      projectId: r.projectId,
    }
  }

  /** `2016-01-05 12:12:25` in the vendor's zone → epoch ms; null when not a date. */
  private msOf(calldate: string): number | null {
    const iso = this.isoOf(calldate)
    return iso === null ? null : Date.parse(iso)
  }

  /** Epoch ms → `YYYY-MM-DD HH:MM:SS` in the vendor's zone (GetCDRList's begintime). */
  private localTime(ms: number): string {
    // the offset at the UTC instant read as local time is right except within an hour of a DST change
    const local = ms + localOffset(ms, this.zone)
    return new Date(local).toISOString().slice(0, 19).replace('T', ' ')
  }

  /** `2016-01-05 12:12:25` in the vendor's zone → ISO with offset; null when not a date. */
  private isoOf(calldate: string): string | null {
    const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(calldate.trim())
    if (!m) return null
    const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number]
    const local = Date.UTC(y, mo - 1, d, h, mi, s)
    if (new Date(local).getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null
    return `${calldate.trim().replace(' ', 'T')}${formatOffset(localOffset(local, this.zone))}`
  }

  // ---- recordings ------------------------------------------------------------------------------

  /**
   * GET /v1/sources/:id/recordings/:uniqueid: GetRecord gives the file's path on the vendor's web
   * server (`/asterisk_file/…`), not the audio, so the path is fetched from there (`recordingUrl`,
   * else the origin of `url`) and streamed through with the Range asked for. The lookup is a query
   * (retried after a timeout); the download is sent once.
   */
  async openRecording(uniqueid: string, o: { range?: string; signal?: AbortSignal; method?: 'GET' | 'HEAD' }): Promise<VendorRecording> {
    if (!UNIQUEID_PATTERN.test(uniqueid)) throw new ApiError('BAD_REQUEST', 'callid: expected a Yantong call uniqueid (1–64 of A-Z a-z 0-9 _ . : -)').with({ field: 'callid' })
    let paths: string[]
    try {
      paths = (await retrying(() => this.client.getRecord({ uniqueid }, { signal: o.signal }), { attempts: this.cfg.queryAttempts, signal: o.signal })).paths
    } catch (err) {
      throw this.controlFailure(err)
    }
    // a call with several files (a transfer) is rare; the first is the call's own
    const path = paths[0]
    if (path === undefined) throw new ApiError('NOT_FOUND', `recording of call ${uniqueid}`).with({ source: this.id, callid: uniqueid })
    const url = this.recordingFileUrl(path)
    const res = await openRequest(url, { method: o.method ?? 'GET', headers: o.range ? { range: o.range } : {}, timeoutMs: this.cfg.timeoutMs, signal: o.signal }).catch((err: unknown) => {
      throw asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    })
    return { status: res.statusCode ?? 0, headers: res.headers, body: res, service: 'GetRecord' }
  }

  /**
   * A GetRecord path → the URL it is fetched from. Only the vendor's own server is asked: a path is
   * put after the base; a whole URL is taken only on the base's origin (anything else would let an
   * answer send telbridge anywhere).
   */
  recordingFileUrl(path: string): string {
    const base = this.cfg.recordingUrl ?? new URL(this.cfg.url).origin
    const bad = (why: string) => new VendorRefused(this.id, 'BAD_ANSWER', `GetRecord path ${why}: ${JSON.stringify(path.slice(0, 120))}`)
    if (path.length > 2048 || !/^[^\x00-\x1f\x7f]+$/.test(path)) throw bad('is too long or has control characters')
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      let u: URL
      try {
        u = new URL(path)
      } catch {
        throw bad('is not a URL')
      }
      if (u.origin !== new URL(base).origin) throw bad(`is on another server than ${new URL(base).origin}`)
      return u.toString()
    }
    const u = new URL(base.replace(/\/+$/, '') + (path.startsWith('/') ? '' : '/') + path)
    if (u.origin !== new URL(base).origin) throw bad('leaves the recording server')
    return u.toString()
  }

  // ---- control ----------------------------------------------------------------------------------

  /** What Yantong can do through the control API (seed 004 has no transfer, hold, DTMF or presence); this order is `supports`'. */
  protected override actions(): ActionTable {
    return {
      dial: (req) => this.act(() => this.dial(req)),
      hangup: (req) => this.act(() => this.client.hangUp({ staffid: need(req.agent ?? req.channel, 'agent', 'Yantong hangs up by staff id (agent or channel)') })),
      // Yantong's HangUp works on any staff member of the company: a supervisor's force-hangup is
      // HangUp on the target
      'force-hangup': (req) =>
        this.act(() => this.client.hangUp({ staffid: need(req.target ?? req.channel ?? req.agent, 'target', 'force-hangup needs the staff id whose call ends (target or channel)') })),
      monitor: (req) => this.act(() => this.spy(req, SPY_TYPE.listen)),
      barge: (req) => this.act(() => this.spy(req, SPY_TYPE.threeWay)),
    }
  }

  /**
   * Seed 004's functions as vendor actions, named and with fields as the seed names them
   * (POST /v1/sources/:id/actions/<action>). HangUp is the common hang-up route and is not repeated;
   * SendDial is, because the common dial has no `codeid_2`. Sent as the source is configured (method,
   * charset); errno 1 is success, any other errno a 502 with the vendor's errno and message.
   */
  vendorActions(): VendorAction[] {
    return [
      {
        name: 'SendDial',
        description: "click to dial (呼叫发起): the staff member's phone rings, then phonenum is dialled; codeid_1/codeid_2 come back on the call record",
        kind: 'control',
        params: [
          { name: 'staffid', ...STAFF, required: true, description: 'the staff id (员工ID) whose phone places the call' },
          { name: 'phonenum', ...PHONE, required: true, description: 'the number to call (被叫号码: 11-digit mobile, or area code + number)' },
          { name: 'codeid_1', ...CODEID, description: 'free tag 1 (标识ID1), returned on the call record' },
          { name: 'codeid_2', ...CODEID, description: 'free tag 2 (标识ID2), returned on the call record' },
        ],
        run: (p) => {
          const staffid = str(p.staffid)!
          this.dialed.set(staffid, { phone: str(p.phonenum)!, at: Date.now(), seen: false })
          return this.vendorRun(() => this.client.sendDial({ staffid, phonenum: str(p.phonenum)!, codeid_1: str(p.codeid_1), codeid_2: str(p.codeid_2) }), { control: true }).catch((err: unknown) => {
            this.dialed.delete(staffid)
            throw err
          })
        },
      },
      {
        name: 'ExtenStatus',
        description: "one staff member's extension state now (分机状态检测), as the vendor gives it and as telbridge maps it",
        kind: 'query',
        params: [{ name: 'staffid', ...STAFF, required: true, description: 'the staff id (员工ID)' }],
        run: async (p) => {
          const st = await this.vendorCall(() => this.client.extenStatus({ staffid: str(p.staffid)! }))
          const m = mapExtenStatus(st.status)
          return {
            result: { Status: st.status, statusText: st.statusText, Extension: st.extension, CallerNum: st.callerNum, state: m.state, presence: m.presence, callWaiting: m.callWaiting === true },
            vendor: { errno: st.answer.errno, message: st.answer.message },
          }
        },
      },
      {
        name: 'GetCDRList',
        description: 'call records (呼叫记录获取), filtered; page with Sort ASC and PId = the last id of the page before (result.nextPId)',
        kind: 'query',
        params: [
          { name: 'staffid', ...STAFF, description: 'only this staff id (员工ID)' },
          { name: 'exten', ...STAFF, patternText: 'an extension (1–32 letters, digits, _ . @ -)', description: 'only this extension (分机号)' },
          { name: 'codeid_1', ...CODEID, description: 'only records with this tag 1 (标识ID1, e.g. a department or shop)' },
          { name: 'codeid_2', ...CODEID, description: 'only records with this tag 2 (标识ID2, e.g. a group)' },
          { name: 'phonenum', ...PHONE, description: 'only calls to this number (被叫号码)' },
          { name: 'begintime', ...TIME, description: 'from this time (开始时间, YYYY-MM-DD HH:MM:SS)' },
          { name: 'endtime', ...TIME, description: 'until this time (结束时间, with begintime)' },
          { name: 'PId', type: 'integer', min: 0, max: 999_999_999_999_999, description: 'only records whose id (主键) is greater than this' },
          { name: 'Limit', type: 'integer', min: 1, max: 1000, default: 20, description: 'how many records (获取的记录数量); the vendor takes 20 when absent' },
          { name: 'Sort', type: 'string', enum: ['ASC', 'DESC'], default: 'DESC', description: 'order by id (排序方式): DESC newest first (the vendor default) or ASC' },
        ],
        run: async (p) => {
          const q: CdrQuery = {}
          for (const k of ['staffid', 'exten', 'codeid_1', 'codeid_2', 'phonenum', 'begintime', 'endtime'] as const) if (p[k] !== undefined) q[k] = str(p[k])
          if (p.PId !== undefined) q.PId = Number(p.PId)
          if (p.Limit !== undefined) q.Limit = Number(p.Limit)
          if (p.Sort !== undefined) q.Sort = p.Sort as 'ASC' | 'DESC'
          const page = await this.vendorCall(() => this.client.getCdrList(q))
          const records = page.records.map((r) => this.cdrEvent(r))
          // ascending pages continue after their last id; a full page may have more behind it
          const limit = q.Limit ?? 20
          const lastId = page.records.reduce((m, r) => Math.max(m, r.id), -1)
          const full = page.records.length + page.invalid.length >= limit
          const nextPId = q.Sort === 'ASC' && full && lastId >= 0 ? lastId : null
          return { result: { records, invalid: page.invalid, count: records.length, nextPId }, vendor: { errno: page.answer.errno, message: page.answer.message } }
        },
      },
      {
        name: 'GetRecord',
        description: "a call's recording path (录音记录获取) by uniqueid; the audio itself is GET /v1/sources/:id/recordings/:uniqueid",
        kind: 'query',
        params: [{ name: 'uniqueid', ...UNIQUEID, required: true, description: "the call's uniqueid (录音关联唯一ID, from its call record)" }],
        run: async (p) => {
          const uniqueid = str(p.uniqueid)!
          const r = await this.vendorCall(() => this.client.getRecord({ uniqueid }))
          return {
            result: { uniqueid, paths: r.paths, recording: r.paths.length ? `/v1/sources/${encodeURIComponent(this.id)}/recordings/${encodeURIComponent(uniqueid)}` : null },
            vendor: { errno: r.answer.errno, message: r.answer.message },
          }
        },
      },
      {
        name: 'ExtenSpy',
        description: "listen in on a staff member's call (监听): spytype 1 quality check (质检, listen only), 2 whisper (密语, to the agent), 3 three-way (三方通话)",
        kind: 'control',
        params: [
          { name: 'staffid', ...STAFF, required: true, description: 'the listening staff id (监听者工号)' },
          { name: 'spystaffid', ...STAFF, required: true, description: 'the staff id listened to (被监听者工号)' },
          { name: 'spytype', type: 'integer', required: true, enum: [1, 2, 3], description: '监听类型: 1 质检 quality check, 2 密语 whisper, 3 三方通话 three-way' },
        ],
        run: (p) => this.vendorRun(() => this.client.extenSpy({ staffid: str(p.staffid)!, spystaffid: str(p.spystaffid)!, spytype: Number(p.spytype) as SpyType }), { control: true }),
      },
      {
        name: 'AddCBaseData',
        description: 'add a customer and assign it to a staff member (客户资料添加); errno 10 数据重复 when it exists',
        kind: 'control',
        params: [{ name: 'staffid', ...STAFF, required: true, description: 'the staff id (工号) the customer is assigned to' }, ...CUSTOMER],
        run: (p) => this.vendorRun(() => this.client.addCBaseData({ staffid: str(p.staffid)!, ...customerOf(p) })),
      },
      {
        name: 'AddTaskData',
        description: 'add a customer number to an outbound task batch (任务批次数据插入); errno 11 任务批次不存在 for an unknown batch',
        kind: 'control',
        params: [
          {
            name: 'batchid',
            type: 'string',
            required: true,
            pattern: /^[0-9A-Za-z_.-]{1,64}$/,
            patternText: 'a batch number (1–64 of A-Z a-z 0-9 _ . -)',
            description: 'the task batch number (任务批次编号, 任务管理 → 任务导入)',
          },
          ...CUSTOMER,
        ],
        run: (p) => this.vendorRun(() => this.client.addTaskData({ batchid: str(p.batchid)!, ...customerOf(p) })),
      },
      {
        name: 'GetUserInfo',
        description: "the company's users (用户信息获取): one staff id, or everyone when staffid is absent",
        kind: 'query',
        params: [{ name: 'staffid', ...STAFF, description: 'the staff id (工号); absent: every user of the company' }],
        run: async (p) => {
          const r = await this.vendorCall(() => this.client.getUserInfo(p.staffid === undefined ? {} : { staffid: str(p.staffid)! }))
          return { result: { users: r.users }, vendor: { errno: r.answer.errno, message: r.answer.message } }
        },
      },
    ]
  }

  /** One vendor request for an action, sent once (the actions route retries queries itself), failures mapped to 502/504. */
  private async vendorCall<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (err) {
      throw this.controlFailure(err)
    }
  }

  /** An action whose answer carries no typed data: `result` is the answer's data as sent, null when empty. */
  private async vendorRun(send: () => Promise<Answer>, o: { control?: boolean } = {}): Promise<ActionOutcome> {
    const a = await this.vendorCall(send)
    if (o.control) {
      this.controls++
      this.pollSoon()
    }
    const empty = a.data === null || a.data === '' || (Array.isArray(a.data) && a.data.length === 0)
    return { result: empty ? null : a.data, vendor: { errno: a.errno, message: a.message } }
  }

  protected override unsupportedWhy(): string {
    return 'the Yantong API has no such action'
  }

  /** Sent once: a dial that timed out may still ring, so it is never repeated here. */
  private async act(send: () => Promise<Answer>): Promise<CallResult> {
    let answer: Answer
    try {
      answer = await send()
    } catch (err) {
      throw this.controlFailure(err)
    }
    this.controls++
    this.pollSoon()
    return { vendor: { errno: answer.errno, message: answer.message, data: answer.data } }
  }

  private dial(req: CallRequest): Promise<Answer> {
    const staffid = need(req.agent ?? req.channel, 'agent', 'dial needs the staff id (agent or channel)')
    const phonenum = need(req.phone, 'phone', 'dial needs a phone number')
    this.dialed.set(staffid, { phone: phonenum, at: Date.now(), seen: false })
    // memo travels as codeid_1, which comes back on the call record: the caller can match them
    return this.client.sendDial({ staffid, phonenum, codeid_1: req.memo }).catch((err) => {
      this.dialed.delete(staffid)
      throw err
    })
  }

  private spy(req: CallRequest, spytype: SpyType): Promise<Answer> {
    return this.client.extenSpy({
      staffid: need(req.agent, 'agent', `${req.action} needs the listening staff id (agent)`),
      spystaffid: need(req.target ?? req.channel, 'target', `${req.action} needs the staff id being listened to (target or channel)`),
      spytype,
    })
  }

  private controlFailure(err: unknown): unknown {
    if (err instanceof YantongError) return new VendorRefused(this.id, err.errno, err.vendorMessage)
    if (err instanceof YantongFormatError) return new VendorRefused(this.id, 'BAD_ANSWER', `${err.reason}: ${err.excerpt}`)
    if (err instanceof HttpTimeoutError || err instanceof HttpUnreachableError) return asVendorTimeout(this.id, this.cfg.timeoutMs, err)
    return err
  }
}

/** The promise's value, or null when it fails or takes longer than ms. */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))
  return Promise.race([p.catch(() => null), late]).finally(() => clearTimeout(timer))
}

/** A checked action field as the client's string (numbers as their digits). */
function str(v: string | number | boolean | undefined): string | undefined {
  return v === undefined ? undefined : String(v)
}

function customerOf(p: Readonly<Record<string, string | number | boolean>>): Customer {
  return { phonenum: str(p.phonenum)!, name: str(p.name), address: str(p.address), email: str(p.email), comment: str(p.comment) }
}

/** A field the action needs; the 400 says `field: why`. */
function need(v: string | undefined, field: string, why: string): string {
  return needField(v, field, `${field}: ${why}`)
}

/** Run fn over items with at most n in flight; rejects with the first error after all settle. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let first = null as Error | null // set in the workers, which TypeScript does not follow
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await fn(item).catch((err) => {
        first ??= err as Error
      })
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
  if (first) throw first
}
