/**
 * Time-zone math for LQ pop strings, with Intl only (no dependency).
 *
 * The LQ server writes `tm` as local wall-clock time `YYMMDDHHMMSS` in its own time zone, and t1v1's
 * startTime as UTC milliseconds. Both become ISO 8601 strings carrying that zone's offset.
 *
 * Speed: `Intl.DateTimeFormat` is created once per zone, and offsets are cached per zone and hour
 * (UTC hour for instants, local hour for wall-clock times). An hour is cached only when the offset is
 * the same at its start and its end, so an hour that holds a DST switch (including the 30-minute
 * switches of Australia/Lord_Howe) is always computed exactly.
 */

const HOUR = 3_600_000
const DAY = 86_400_000
/** caches are dropped wholesale when they grow past this (a long-running daemon sees ~1 new hour/hour) */
const CACHE_LIMIT = 50_000

interface ZoneCache {
  fmt: Intl.DateTimeFormat
  /** UTC hour index → offset (ms) valid for the whole hour */
  utcHours: Map<number, number>
  /** local wall-clock hour index → resolved offset (ms) valid for the whole local hour */
  localHours: Map<number, number>
}

const zones = new Map<string, ZoneCache>()
let lastZoneName = ''
let lastZone: ZoneCache | undefined
let hostZone: string | undefined

/** The host's IANA time zone (what `new Date().toString()` uses). */
export function hostTimeZone(): string {
  if (hostZone === undefined) hostZone = new Intl.DateTimeFormat().resolvedOptions().timeZone
  return hostZone
}

/** true when `zone` is a time zone name Intl accepts (e.g. "Asia/Shanghai", "UTC"). */
export function isValidTimeZone(zone: string): boolean {
  try {
    zoneCache(zone)
    return true
  } catch {
    return false
  }
}

/** @throws RangeError for an unknown zone */
function zoneCache(zone: string): ZoneCache {
  if (zone === lastZoneName && lastZone !== undefined) return lastZone
  let z = zones.get(zone)
  if (z === undefined) {
    const fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    z = { fmt, utcHours: new Map(), localHours: new Map() }
    zones.set(zone, z)
  }
  lastZoneName = zone
  lastZone = z
  return z
}

/** Offset (ms, local − UTC) at an instant, straight from Intl. Second resolution. */
function intlOffset(z: ZoneCache, utcMs: number): number {
  let year = 0
  let month = 1
  let day = 1
  let hour = 0
  let minute = 0
  let second = 0
  for (const p of z.fmt.formatToParts(utcMs)) {
    switch (p.type) {
      case 'year':
        year = Number(p.value)
        break
      case 'month':
        month = Number(p.value)
        break
      case 'day':
        day = Number(p.value)
        break
      case 'hour':
        hour = Number(p.value) % 24
        break
      case 'minute':
        minute = Number(p.value)
        break
      case 'second':
        second = Number(p.value)
        break
    }
  }
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, 0)
  const floored = utcMs - (((utcMs % 1000) + 1000) % 1000)
  return d.getTime() - floored
}

/** Offset (ms, local − UTC) of `zone` at the instant `utcMs`. @throws RangeError for an unknown zone */
export function offsetAt(utcMs: number, zone: string): number {
  return offsetIn(zoneCache(zone), utcMs)
}

function offsetIn(z: ZoneCache, utcMs: number): number {
  const h = Math.floor(utcMs / HOUR)
  const cached = z.utcHours.get(h)
  if (cached !== undefined) return cached
  const start = h * HOUR
  const a = intlOffset(z, start)
  const b = intlOffset(z, start + HOUR - 1000)
  if (a !== b) return intlOffset(z, utcMs) // a switch inside this hour: never cached
  /* c8 ignore next */
  if (z.utcHours.size >= CACHE_LIMIT) z.utcHours.clear()
  z.utcHours.set(h, a)
  return a
}

/**
 * Offset for a local wall-clock time `localMs` (the wall clock read as if it were UTC).
 * Ambiguous times (the repeated hour when clocks go back) take the earlier instant, i.e. the offset
 * in force before the switch; times that do not exist (skipped when clocks go forward) also take the
 * offset in force before the switch. This is Temporal's "compatible" disambiguation.
 */
