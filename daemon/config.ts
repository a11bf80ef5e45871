import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { ConfigError, validate, checkTimeZone, type Infer, type ObjectSchema, type Schema, type StringSchema } from './core/schema.js'
import { callsSchema } from './core/calls/config.js'
import { recordingsSchema } from './core/recordings/config.js'
import { checkWebhooks, webhooksSchema, withWebhookDefaults } from './webhooks/config.js'
import { findJsonSyntaxError, type JsonSyntaxError } from './core/json-syntax.js'
import { MODULES } from './registry.js'
import { HTTP_LIMITS } from './core/http-limits.js'

export { ConfigError }

/** The config file is not JSON: where, and what was expected there. */
export class ConfigSyntaxError extends ConfigError {
  constructor(
    readonly file: string,
    readonly at: JsonSyntaxError,
  ) {
    super('', 'JSON', undefined)
    this.message = `${file}:${at.line}:${at.column}: expected valid JSON: ${at.expected} at line ${at.line}, column ${at.column}`
  }
}

/** One `sources[]` entry: `id`, `type`, and the keys of its module's schema. */
export interface SourceConfig {
  readonly id: string
  readonly type: string
  readonly [key: string]: unknown
}

/** A `sources[]` entry: the module named by `type` gives the schema. */
const sourceSchema: Schema = {
  type: 'union',
  tag: 'type',
  variants: Object.fromEntries(MODULES.flatMap((m) => (m.source ? [[m.name, m.source.schema] as [string, ObjectSchema]] : []))),
}

/** The modules' top-level keys (`boxes`, `lqServer`), in registry order. */
const moduleSettings: Record<string, Schema> = Object.fromEntries(MODULES.flatMap((m) => Object.entries(m.settings ?? {})))

/** A DNS name or IPv4 address, or an IPv6 address in brackets; lower case compared. */
const HOSTNAME_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])$/
/** What a browser sends as Origin: scheme, host, optional port, nothing else. */
const ORIGIN_PATTERN = /^[a-z][a-z0-9+.-]*:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

const apiSchema = {
  type: 'object',
  doc: 'the local API listener (loopback by default)',
  properties: {
    host: { type: 'string', default: '127.0.0.1', minLength: 1, doc: 'address to listen on; not loopback needs api.token' },
    port: { type: 'port', default: 7700, doc: 'TCP port to listen on' },
    token: {
      type: 'string',
      optional: true,
      minLength: 16,
      patternText: 'a token of at least 16 printable characters',
      pattern: /^[\x21-\x7e]+$/,
      doc: 'when set, every route but /v1/health and /openapi.json needs `Authorization: Bearer <token>` (or `?access_token=`)',
    },
    eventBuffer: { type: 'integer', default: 10000, min: 100, max: 1_000_000, doc: 'events kept for replay with Last-Event-ID' },
    sseMaxBacklogBytes: { type: 'integer', default: 1 << 20, min: 4096, max: 1 << 30, doc: 'bytes queued for one SSE client before it is cut off' },
    sseHeartbeatSeconds: { type: 'number', default: 15, min: 0.01, max: 3600, doc: 'seconds between SSE keep-alive comments' },
    maxSseClients: { type: 'integer', default: 500, min: 1, max: 100_000, doc: 'event-stream clients at once; the next one gets 503 with Retry-After' },
    allowedHosts: {
      type: 'array',
      default: [],
      maxItems: 100,
      items: { type: 'string', pattern: HOSTNAME_PATTERN, patternText: 'a host name or address without port, e.g. "telbridge.lan"', doc: 'a host name or address' },
      doc: 'Host names answered besides loopback names/addresses and `host` itself (DNS-rebinding guard)',
    },
    cors: {
      type: 'object',
      doc: 'browser access from other origins',
      properties: {
        origins: {
          type: 'array',
          default: [],
          maxItems: 100,
          items: { type: 'string', pattern: ORIGIN_PATTERN, patternText: 'an origin: scheme://host[:port] with no path, e.g. "https://crm.example.com"', doc: 'an origin' },
          doc: 'browser origins allowed to call the API (CORS, Private Network Access); any other Origin gets 403',
        },
      },
    },
    loginRateLimit: {
      type: 'object',
      doc: 'failed logins (bearer token, local 800hu JSON API) per address and window before 429',
      properties: {
        max: { type: 'integer', default: 10, min: 1, max: 1_000_000, doc: 'failed logins allowed per window' },
        windowSeconds: { type: 'number', default: 60, min: 0.1, max: 86400, doc: 'the window' },
      },
    },
    ...HTTP_LIMITS,
  },
} as const satisfies ObjectSchema

export type ApiConfig = Infer<typeof apiSchema>

