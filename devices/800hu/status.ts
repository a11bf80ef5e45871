import type { ChannelState, Direction } from '../../daemon/core/table.js'
import { decodeStatus, type StatusDisk } from '../../protocols/800hu/status.js'

export { StatusError, DISK_STATUS_TEXT } from '../../protocols/800hu/status.js'

/**
 * cmd=channelstatus as the channel table sees it: the decoded `status` (protocols/800hu) with each
 * line state mapped to a table state. Pure: no table, no I/O.
 */

export type DiskInfo = StatusDisk

export interface ChannelReport {
  /** `ch`: the RJ11 port, from 1 */
  ch: string
  state: ChannelState
  /** `state` as sent (0–4; anything else maps to `unknown`) */
  rawState: number
  phone: string | null
  direction: Direction | null
  /** `peer` as sent: 1 outbound, 2 inbound */
  peer: string | null
  /** `timelen` in seconds, as sent */
  timelen: number | null
  serial: string | null
}

export interface BoxStatusReport {
  /** null when the post carries none of the disk fields (the last known disk state stands) */
  disk: DiskInfo | null
  /** `ip`: the box's configured LAN address */
  ip: string | null
  channels: ChannelReport[]
  /** placeholder entries left out (counted on the box) */
  skipped: number
}

export const STATE_MAP: Record<number, ChannelState> = { 0: 'offline', 1: 'idle', 2: 'ringing', 3: 'dialing', 4: 'talking' }

/** `status` as the box sent it: a JSON string (form fields) or already an object (JSON bodies). Throws StatusError. */
export function parseBoxStatus(raw: unknown): BoxStatusReport {
  const s = decodeStatus(raw)
  return {
    disk: s.disk,
    ip: s.ip,
    skipped: s.skipped ?? 0,
    channels: s.channels.map((c) => ({
      ch: c.ch,
      state: STATE_MAP[c.state] ?? 'unknown',
      rawState: c.state,
      phone: c.phone,
      direction: c.peer === '1' ? 'outbound' : c.peer === '2' ? 'inbound' : null,
      peer: c.peer,
      timelen: c.timelen,
      serial: c.serial,
    })),
  }
}
