import { createHash } from 'node:crypto'
import { ConfigError, ID_PATTERN, type ArraySchema, type Infer } from '../core/schema.js'

/**
 * One entry of the top-level `webhooks` list: its wire format (the 800hu-style push, seed 003
 * §2.10.4: `type`, `peer`, `phone`, `memo`; or telbridge's `{id, type, time, data}` of any bus event),
 * for which events and sources, and how the outbox bounds and retries it.
 */

export const WEBHOOK_FORMATS = ['800hu', 'telbridge'] as const
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number]

/** seed §2.10.4 `type`: 1 呼叫 (a call starts), 2 接听 (answered), 3 挂断 (hung up), 4 录音推送 (recording). */
export const WEBHOOK_EVENTS = ['call', 'answer', 'hangup', 'recording'] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]
export const EVENT_TYPE: Record<WebhookEvent, number> = { call: 1, answer: 2, hangup: 3, recording: 4 }

/**
 * Bus events a `telbridge`-format webhook may take (docs/events.md): the call record's life, what the
 * lines, pops, agents, boxes and sources do. Not offered: `pop.invalid`/`frame.invalid` (diagnostics),
 * `lqclient`, `call` (call-control requests), `cdr` (superseded by `call.ended`), `reset` (stream-only).
 */
export const TELBRIDGE_EVENTS = ['call.started', 'call.answered', 'call.ended', 'call.updated', 'recording', 'agent', 'channel', 'pop', 'device', 'source'] as const
export type TelbridgeEvent = (typeof TELBRIDGE_EVENTS)[number]

const ALL_EVENTS = [...new Set<string>([...WEBHOOK_EVENTS, ...TELBRIDGE_EVENTS])]

/** What `events` and `sources` are when a webhook does not say, per format. */
export const FORMAT_DEFAULTS: Record<WebhookFormat, { events: readonly string[]; sources: readonly string[] }> = {
  '800hu': { events: ['hangup', 'recording'], sources: ['800hu-*'] },
  telbridge: { events: ['call.started', 'call.answered', 'call.ended', 'call.updated'], sources: ['*'] },
}

const FORMAT_EVENTS: Record<WebhookFormat, readonly string[]> = { '800hu': WEBHOOK_EVENTS, telbridge: TELBRIDGE_EVENTS }

function checkUrl(v: string): string | null {
  let u: URL
  try {
    u = new URL(v)
  } catch {
    return 'an absolute http:// or https:// URL'
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'an http:// or https:// URL'
  if (u.username || u.password) return 'a URL without user:password (use headers, e.g. Authorization)'
  return null
}

function checkSource(v: string): string | null {
  if (v === '*') return null
  const base = v.endsWith('*') ? v.slice(0, -1) : v
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(base) ? null : 'a source id, or a prefix ending in * (e.g. "800hu-*", or "*" for all)'
}

export const webhooksSchema = {
  type: 'array',
  default: [],
  maxItems: 50,
  doc: "where call and recording notifications are pushed (the 800hu server's push, seed 003 §2.10.4), each with its own outbox",
  items: {
    type: 'object',
    doc: 'one webhook',
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 2000, check: checkUrl, doc: 'where the notifications go (http:// or https://)' },
      id: {
        type: 'string',
        optional: true,
        pattern: ID_PATTERN,
        patternText: 'an id of letters, digits, _ . - (at most 64, starting with a letter or digit)',
        doc: 'names the outbox directory, metrics and logs; default: derived from the URL',
      },
      format: { type: 'string', default: '800hu', enum: WEBHOOK_FORMATS, doc: '800hu: the vendor-style push (type/peer/phone/memo); telbridge: a JSON POST `{id, type, time, data}` of bus events' },
      events: {
        type: 'array',
        minItems: 1,
        maxItems: 20,
        items: { type: 'string', enum: ALL_EVENTS, doc: 'an event: 800hu format call, answer, hangup, recording; telbridge format a bus event type (call.ended, agent, …)' },
        doc: 'which events are pushed; default per format (800hu: hangup, recording; telbridge: call.started, call.answered, call.ended, call.updated)',
      },
      sources: {
        type: 'array',
        minItems: 1,
        maxItems: 1000,
        items: { type: 'string', check: checkSource, doc: 'a source id or a prefix ending in *' },
        doc: 'notifications from these sources only (exact ids, or a prefix ending in `*`); default per format (800hu: `800hu-*`; telbridge: `*`)',
      },
      method: { type: 'string', enum: ['GET', 'POST'], doc: "800hu format: GET (default; fields in the query string, the vendor's way) or POST as `body` says; telbridge format: POST only" },
      body: { type: 'string', default: 'form', enum: ['form', 'json'], doc: '800hu format: a POST body as application/x-www-form-urlencoded (form) or JSON' },
      timeoutSeconds: { type: 'number', default: 10, min: 0.05, max: 300, doc: 'per delivery attempt' },
      headers: {
        type: 'record',
        default: {},
        values: { type: 'string', maxLength: 4000, pattern: /^[\t\x20-\x7e]*$/, patternText: 'a header value of printable ASCII', doc: 'a header value' },
        doc: 'extra request headers, e.g. Authorization',
      },
      secret: {
        type: 'string',
        optional: true,
        minLength: 16,
        maxLength: 512,
        doc: 'when set: `X-Telbridge-Signature: t=<unix s at each attempt>,v1=<hex HMAC-SHA256 of "<t>.<query or body>">`',
      },
      retryBaseSeconds: { type: 'number', default: 1, min: 0.01, max: 3600, doc: 'first retry after this long; doubled each failure up to retryMaxSeconds' },
      retryMaxSeconds: { type: 'number', default: 60, min: 0.01, max: 86400, doc: 'longest wait between retries' },
      maxEntries: { type: 'integer', default: 100_000, min: 1, max: 10_000_000, doc: 'outbox bound in notifications: at it, new ones are dropped (counted, logged), queued ones kept' },
      maxBytes: { type: 'integer', default: 256 * 1024 * 1024, min: 4096, max: 64 * 1024 ** 3, doc: 'outbox bound in bytes, like maxEntries' },
    },
  },
} as const satisfies ArraySchema

