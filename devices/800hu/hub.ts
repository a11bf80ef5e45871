import type { Counter } from '../../daemon/core/metrics.js'
import type { EventBus } from '../../daemon/core/events.js'
import { ApiError } from '../../daemon/core/errors.js'
import type { Logger } from '../../daemon/core/log.js'
import type { Metrics } from '../../daemon/core/metrics.js'
import type { RecordingStore } from '../../daemon/core/recordings/store.js'
import type { SourceRegistry } from '../../daemon/core/module.js'
import type { SourceContext } from '../../daemon/core/source.js'
import { entryJson, type ChannelTable } from '../../daemon/core/table.js'
import { BoxSource, type BoxOwner } from './box.js'
import { CommandQueues, QueueFull, type BoxCommand, type CommandType } from './commands.js'
import type { BoxesConfig } from './config.js'
import type { Fields } from './fields.js'
import { boxSourceId, formatMac, normaliseMac } from '../../protocols/800hu/mac.js'
import { BOX_STATUS, fail, type BoxAnswer } from '../../protocols/800hu/answers.js'
import { boxMemo, paramvalueOf } from '../../protocols/800hu/memo.js'

export interface BoxHubDeps {
  config: BoxesConfig
  log: Logger
  table: ChannelTable
  bus: EventBus
  metrics: Metrics
  /** the daemon's sources: each box is added as source `800hu-<mac12>` */
  sources: SourceRegistry
  /** the context a box source is created with */
  sourceContext(id: string): SourceContext
  recordings: RecordingStore
  /** recordings.maxBytes: the largest upload accepted */
  maxUploadBytes?: number
  /** the daemon's timeZone: the local 800hu API's times (default: the host's) */
  timeZone?: string
}

/** A command's memo waits this long for the call it started (its upload may come much later: a long call). */
const MEMO_KEEP_MS = 6 * 3600_000

/** The memo of the last dial or web command sent to one port, until the call it started is uploaded. */
export interface PortMemo {
  paramvalue: string
  /** the number dialled ('' for a web command) */
  phone: string
  at: number
}

/** How often an unknown box's refusal is logged again (it retries every few seconds). */
const UNKNOWN_LOG_EVERY_MS = 10 * 60_000

/**
 * The 800hu boxes: the registry (allow-list, autoRegister), one BoxSource per box, their command
 * queues and long polls, the silence sweep; the routes live in endpoint.ts (ingest listener),
 * devices-api.ts and local-api.ts (API listener).
 */
export class BoxHub implements BoxOwner {
  readonly boxes = new Map<string, BoxSource>()
  readonly queues: CommandQueues
  readonly requests: Counter
  readonly uploadBytes: Counter
  private readonly names = new Map<string, string>()
  /** by `<mac12>:<port>`: at most one per port of a known box, so bounded by boxes × ports */
  private readonly memos = new Map<string, PortMemo>()
  private readonly unknownLogged = new Map<string, number>()
  private sweep: NodeJS.Timeout | null = null
  private running = false

  constructor(readonly deps: BoxHubDeps) {
    const { config, metrics } = deps
    for (const [k, v] of Object.entries(config.names)) {
      const mac = normaliseMac(k)
      if (mac) this.names.set(mac, v)
    }
    this.queues = new CommandQueues({
      ttlMs: config.commandTtlSeconds * 1000,
      maxQueued: config.maxQueuedCommands,
      bus: deps.bus,
      log: deps.log,
    })
    for (const raw of config.allow) {
      const mac = normaliseMac(raw)
      if (mac && !this.boxes.has(mac)) this.register(mac, 'config')
    }
    this.requests = metrics.counter('telbridge_box_requests_total', 'Requests from 800hu boxes, by cmd and the status answered', ['cmd', 'status'])
    this.uploadBytes = metrics.counter('telbridge_box_upload_bytes_total', 'Recording bytes received from 800hu boxes and committed')
    metrics.gauge(
      'telbridge_boxes',
      '800hu boxes known, by status',
      () => {
        const by = new Map<string, number>()
        for (const b of this.boxes.values()) by.set(b.status, (by.get(b.status) ?? 0) + 1)
        return [...by].map(([status, n]) => [{ status }, n])
      },
      ['status'],
    )
    metrics.gauge('telbridge_box_commands_queued', 'Box commands waiting for a poll', () => [[undefined, this.queues.queuedTotal]])
    metrics.gauge('telbridge_box_polls_held', 'getMessageList long polls being held', () => [[undefined, this.queues.pollsHeld]])
  }

