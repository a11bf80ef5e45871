import { randomUUID } from 'node:crypto'
import type { EventBus } from '../../daemon/core/events.js'
import type { Logger } from '../../daemon/core/log.js'
import { formatMac } from '../../protocols/800hu/mac.js'

/**
 * Commands for boxes and the getMessageList long polls that carry them. One queue and at most one
 * held poll per box: a command queued while a poll is held answers that poll at once; a second poll
 * from the same box answers the first with 3003 and takes its place (the box has given up on it);
 * a command is removed from the queue only once its answer was handed to the socket, and goes back
 * to the front if the connection died first, so none is lost to a poll nobody reads.
 */

export const COMMAND_TYPES = ['dial', 'answer', 'hangup', 'web'] as const
export type CommandType = (typeof COMMAND_TYPES)[number]

/** getMessageList `status` per command (seed 003 §2.1.10): 0 dial, 1 answer, 2 hang up, 51 web. */
export const COMMAND_STATUS: Record<CommandType, string> = { dial: '0', answer: '1', hangup: '2', web: '51' }

export type CommandState = 'queued' | 'delivered' | 'expired' | 'cancelled'

export interface BoxCommand {
  id: string
  /** 12 lowercase hex digits */
  box: string
  type: CommandType
  /** RJ11 port (`mdcWan`) */
  channel: string
  /** the channel's `serial` from the last status post (`mdcCode`), default "1" */
  serial: string
  phone: string
  memo: unknown
  state: CommandState
  createdAt: number
  expiresAt: number
  deliveredAt: number | null
  /** polls whose answer carried it but died before it was written (it was put back) */
  retries: number
}

/** The command as the box receives it in `data`. */
export function commandWire(c: BoxCommand): Record<string, unknown> {
  return { status: COMMAND_STATUS[c.type], mdcWan: c.channel, mdcCode: c.serial, phone: c.phone, memo: c.memo ?? {} }
}

export function commandJson(c: BoxCommand): Record<string, unknown> {
  return {
    id: c.id,
    mac: formatMac(c.box),
    type: c.type,
    channel: c.channel,
    phone: c.phone,
    memo: c.memo ?? null,
    state: c.state,
    createdAt: new Date(c.createdAt).toISOString(),
    expiresAt: new Date(c.expiresAt).toISOString(),
    deliveredAt: c.deliveredAt === null ? null : new Date(c.deliveredAt).toISOString(),
  }
}

/** A held poll: `answer(cmds)` writes the commands (or 3003 for null) and reports whether the write completed. */
export interface PollWaiter {
  answer(cmds: BoxCommand[] | null, onWritten: (ok: boolean) => void): void
}

export class QueueFull extends Error {
  override name = 'QueueFull'
}

/** Commands handed out in one answer, at most (the box gets the rest on its next poll). */
const PER_ANSWER = 20

interface BoxQueue {
  cmds: BoxCommand[]
  waiter: PollWaiter | null
  timer: NodeJS.Timeout | null
}

export class CommandQueues {
  private readonly boxes = new Map<string, BoxQueue>()
  private readonly now: () => number

  constructor(private readonly opts: { ttlMs: number; maxQueued: number; bus: EventBus; log: Logger; now?: () => number; onDelivered?: (c: BoxCommand) => void }) {
    this.now = opts.now ?? Date.now
  }

  private q(box: string): BoxQueue {
    let q = this.boxes.get(box)
    if (!q) this.boxes.set(box, (q = { cmds: [], waiter: null, timer: null }))
    return q
  }

  /** Queue a command; a held poll of that box gets it at once. Throws QueueFull. */
  enqueue(box: string, c: { type: CommandType; channel: string; serial: string; phone: string; memo?: unknown }): BoxCommand {
    const q = this.q(box)
    if (q.cmds.length >= this.opts.maxQueued) throw new QueueFull(`box ${formatMac(box)} already has ${q.cmds.length} commands waiting`)
    const t = this.now()
    const cmd: BoxCommand = { id: randomUUID(), box, ...c, memo: c.memo, state: 'queued', createdAt: t, expiresAt: t + this.opts.ttlMs, deliveredAt: null, retries: 0 }
    q.cmds.push(cmd)
    this.publish(cmd)
    this.opts.log.info({ box: formatMac(box), command: cmd.id, type: cmd.type, channel: cmd.channel }, 'box command queued')
    if (q.waiter) this.deliver(box, q)
    return cmd
  }