function resolveLocal(z: ZoneCache, localMs: number): number {
  const before = offsetIn(z, localMs - DAY)
  if (offsetIn(z, localMs - before) === before) return before
  const after = offsetIn(z, localMs + DAY)
  if (after !== before && offsetIn(z, localMs - after) === after) return after
  return before
}

function localOffsetIn(z: ZoneCache, localMs: number): number {
  const h = Math.floor(localMs / HOUR)
  const cached = z.localHours.get(h)
  if (cached !== undefined) return cached
  const start = h * HOUR
  const a = resolveLocal(z, start)
  const b = resolveLocal(z, start + HOUR - 1000)
  if (a !== b) return resolveLocal(z, localMs)
  /* c8 ignore next */
  if (z.localHours.size >= CACHE_LIMIT) z.localHours.clear()
  z.localHours.set(h, a)
  return a
}

/** Offset in force for a wall-clock time in `zone`; see {@link resolveLocal} for DST gaps/overlaps. */
export function localOffset(localMs: number, zone: string): number {
  return localOffsetIn(zoneCache(zone), localMs)
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : '' + n
}

function pad3(n: number): string {
  return n < 10 ? '00' + n : n < 100 ? '0' + n : '' + n
}

/** `+08:00`, `-04:00`, `+00:00` (never `Z`); `+HH:MM:SS` only for historical second-offsets. */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+'
  let s = Math.round(Math.abs(offsetMs) / 1000)
  const hh = Math.floor(s / 3600)
  s -= hh * 3600
  const mm = Math.floor(s / 60)
  s -= mm * 60
  return sign + pad2(hh) + ':' + pad2(mm) + (s !== 0 ? ':' + pad2(s) : '')
}

const offsetStrings = new Map<number, string>()
function offsetString(offsetMs: number): string {
  let s = offsetStrings.get(offsetMs)
  if (s === undefined) {
    s = formatOffset(offsetMs)
    offsetStrings.set(offsetMs, s)
  }
  return s
}

function year4(y: number): string {
  return String(y).padStart(4, '0')
}

/**
 * Memo of the last minute formatted by {@link isoInZone}: pops come in time order,
 * so most share the previous pop's minute. Only minutes inside an hour whose offset is cached (no
 * switch inside it) are memoised.
 */
let isoMemoZone = ''
let isoMemoMinute = NaN
let isoMemoPrefix = ''
let isoMemoOffset = ''

/**
 * ISO 8601 of an instant in `zone`, e.g. `2008-04-20T14:52:24.953+08:00`.
 * Years 1–9999 only (callers range-check; pops never carry times before 1970).
 * @throws RangeError for an unknown zone
 */
export function isoInZone(utcMs: number, zone: string, withMs = true): string {
  const minute = Math.floor(utcMs / 60_000)
  const rem = utcMs - minute * 60_000
  if (minute === isoMemoMinute && zone === isoMemoZone) return isoMemoPrefix + secondsPart(rem, withMs) + isoMemoOffset
  const z = zoneCache(zone)
  const off = offsetIn(z, utcMs)
  const local = utcMs + off
  const localMinute = Math.floor(local / 60_000)
  const localRem = local - localMinute * 60_000
  const d = new Date(localMinute * 60_000)
  const prefix = year4(d.getUTCFullYear()) + '-' + pad2(d.getUTCMonth() + 1) + '-' + pad2(d.getUTCDate()) + 'T' + pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':'
  const offStr = offsetString(off)
  if (z.utcHours.has(Math.floor(utcMs / HOUR)) && off % 60_000 === 0) {
    // whole-minute offset: the UTC minute is one local minute
    isoMemoZone = zone
    isoMemoMinute = minute
    isoMemoPrefix = prefix
    isoMemoOffset = offStr
  }
  return prefix + secondsPart(localRem, withMs) + offStr
}