  get maxUploadBytes(): number {
    return this.deps.maxUploadBytes ?? 200 * 1024 * 1024
  }

  get config(): BoxesConfig {
    return this.deps.config
  }

  get log(): Logger {
    return this.deps.log
  }

  private register(mac: string, how: 'config' | 'auto'): BoxSource {
    const id = boxSourceId(mac)
    if (this.deps.sources.has(id)) throw new Error(`source id ${id} is taken by a configured source; rename that source`)
    const box = new BoxSource(mac, this.names.get(mac) ?? null, how, this.deps.sourceContext(id), this)
    this.boxes.set(mac, box)
    this.deps.sources.add(box)
    return box
  }

  /**
   * Who is posting: `satellite` checked against the registry (autoRegister adds unknown boxes up to
   * maxBoxes). Returns the box, or the vendor answer refusing it.
   */
  identify(fields: Fields, remote: string | undefined): BoxSource | BoxAnswer {
    const sat = fields.satellite?.trim()
    if (!sat) return fail(BOX_STATUS.NO_SATELLITE, undefined, { http: 200 })
    const mac = normaliseMac(sat)
    if (!mac) {
      this.logUnknown(sat, remote, 'satellite is not a MAC address')
      return fail(BOX_STATUS.NOT_REGISTERED, `satellite ${JSON.stringify(sat.slice(0, 40))} is not a MAC address`)
    }
    let box = this.boxes.get(mac)
    if (!box) {
      if (!this.config.autoRegister) {
        this.logUnknown(mac, remote, 'not in boxes.allow and boxes.autoRegister is off')
        return fail(BOX_STATUS.NOT_REGISTERED)
      }
      if (this.boxes.size >= this.config.maxBoxes) {
        this.logUnknown(mac, remote, `boxes.maxBoxes (${this.config.maxBoxes}) reached`)
        return fail(BOX_STATUS.NOT_REGISTERED, `设备未注册或未分配用户 (telbridge: boxes.maxBoxes ${this.config.maxBoxes} reached)`)
      }
      box = this.register(mac, 'auto')
      if (this.running) box.start()
      this.deps.log.info({ box: formatMac(mac), remote }, 'box registered automatically')
      this.deps.bus.publish('device', { ...this.deviceJson(box), change: 'registered' })
    }
    const was = box.status
    box.seen(remote)
    if (was !== 'connected' && box.status === 'connected') this.deps.bus.publish('device', { ...this.deviceJson(box), change: 'online' })
    return box
  }

  /** Cheap check while a multipart upload streams: is this request already known to be refused? */
  knownRefused(fields: Fields): boolean {
    const sat = fields.satellite?.trim()
    if (sat === undefined) return false
    const mac = sat ? normaliseMac(sat) : null
    if (!mac) return true
    return !this.boxes.has(mac) && (!this.config.autoRegister || this.boxes.size >= this.config.maxBoxes)
  }

  private logUnknown(key: string, remote: string | undefined, why: string): void {
    const t = Date.now()
    const last = this.unknownLogged.get(key)
    if (last !== undefined && t - last < UNKNOWN_LOG_EVERY_MS) return
    if (this.unknownLogged.size > 1000) this.unknownLogged.clear()
    this.unknownLogged.set(key, t)
    this.deps.log.warn({ satellite: key, remote }, `box refused (3001): ${why}`)
  }

  /** A box by MAC in any notation. */
  find(raw: string): BoxSource | undefined {
    const mac = normaliseMac(raw)
    return mac ? this.boxes.get(mac) : undefined
  }