  pending(box: string): BoxCommand[] {
    return this.boxes.get(box)?.cmds.slice() ?? []
  }

  get queuedTotal(): number {
    let n = 0
    for (const q of this.boxes.values()) n += q.cmds.length
    return n
  }

  get pollsHeld(): number {
    let n = 0
    for (const q of this.boxes.values()) if (q.waiter) n++
    return n
  }

  isPolling(box: string): boolean {
    return this.boxes.get(box)?.waiter != null
  }

  /**
   * A getMessageList poll: answered now when commands wait, else held up to holdMs. A poll already
   * held for this box is answered 3003 first (superseded). Returns a cancel function for a poll whose
   * client went away.
   */
  poll(box: string, holdMs: number, waiter: PollWaiter): () => void {
    const q = this.q(box)
    if (q.waiter) {
      const old = q.waiter
      this.release(q)
      old.answer(null, () => {})
    }
    q.waiter = waiter
    this.expire(this.now())
    if (q.cmds.length) {
      this.deliver(box, q)
    } else {
      q.timer = setTimeout(() => {
        if (q.waiter !== waiter) return
        this.release(q)
        waiter.answer(null, () => {})
      }, holdMs)
    }
    return () => {
      if (q.waiter === waiter) this.release(q)
    }
  }

  /** Expire commands past their TTL (with an event each). */
  expire(t = this.now()): void {
    for (const [box, q] of this.boxes) {
      if (!q.cmds.some((c) => c.expiresAt <= t)) continue
      q.cmds = q.cmds.filter((c) => {
        if (c.expiresAt > t) return true
        c.state = 'expired'
        this.publish(c)
        this.opts.log.warn({ box: formatMac(box), command: c.id, type: c.type, channel: c.channel, ageMs: t - c.createdAt }, 'box command expired: the box did not poll for it in time')
        return false
      })
    }
  }

  /** Cancel one waiting command. */
  cancel(box: string, id: string): BoxCommand | null {
    const q = this.boxes.get(box)
    const i = q?.cmds.findIndex((c) => c.id === id) ?? -1
    if (!q || i < 0) return null
    const [c] = q.cmds.splice(i, 1)
    c!.state = 'cancelled'
    this.publish(c!)
    return c!
  }

  /** Answer every held poll with 3003 (shutdown). */
  closeAll(): void {
    for (const q of this.boxes.values()) {
      const w = q.waiter
      this.release(q)
      w?.answer(null, () => {})
    }
  }

  private release(q: BoxQueue): void {
    if (q.timer) clearTimeout(q.timer)
    q.timer = null
    q.waiter = null
  }

  /** Hand the waiting commands to the held poll; they leave the queue only once written. */
  private deliver(box: string, q: BoxQueue): void {
    const w = q.waiter
    if (!w) return
    this.release(q)
    const batch = q.cmds.splice(0, PER_ANSWER)
    w.answer(batch, (ok) => {
      const t = this.now()
      if (ok) {
        for (const c of batch) {
          c.state = 'delivered'
          c.deliveredAt = t
          this.publish(c)
          this.opts.onDelivered?.(c)
        }
        return
      }
      // the connection died before the answer was written: back to the front, in order
      const back = batch.filter((c) => c.expiresAt > t)
      for (const c of back) c.retries++
      q.cmds.unshift(...back)
      this.opts.log.info({ box: formatMac(box), commands: back.length }, 'poll connection closed before the commands were written; kept them for the next poll')
      for (const c of batch) {
        if (c.expiresAt <= t) {
          c.state = 'expired'
          this.publish(c)
        }
      }
      if (q.waiter && q.cmds.length) this.deliver(box, q)
    })
  }

  private publish(c: BoxCommand): void {
    this.opts.bus.publish('command', commandJson(c))
  }
}
