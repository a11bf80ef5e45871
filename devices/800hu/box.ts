import { ApiError } from '../../daemon/core/errors.js'
import type { ActionTable, CallRequest, CallResult } from '../../daemon/core/control.js'
import { BaseSource, type SourceContext } from '../../daemon/core/source.js'
import { commandJson, type BoxCommand, type CommandType } from './commands.js'
import { boxSourceId, formatMac } from '../../protocols/800hu/mac.js'
import type { BoxStatusReport, DiskInfo } from './status.js'

/** What the box needs from the hub (its command queue), kept narrow so the source stays testable. */
export interface BoxOwner {
  queueCommand(box: string, c: { type: CommandType; channel: string; phone: string; memo?: unknown }): BoxCommand
  pendingCommands(box: string): number
  isPolling(box: string): boolean
  memoFor(box: string, port: string, phone: string, startMs: number | null, take: boolean): string | null
}

/**
 * One 800hu box as a source (`800hu-<mac12>`): channel = RJ11 port. It does not connect anywhere;
 * the box posts to us. `connected` while it posts, `down` (channels `offline`) after offlineSeconds
 * of silence, `connected` again at its next post.
 */
export class BoxSource extends BaseSource {
  readonly type = '800hu'
  readonly dialPicksChannel = true
  lastSeen: number | null = null
  /** when the silence clock started: the last post, or the start for a box not seen yet */
  private silentSince = Date.now()
  remoteAddress: string | null = null
  ip: string | null = null
  disk: DiskInfo | null = null
  lastStatusAt: number | null = null
  /** `serial` per port from the last status post (getMessageList `mdcCode`) */
  readonly serials = new Map<string, string>()
  posts = 0
  /** status posts refused as malformed */
  badStatus = 0
  /** placeholder channel entries skipped in status posts */
  skippedEntries = 0
  uploads = 0
  uploadBytes = 0
  private started = false

  constructor(
    readonly mac: string,
    readonly name: string | null,
    readonly registered: 'config' | 'auto',
    ctx: SourceContext,
    private readonly owner: BoxOwner,
  ) {
    super(boxSourceId(mac), ctx)
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.silentSince = Date.now()
    this.setStatus(this.lastSeen === null ? 'connecting' : 'connected')
  }

  async stop(): Promise<void> {
    this.started = false
    this.setStatus('stopped')
  }

  get running(): boolean {
    return this.started
  }

  /** Any request from the box. */
  seen(remote: string | undefined): void {
    const t = Date.now()
    this.lastSeen = t
    this.silentSince = t
    this.posts++
    if (remote) this.remoteAddress = remote
    if (this.started && this.status !== 'connected') {
      this.failures = 0
      this.setStatus('connected')
      this.ctx.log.info({ box: formatMac(this.mac), remote }, 'box online')
    }
  }

  /** Apply a status post already checked as a whole (parseBoxStatus). */
  applyStatus(r: BoxStatusReport): void {
    this.lastStatusAt = Date.now()
    this.skippedEntries += r.skipped
    if (r.disk) this.disk = r.disk
    if (r.ip !== null) this.ip = r.ip
    const table = this.ctx.table
    for (const c of r.channels) {
      if (c.serial !== null && this.serials.get(c.ch) !== c.serial) this.serials.set(c.ch, c.serial)
      const inCall = c.state === 'ringing' || c.state === 'dialing' || c.state === 'talking'
      let calltime: number | null = null
      let paramvalue: string | null = null
      if (inCall) {
        // the seed: timelen while ringing (state 2) is what the channel monitor shows as calltime; kept for the call
        if (c.rawState === 2) calltime = c.timelen
        else {
          const prev = table.lookup(this.id, c.ch)?.vendor?.calltime
          if (typeof prev === 'number') calltime = prev
        }
        paramvalue = this.owner.memoFor(this.mac, c.ch, c.phone ?? '', null, false)
      }
      table.update(
        this.id,
        c.ch,
        {
          state: c.state,
          // an idle or unplugged line has no call: a number the box still shows is the last one's
          phone: inCall ? c.phone : null,
          direction: inCall ? c.direction : null,
          // cdr: 'upload': the call's record (and its hang-up push) comes with the box's upload, under the box's callid
          vendor: { state: c.rawState, peer: c.peer, timelen: c.timelen, serial: c.serial, calltime, paramvalue, cdr: 'upload' },
        },
        TICKING,
      )
    }
  }