  queueCommand(box: string, c: { type: CommandType; channel: string; phone: string; memo?: unknown }): BoxCommand {
    const b = this.boxes.get(box)
    const serial = b?.serials.get(c.channel) ?? '1'
    let memo: Record<string, unknown> | undefined
    try {
      memo = boxMemo(c.memo)
    } catch (err) {
      throw new ApiError('BAD_REQUEST', (err as Error).message).with({ field: 'memo' })
    }
    try {
      const cmd = this.queues.enqueue(box, { ...c, serial, memo })
      const pv = paramvalueOf(memo)
      // the call this command starts carries the memo's paramvalue back in its pushes (seed 003 §2.10.4)
      if (pv !== null && (c.type === 'dial' || c.type === 'web')) this.memos.set(`${box}:${c.channel}`, { paramvalue: pv, phone: c.phone, at: Date.now() })
      return cmd
    } catch (err) {
      if (err instanceof QueueFull) throw new ApiError('CONFLICT', `${err.message}; it polls for them with getMessageList`)
      throw err
    }
  }

  /**
   * The paramvalue of the command that started a call on this port, if the call matches it: the same
   * number (any, for a web command), begun no earlier than a minute before the command. `take`
   * consumes it (the box's upload: the call is over); otherwise it stays for the upload.
   */
  memoFor(box: string, port: string, phone: string, startMs: number | null, take: boolean): string | null {
    // asked for every busy line of every status post: most of the time there is no memo at all
    if (this.memos.size === 0) return null
    const key = `${box}:${port}`
    const m = this.memos.get(key)
    if (!m) return null
    const now = Date.now()
    if (now - m.at > MEMO_KEEP_MS) {
      this.memos.delete(key)
      return null
    }
    const digits = (x: string) => x.replace(/[^0-9]/g, '')
    if (m.phone && digits(m.phone) !== digits(phone)) return null
    if (startMs !== null && startMs < m.at - 60_000) return null
    if (take) this.memos.delete(key)
    return m.paramvalue
  }

  pendingCommands(box: string): number {
    return this.queues.pending(box).length
  }

  isPolling(box: string): boolean {
    return this.queues.isPolling(box)
  }

  deviceJson(b: BoxSource): Record<string, unknown> {
    const channels = this.deps.table
      .list({ source: b.id })
      .sort((x, y) => Number(x.channel) - Number(y.channel))
      .map((e) => {
        const j = entryJson(e)
        return { id: j.id, channel: j.channel, state: j.state, phone: j.phone, direction: j.direction, since: j.since, vendor: j.vendor }
      })
    return {
      mac: formatMac(b.mac),
      id: b.mac,
      source: b.id,
      name: b.name,
      registered: b.registered,
      status: b.status,
      online: b.status === 'connected',
      lastError: b.status === 'connected' ? null : b.info().lastError,
      ip: b.ip,
      remoteAddress: b.remoteAddress,
      disk: b.disk,
      lastSeen: b.lastSeen === null ? null : new Date(b.lastSeen).toISOString(),
      lastStatusAt: b.lastStatusAt === null ? null : new Date(b.lastStatusAt).toISOString(),
      polling: this.isPolling(b.mac),
      pendingCommands: this.pendingCommands(b.mac),
      uploads: b.uploads,
      channels,
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    for (const b of this.boxes.values()) b.start()
    const { offlineSeconds, commandTtlSeconds } = this.config
    // a tenth of the shorter period: a box goes offline, a command expires, within 10 % of its time
    const every = Math.min(1000, Math.max(10, (Math.min(offlineSeconds, commandTtlSeconds) * 1000) / 10))
    this.sweep = setInterval(() => this.tick(), every)
    this.sweep.unref()
  }

  private tick(): void {
    const now = Date.now()
    const offlineMs = this.config.offlineSeconds * 1000
    for (const b of this.boxes.values()) {
      const was = b.status
      b.checkSilence(now, offlineMs)
      if (was !== 'down' && b.status === 'down') this.deps.bus.publish('device', { ...this.deviceJson(b), change: 'offline' })
    }
    this.queues.expire(now)
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.sweep) clearInterval(this.sweep)
    this.sweep = null
    this.queues.closeAll()
  }
}