/** One entry of the top-level `webhooks` list; `events`, `sources` and `method` are filled per format by withWebhookDefaults. */
export type WebhookConfig = Infer<(typeof webhooksSchema)['items']>

/**
 * The raw config with each webhook's per-format defaults filled in (`events`, `sources`, `method`):
 * the schema's defaults are one per key, these depend on `format`. Anything malformed is left for
 * the schema to refuse with its own message.
 */
export function withWebhookDefaults(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw
  const hooks = (raw as Record<string, unknown>).webhooks
  if (!Array.isArray(hooks)) return raw
  return {
    ...raw,
    webhooks: hooks.map((h: unknown) => {
      if (!h || typeof h !== 'object' || Array.isArray(h)) return h
      const o = h as Record<string, unknown>
      const format = o.format === undefined ? '800hu' : o.format
      if (format !== '800hu' && format !== 'telbridge') return h
      const d = FORMAT_DEFAULTS[format]
      return { ...o, events: o.events ?? [...d.events], sources: o.sources ?? [...d.sources], method: o.method ?? (format === 'telbridge' ? 'POST' : 'GET') }
    }),
  }
}

/** The outbox directory name: the configured id, else one stable across restarts and list reordering. */
export function webhookId(h: WebhookConfig): string {
  return h.id ?? 'url-' + createHash('sha256').update(h.url).digest('hex').slice(0, 12)
}

/** Checks the schema cannot express: unique ids (two webhooks must not share a queue), header names. */
export function checkWebhooks(hooks: readonly WebhookConfig[]): void {
  const seen = new Map<string, number>()
  hooks.forEach((h, i) => {
    const id = webhookId(h)
    const prev = seen.get(id)
    if (prev !== undefined) {
      throw new ConfigError(h.id ? `webhooks[${i}].id` : `webhooks[${i}].url`, h.id ? `an id not used by webhooks[${prev}]` : `a URL not used by webhooks[${prev}] (or give each an id)`, h.id ?? h.url)
    }
    seen.set(id, i)
    for (const name of Object.keys(h.headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/.test(name)) throw new ConfigError(`webhooks[${i}].headers`, 'HTTP header names (letters, digits, -)', name)
    }
    const allowed = FORMAT_EVENTS[h.format]
    h.events.forEach((e, j) => {
      if (allowed.includes(e)) return
      const other = h.format === 'telbridge' ? '800hu' : 'telbridge'
      const hint = FORMAT_EVENTS[other].includes(e) ? ` ("${e}" is a ${other}-format event${h.format === 'telbridge' && e in MAP_800HU ? `; here: "${MAP_800HU[e as WebhookEvent]}"` : ''})` : ''
      throw new ConfigError(`webhooks[${i}].events[${j}]`, `for format "${h.format}" one of ${allowed.join(', ')}${hint}`, e)
    })
    if (h.format === 'telbridge' && h.method !== 'POST') throw new ConfigError(`webhooks[${i}].method`, 'POST (a telbridge-format webhook is a JSON POST)', h.method)
    if (h.retryMaxSeconds < h.retryBaseSeconds) throw new ConfigError(`webhooks[${i}].retryMaxSeconds`, `at least retryBaseSeconds (${h.retryBaseSeconds})`, h.retryMaxSeconds)
  })
}

/** The telbridge-format event an 800hu-format event name most likely means (config error hints). */
const MAP_800HU: Record<WebhookEvent, TelbridgeEvent> = { call: 'call.started', answer: 'call.answered', hangup: 'call.ended', recording: 'recording' }

/** `800hu-*` matches every box; `*` every source. */
export function sourceMatches(patterns: readonly string[], source: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === source) return true
    if (p.endsWith('*') && source.startsWith(p.slice(0, -1))) return true
  }
  return false
}