/** `SS.mmm` / `SS` from milliseconds into the minute */
function secondsPart(rem: number, withMs: boolean): string {
  const sec = Math.floor(rem / 1000)
  return withMs ? pad2(sec) + '.' + pad3(rem - sec * 1000) : pad2(sec)
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** two decimal digits at s[i], or -1 */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48
  const b = s.charCodeAt(i + 1) - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

/**
 * LQ `tm` (`YYMMDDHHMMSS`, 20YY, local time in `zone`) → ISO 8601 with that zone's offset, keeping the
 * wall-clock digits as sent: `080711175931` → `2008-07-11T17:59:31+08:00` (Asia/Shanghai).
 * A wall time skipped by a DST switch keeps its digits and gets the pre-switch offset (so it denotes
 * the instant Temporal's "compatible" mode gives). Returns null when `tm` is not a valid time.
 * @throws RangeError for an unknown zone
 */
export function lqTimeToIso(tm: string, zone: string): string | null {
  // A burst of pops shares its second, and the result depends on tm and zone alone: hand back the
  // same string (already flat, so each pop does not build and flatten its own copy).
  if (tmLastIso !== null && tm === tmLastTm && zone === tmLastZone) return tmLastIso
  const iso = tmToIso(tm, zone)
  if (iso !== null) {
    tmLastTm = tm
    tmLastZone = zone
    tmLastIso = iso
  }
  return iso
}

/** the last valid `tm` {@link lqTimeToIso} converted, its zone and its result (null: none yet) */
let tmLastTm = ''
let tmLastZone = ''
let tmLastIso: string | null = null

function tmToIso(tm: string, zone: string): string | null {
  if (tm.length !== 12) return null
  const yy = two(tm, 0)
  const mo = two(tm, 2)
  const dd = two(tm, 4)
  const hh = two(tm, 6)
  const mi = two(tm, 8)
  const ss = two(tm, 10)
  // two() is -1 for a non-digit, which every range check below rejects
  if (yy < 0 || mo < 1 || mo > 12 || dd < 1 || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59) return null
  const year = 2000 + yy
  const dim = mo === 2 ? (year % 4 === 0 ? 29 : 28) : (DAYS_IN_MONTH[mo - 1] as number) // 2000–2099: every 4th year is leap
  if (dd > dim) return null
  if (zone === tmMemoZone && tm.startsWith(tmMemoMinute)) return tmMemoPrefix + tm.slice(10, 12) + tmMemoOffset
  const localMs = Date.UTC(year, mo - 1, dd, hh, mi, ss)
  const z = zoneCache(zone)
  const off = localOffsetIn(z, localMs)
  const prefix = '20' + tm.slice(0, 2) + '-' + tm.slice(2, 4) + '-' + tm.slice(4, 6) + 'T' + tm.slice(6, 8) + ':' + tm.slice(8, 10) + ':'
  const offStr = offsetString(off)
  if (z.localHours.has(Math.floor(localMs / HOUR))) {
    // a whole local hour with one resolution: the rest of this minute will get the same offset
    tmMemoZone = zone
    tmMemoMinute = tm.slice(0, 10)
    tmMemoPrefix = prefix
    tmMemoOffset = offStr
  }
  return prefix + tm.slice(10, 12) + offStr
}

/** memo of the last `tm` minute (YYMMDDHHMM) in {@link lqTimeToIso}; see the isoInZone memo */
let tmMemoZone = ''
let tmMemoMinute = '-'
let tmMemoPrefix = ''
let tmMemoOffset = ''

/**
 * An instant → LQ `tm` (`YYMMDDHHMMSS`) in `zone`. Seconds are truncated. Years 2000–2099 only.
 * @throws RangeError for an unknown zone or a year outside 2000–2099
 */
export function formatLqTime(time: Date | number, zone: string): string {
  const utcMs = typeof time === 'number' ? time : time.getTime()
  const d = new Date(utcMs + offsetIn(zoneCache(zone), utcMs))
  const y = d.getUTCFullYear()
  if (!(y >= 2000 && y <= 2099)) throw new RangeError(`tm can only carry years 2000-2099, got ${y}`)
  return pad2(y - 2000) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) + pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds())
}
