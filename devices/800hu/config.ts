import { ConfigError, type Schema } from '../../daemon/core/schema.js'
import { normaliseMac } from '../../protocols/800hu/mac.js'

/** Keys under top-level `boxes`. */
export interface BoxesConfig {
  /** box MACs allowed to talk to us (any notation; normalised) */
  allow: readonly string[]
  /** accept unknown boxes and add them */
  autoRegister: boolean
  /** most boxes autoRegister will add (a flood of made-up MACs must not grow memory without bound) */
  maxBoxes: number
  /** display names by MAC (any notation) */
  names: Readonly<Record<string, string>>
  /** a box that posts nothing for this long is offline, with its channels */
  offlineSeconds: number
  /** how long a getMessageList poll is held when no command is waiting */
  longPollSeconds: number
  /** a command no poll picked up within this time expires */
  commandTtlSeconds: number
  /** commands waiting for one box, at most */
  maxQueuedCommands: number
  /** concurrent uploads from one address; the next one gets 503 in the vendor's shape */
  maxUploadsPerIp: number
  /** more paths for the box endpoint on the ingest listener, besides the vendor's four */
  paths: readonly string[]
  /** the local 800hu JSON API (`/voip/api/jsondata.html` on the API listener); absent: it answers -5 */
  localApi?: { user: string; password: string }
}

function checkMac(v: string): string | null {
  return normaliseMac(v) ? null : 'a MAC address (12 hex digits, with or without : or - between pairs)'
}

export const boxesSchema: Schema = {
  type: 'object',
  properties: {
    allow: { type: 'array', items: { type: 'string', check: checkMac }, default: [], maxItems: 10_000 },
    autoRegister: { type: 'boolean', default: false },
    maxBoxes: { type: 'integer', default: 1000, min: 1, max: 100_000 },
    names: { type: 'record', values: { type: 'string', minLength: 1, maxLength: 100 }, default: {} },
    offlineSeconds: { type: 'number', default: 90, min: 0.1, max: 86400 },
    longPollSeconds: { type: 'number', default: 25, min: 0.1, max: 300 },
    commandTtlSeconds: { type: 'number', default: 60, min: 0.1, max: 86400 },
    maxQueuedCommands: { type: 'integer', default: 100, min: 1, max: 10_000 },
    maxUploadsPerIp: { type: 'integer', default: 8, min: 1, max: 10_000 },
    paths: {
      type: 'array',
      default: [],
      maxItems: 20,
      items: { type: 'string', pattern: /^\/[A-Za-z0-9._~\/-]{0,200}$/, patternText: 'a URL path starting with / (letters, digits, . _ ~ - /)' },
    },
    localApi: {
      type: 'object',
      optional: true,
      properties: {
        user: { type: 'string', minLength: 1, maxLength: 64 },
        password: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
  },
}

/** Checks the schema cannot express: `names` keys are MACs, extra paths do not clash with the vendor's. */
export function checkBoxesConfig(cfg: BoxesConfig): void {
  for (const k of Object.keys(cfg.names)) {
    if (!normaliseMac(k)) throw new ConfigError(`boxes.names.${k}`, 'a MAC address as the key', k)
  }
  const seen = new Set<string>(VENDOR_PATHS)
  cfg.paths.forEach((p, i) => {
    if (seen.has(p)) throw new ConfigError(`boxes.paths[${i}]`, 'a path not already served (the vendor paths are always served)', p)
    seen.add(p)
  })
}

/** The box endpoint paths from the vendor document (the jsondata one with `?method=upload_record`). */
export const VENDOR_PATHS = ['/upload_record', '/voip/api/upload_record', '/voip/api/upload_record.html', '/voip/api/jsondata.html'] as const