  noteBadStatus(why: string): void {
    this.badStatus++
    this.lastError = `malformed channelstatus: ${why}`
  }

  /** Called by the hub's sweep: silent too long → down, channels offline. */
  checkSilence(now: number, offlineMs: number): void {
    if (!this.started || this.status === 'down') return
    const quiet = now - this.silentSince
    if (quiet < offlineMs || this.owner.isPolling(this.mac)) return
    const secs = Math.round(quiet / 100) / 10
    const why = this.lastSeen === null ? `no post from the box within ${secs} s of start` : `no post from the box for ${secs} s`
    this.failures++
    this.setStatus('down', why)
    const n = this.ctx.table.updateSource(this.id, { state: 'offline', phone: null, direction: null })
    this.ctx.log.warn({ box: formatMac(this.mac), lastSeen: this.lastSeen ? new Date(this.lastSeen).toISOString() : null, channels: n }, `box offline: ${why}`)
  }

  protected override supports(): string[] {
    // answer is a box command (POST /v1/devices/:mac/commands), not a call action of the API
    return [...this.callActions(), 'answer', 'recordings']
  }

  protected override detail(): Record<string, unknown> {
    return {
      mac: formatMac(this.mac),
      name: this.name,
      registered: this.registered,
      ip: this.ip,
      remoteAddress: this.remoteAddress,
      disk: this.disk,
      lastSeen: this.lastSeen === null ? null : new Date(this.lastSeen).toISOString(),
      posts: this.posts,
      badStatus: this.badStatus,
      skippedEntries: this.skippedEntries,
      uploads: this.uploads,
      pendingCommands: this.owner.pendingCommands(this.mac),
      polling: this.owner.isPolling(this.mac),
    }
  }

  /**
   * Call control through the box's command queue: dial (channel: the port, or the lowest idle one)
   * and hangup (channel required). The result is the queued command; the box carries it out at its
   * next poll.
   */
  protected override actions(): ActionTable {
    return {
      dial: (req) => this.command('dial', req),
      hangup: (req) => this.command('hangup', req),
    }
  }

  protected override unsupportedWhy(): string {
    return 'an 800hu box can dial, answer and hang up'
  }

  private async command(type: 'dial' | 'hangup', req: CallRequest): Promise<CallResult> {
    if (this.status === 'down' || this.status === 'stopped') {
      throw new ApiError('SOURCE_DOWN', `box ${formatMac(this.mac)} is ${this.status}${this.lastError ? ` (${this.lastError})` : ''}; it would not get the command`)
    }
    const channel = req.channel === undefined || req.channel === '' ? this.dialChannel(type) : req.channel
    if (!/^\d{1,4}$/.test(channel)) throw new ApiError('BAD_REQUEST', `channel must be an RJ11 port number, got ${JSON.stringify(channel)}`)
    const phone = req.phone ?? ''
    if (type === 'dial' && !PHONE.test(phone)) throw new ApiError('BAD_REQUEST', `dial needs a phone number (digits, * # + , up to 40), got ${JSON.stringify(phone)}`)
    const cmd = this.owner.queueCommand(this.mac, { type, channel: String(Number(channel)), phone, memo: req.memo })
    return { vendor: { command: commandJson(cmd) } }
  }

  /** No channel given: a dial takes the lowest idle port; anything else needs one. */
  private dialChannel(type: 'dial' | 'hangup'): string {
    if (type !== 'dial') throw new ApiError('BAD_REQUEST', `${type} on an 800hu box needs a channel (the RJ11 port)`)
    const idle = this.ctx.table
      .list({ source: this.id, state: 'idle' })
      .map((e) => e.channel)
      .sort((a, b) => Number(a) - Number(b))
    if (!idle[0]) throw new ApiError('CONFLICT', `box ${formatMac(this.mac)} has no idle channel to dial on`)
    return idle[0]
  }
}

export const PHONE = /^[0-9*#+,]{1,40}$/

/**
 * The talk-time counters a box repeats on every heartbeat (`timelen`, and `calltime`, which is
 * `timelen` while ringing): kept fresh on the channel, but a post changing only these publishes no
 * `channel` event (an integrator counts talk time from `since`; docs/events.md).
 */
const TICKING = ['timelen', 'calltime'] as const
