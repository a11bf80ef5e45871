/**
 * LQ channel status → a line state and direction (the daemon's table speaks these words).
 *
 * Decisions (the vendor gives codes, not call states):
 * - 0 空闲/挂机 → idle; 2 振铃 → ringing; 3 通话 → talking; 7 挂起 → held;
 *   4 等待拨号音, 5 拨号, 6 等待拨号结果, 9 等待被叫摘机, 12 呼出锁定 → dialing;
 *   8 断线, 11 通道不可用, or a negative inUse (channel not enabled) → offline; 10 内部状态 → unknown.
 * - 1 摘机 (off-hook) is all an LCall agent channel ever shows while busy, so it is refined by `step`
 *   (a word with 通话 → talking, 振铃 → ringing, 拨号/呼叫/等待被叫 → dialing); otherwise a channel in use
 *   (inUse > 0) is talking and an unused off-hook one is dialing (handset lifted, no call yet).
 * - A step that waits for a hang-up (等待坐席挂机, 等待挂机: the other side is gone, the handset is still
 *   off) on an off-hook or talking channel → idle: the call is over, and a wallboard must not count it
 *   as talking (seed 000's own example shows 摘机 + 等待坐席挂机 after the call).
 * - Unknown status → unknown (never idle).
 * - Direction from inUse: 1 外部呼入, 6 内线被呼, 7 IP接入 → inbound; 2, 3 网站回呼, 4, 5, 8 → outbound;
 *   0 → null; 9/10 三方通话 and unknown codes → null (the call's direction is not told).
 */

export type LineState = 'offline' | 'idle' | 'ringing' | 'dialing' | 'talking' | 'held' | 'unknown'

const BY_STATUS: readonly (LineState | 'offhook')[] = [
  'idle', // 0
  'offhook', // 1
  'ringing', // 2
  'talking', // 3
  'dialing', // 4
  'dialing', // 5
  'dialing', // 6
  'held', // 7
  'offline', // 8
  'dialing', // 9
  'unknown', // 10
  'offline', // 11
  'dialing', // 12
]

export function lineState(s: { status: number | null; inUse: number | null; step?: string | null }): LineState {
  if (s.inUse !== null && s.inUse < 0) return 'offline'
  if (s.status === null) return 'unknown'
  const st = BY_STATUS[s.status]
  if (st === undefined) return 'unknown'
  const step = s.step ?? ''
  if ((st === 'offhook' || st === 'talking') && /等待.{0,4}挂机/.test(step)) return 'idle'
  if (st !== 'offhook') return st
  if (step.includes('通话')) return 'talking'
  if (step.includes('振铃')) return 'ringing'
  if (step.includes('拨号') || step.includes('呼叫') || step.includes('等待被叫')) return 'dialing'
  return s.inUse !== null && s.inUse > 0 ? 'talking' : 'dialing'
}

export function lineDirection(inUse: number | null): 'inbound' | 'outbound' | null {
  switch (inUse) {
    case 1:
    case 6:
    case 7:
      return 'inbound'
    case 2:
    case 3:
    case 4:
    case 5:
    case 8:
      return 'outbound'
    default:
      return null
  }
}
