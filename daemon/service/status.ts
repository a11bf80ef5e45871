import type { Config } from '../config.js'

/**
 * Exit codes of `telbridge status`, chosen so a Nagios/Icinga-style check can run it as it is:
 * 0 OK, 1 WARNING (a source is not connected), 3 UNKNOWN (no trustworthy answer from the daemon).
 * 2 stays the CLI-wide "usage or configuration error".
 */
export const STATUS_EXIT = { ok: 0, sourceDown: 1, usage: 2, unknown: 3 } as const

/** The daemon could not be asked: unreachable, timed out, refused the token, or answered nonsense. */
export class StatusUnknown extends Error {
  override name = 'StatusUnknown'
}

export interface StatusTarget {
  /** base URL of the local API, without a trailing slash */
  url: string
  token?: string
  timeoutMs: number
}

export interface SourceRow {
  id: string
  type: string
  status: string
  since: string | null
  lastError: string | null
  channels: number | null
}

export interface DaemonStatus {
  url: string
  version: string | null
  uptimeSeconds: number | null
  sources: SourceRow[]
}

export interface StatusSummary {
  ok: boolean
  total: number
  connected: number
  /** sources whose status is anything but `connected` */
  notConnected: SourceRow[]
}

/** A base URL from `--url`: http(s) only, no query, trailing slashes dropped. */
export function normalizeUrl(raw: string): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new TypeError(`--url must be an http:// or https:// URL, got ${JSON.stringify(raw)}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`--url must be an http:// or https:// URL, got ${JSON.stringify(raw)}`)
  if (u.search || u.hash) throw new TypeError(`--url must be the API's base URL without a query, got ${JSON.stringify(raw)}`)
  return (u.origin + u.pathname).replace(/\/+$/, '')
}

/** Where a local client reaches the API a config describes (a wildcard bind is reached on loopback). */
export function apiUrlFromConfig(api: Config['api']): string {
  if (api.port === 0) throw new TypeError('api.port is 0 (any free port) in that config, so the port is not known: pass --url')
  let host = api.host
  if (host === '0.0.0.0') host = '127.0.0.1'
  else if (host === '::' || host === '[::]') host = '::1'
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `http://${host}:${api.port}`
}

/** Asks the daemon for its sources (and, for the header, its version). Throws StatusUnknown. */
export async function fetchStatus(target: StatusTarget): Promise<DaemonStatus> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (target.token) headers.authorization = `Bearer ${target.token}`
  const signal = AbortSignal.timeout(target.timeoutMs)
  // health is public and only decorates the header: its failure alone is not a verdict
  const [sources, health] = await Promise.all([getJson(`${target.url}/v1/sources`, headers, signal, target), getJson(`${target.url}/v1/health`, headers, signal, target).catch(() => null)])
  const list = (sources as { sources?: unknown } | null)?.sources
  if (!Array.isArray(list)) throw new StatusUnknown(`unexpected answer from ${target.url}/v1/sources: no "sources" list`)
  const h = (health ?? {}) as { version?: unknown; uptimeSeconds?: unknown }
  return {
    url: target.url,
    version: typeof h.version === 'string' ? h.version : null,
    uptimeSeconds: typeof h.uptimeSeconds === 'number' ? h.uptimeSeconds : null,
    sources: list.map((s, i) => sourceRow(s, i, target.url)),
  }
}

async function getJson(url: string, headers: Record<string, string>, signal: AbortSignal, target: StatusTarget): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(url, { headers, signal, redirect: 'error' })
  } catch (err) {
    throw new StatusUnknown(`cannot reach the daemon at ${target.url}: ${fetchFailure(err, target.timeoutMs)}`)
  }
  let text: string
  try {
    text = await res.text()
  } catch (err) {
    throw new StatusUnknown(`the daemon at ${target.url} did not finish its answer: ${fetchFailure(err, target.timeoutMs)}`)
  }
  if (res.status === 401) {
    throw new StatusUnknown(`the daemon at ${target.url} refused the ${target.token ? 'token' : 'request (it needs a token)'} (401): pass --token, set TELBRIDGE_TOKEN, or --config with its api.token`)
  }
  if (!res.ok) throw new StatusUnknown(`the daemon at ${target.url} answered ${res.status} to ${new URL(url).pathname}: ${text.slice(0, 200)}`)
  try {
    return JSON.parse(text)
  } catch {
    throw new StatusUnknown(`the answer from ${url} is not JSON (is ${target.url} a telbridge API?): ${JSON.stringify(text.slice(0, 80))}`)
  }
}

function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`
  const code = e.cause?.code
  if (code === 'ECONNREFUSED') return 'connection refused (is telbridge running, on that port?)'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host'
  if (code) return `${code}${e.cause?.message ? ` (${e.cause.message})` : ''}`
  return e.cause?.message ?? e.message ?? String(err)
}

function sourceRow(raw: unknown, i: number, url: string): SourceRow {
  const s = raw as Record<string, unknown> | null
  if (!s || typeof s !== 'object' || typeof s.id !== 'string' || typeof s.status !== 'string') {
    throw new StatusUnknown(`unexpected answer from ${url}/v1/sources: sources[${i}] has no id or status`)
  }
  return {
    id: s.id,
    type: typeof s.type === 'string' ? s.type : '?',
    status: s.status,
    since: typeof s.since === 'string' ? s.since : null,
    lastError: typeof s.lastError === 'string' ? s.lastError : null,
    channels: typeof s.channels === 'number' ? s.channels : null,
  }
}

export function summarize(rows: readonly SourceRow[]): StatusSummary {
  const notConnected = rows.filter((r) => r.status !== 'connected')
  return { ok: notConnected.length === 0, total: rows.length, connected: rows.length - notConnected.length, notConnected }
}

/** The check's first line, monitoring-plugin style: `telbridge OK: 2 of 2 sources connected`. */
export function headline(st: DaemonStatus, sum: StatusSummary): string {
  if (sum.total === 0) return `telbridge OK: no sources configured (${st.url})`
  if (sum.ok) return `telbridge OK: ${sum.total} of ${sum.total} source${sum.total === 1 ? '' : 's'} connected (${st.url})`
  const names = printable(sum.notConnected.map((r) => `${r.id} ${r.status}`).join(', '))
  return `telbridge WARNING: ${sum.connected} of ${sum.total} sources connected; ${names} (${st.url})`
}

export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`
}

/** Vendor text reaches the terminal through lastError: no control characters (escape sequences) pass. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ')
}

/** A plain-text table: one row per source, columns padded, the last error last (it can be long). */
export function formatTable(st: DaemonStatus, now = Date.now()): string {
  const head = ['SOURCE', 'TYPE', 'STATUS', 'SINCE', 'CHANNELS', 'LAST ERROR']
  const rows = st.sources.map((r) => {
    const t = r.since ? Date.parse(r.since) : NaN
    const since = Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 19)}Z (${formatAge(now - t)} ago)` : '-'
    return [r.id, r.type, r.status, since, r.channels === null ? '-' : String(r.channels), r.lastError ?? '-'].map(printable)
  })
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  const about = [st.version ? `telbridge ${st.version}` : null, st.uptimeSeconds !== null ? `up ${formatAge(st.uptimeSeconds * 1000)}` : null].filter(Boolean).join(', ')
  return (about ? about + '\n' : '') + (rows.length ? [line(head), ...rows.map(line)].join('\n') + '\n' : '')
}
