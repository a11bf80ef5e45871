import { hostTimeZone, localOffset, offsetAt } from '../lq-pop/time.js'

/**
 * The 800hu API's times, `yyyy-mm-dd hh:nn:ss` (seed 003 §2.4.1), as wall-clock time in one zone:
 * the daemon's `timeZone` when set, else the host's.
 */

const pad = (n: number) => String(n).padStart(2, '0')

/** `yyyy-mm-dd hh:nn:ss` of an instant in `zone` (default: the host's). */
export function vendorTime(ms: number, zone?: string): string {
  const d = new Date(ms + offsetAt(ms, zone ?? hostTimeZone()))
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

const TEXT = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$/

/** `yyyy-mm-dd[ hh:nn[:ss]]` read as wall-clock time in `zone` (default: the host's) → epoch ms; epoch ms as digits pass; null if invalid. */
export function parseVendorTime(s: string, zone?: string): number | null {
  const t = s.trim()
  if (/^\d{1,15}$/.test(t)) return Number(t)
  const m = TEXT.exec(t)
  if (!m) return null
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number]
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return null
  const wall = Date.UTC(y, mo - 1, d, h, mi, sec)
  if (new Date(wall).getUTCDate() !== d) return null
  return wall - localOffset(wall, zone ?? hostTimeZone())
}