/** The device-facing HTTP listener: 800hu boxes and vendor callbacks (LQ custURL/popCRURL, Guoxin push). */
const ingestSchema = {
  type: 'object',
  optional: true,
  doc: 'the device-facing listener for 800hu boxes and vendor callbacks (LQ custURL/popCRURL, Guoxin push); absent: none',
  properties: {
    host: { type: 'string', default: '0.0.0.0', minLength: 1, doc: 'address to listen on (the boxes and vendor servers on the LAN must reach it)' },
    port: { type: 'port', default: 7701, doc: 'TCP port to listen on' },
    maxConnections: { type: 'integer', default: 1024, min: 1, max: 1_000_000, doc: 'TCP connections at once (boxes, vendor callbacks); more are dropped by Node as they arrive' },
    minUploadBytesPerSecond: {
      type: 'integer',
      default: 1024,
      min: 0,
      max: 1 << 30,
      doc: 'an upload bringing fewer bytes per second than this over a bodyIdleSeconds window is answered 408; 0: no minimum',
    },
    ...HTTP_LIMITS,
  },
} as const satisfies ObjectSchema

export type IngestConfig = Infer<typeof ingestSchema>

/** The top-level keys the daemon itself owns (modules add theirs, and `sources`). */
const logSchema = {
  type: 'object',
  doc: 'logging (JSON lines on stdout)',
  properties: { level: { type: 'string', default: 'info', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], doc: 'the lowest level written' } },
} as const satisfies ObjectSchema
const timeZoneSchema = { type: 'string', optional: true, check: checkTimeZone, doc: "IANA zone of the vendor servers' local times (`tm=`); default: the host's" } as const satisfies StringSchema
const popsSchema = {
  type: 'object',
  doc: 'screen pops',
  properties: { keep: { type: 'integer', default: 1000, min: 1, max: 100_000, doc: 'pops kept for GET /v1/pops' } },
} as const satisfies ObjectSchema
const dataDirSchema = {
  type: 'string',
  default: './data',
  minLength: 1,
  doc: 'where recordings, their index and the webhook outbox live (relative paths: from the working directory)',
} as const satisfies StringSchema

type CoreConfig = Infer<{
  type: 'object'
  properties: {
    api: typeof apiSchema
    log: typeof logSchema
    timeZone: typeof timeZoneSchema
    pops: typeof popsSchema
    ingest: typeof ingestSchema
    dataDir: typeof dataDirSchema
    recordings: typeof recordingsSchema
    calls: typeof callsSchema
    webhooks: typeof webhooksSchema
  }
}>

/** The validated config: the daemon's keys, `sources`, and the modules' own top-level keys (`boxes`, `lqServer`), which each module reads and checks. */
export type Config = CoreConfig & { readonly sources: readonly SourceConfig[]; readonly [key: string]: unknown }

export const configSchema: Schema = {
  type: 'object',
  properties: {
    api: apiSchema,
    log: logSchema,
    timeZone: timeZoneSchema,
    pops: popsSchema,
    ingest: ingestSchema,
    dataDir: dataDirSchema,
    ...moduleSettings,
    recordings: recordingsSchema,
    calls: callsSchema,
    webhooks: webhooksSchema,
    sources: { type: 'array', items: sourceSchema, default: [], doc: 'the vendor connections: each entry is one source, its keys those of its `type`' },
  },
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'))
}

/** Validate a parsed JSON value; checks that span keys (unique ids, token with a public host) too. */
export function parseConfig(raw: unknown): Config {
  const cfg = validate(configSchema, withWebhookDefaults(raw)) as Config
  const seen = new Set<string>()
  cfg.sources.forEach((s, i) => {
    if (seen.has(s.id)) throw new ConfigError(`sources[${i}].id`, 'an id not used by another source', s.id)
    seen.add(s.id)
  })
  for (const m of MODULES) m.check?.(cfg)
  checkWebhooks(cfg.webhooks)
  if (!isLoopback(cfg.api.host) && !cfg.api.token) {
    throw new ConfigError('api.token', `a token, because api.host ${cfg.api.host} is not loopback (anyone on the network could control calls)`, undefined)
  }
  return cfg
}

/** What the config expects of an ingest listener that is not there (warnings: the daemon still runs). */
export function ingestWarnings(cfg: Config): string[] {
  if (cfg.ingest) return []
  return MODULES.flatMap((m) => m.ingestNeeds?.(cfg) ?? [])
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError('', `a readable config file at ${file}`, (err as NodeJS.ErrnoException).code ?? String(err))
  }
  // a UTF-8 byte order mark, as Windows editors write one, is not part of the JSON
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    const at = findJsonSyntaxError(text)
    if (at) throw new ConfigSyntaxError(file, at)
    throw new ConfigError('', `valid JSON in ${file} (${(err as Error).message})`, text.slice(0, 40))
  }
  return parseConfig(raw)
}
