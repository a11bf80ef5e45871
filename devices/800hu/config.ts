import { ConfigError, type Infer, type ObjectSchema } from '../../daemon/core/schema.js'
import { normaliseMac } from '../../protocols/800hu/mac.js'

function checkMac(v: string): string | null {
  return normaliseMac(v) ? null : 'a MAC address (12 hex digits, with or without : or - between pairs)'
}

/** Keys under top-level `boxes`. */
export const boxesSchema = {
  type: 'object',
  doc: '八百呼 800hu recording boxes: which may post to the ingest listener, and how they are served',
  properties: {
    allow: { type: 'array', items: { type: 'string', check: checkMac, doc: 'a MAC address' }, default: [], maxItems: 10_000, doc: 'box MACs allowed to talk to us (any notation; normalised)' },
    autoRegister: { type: 'boolean', default: false, doc: 'accept unknown boxes and add them' },
    maxBoxes: { type: 'integer', default: 1000, min: 1, max: 100_000, doc: 'most boxes autoRegister will add (a flood of made-up MACs must not grow memory without bound)' },
    names: { type: 'record', values: { type: 'string', minLength: 1, maxLength: 100, doc: "the box's display name" }, default: {}, doc: 'display names by MAC (any notation)' },
    offlineSeconds: { type: 'number', default: 90, min: 0.1, max: 86400, doc: 'a box that posts nothing for this long is offline, with its channels' },
    longPollSeconds: { type: 'number', default: 25, min: 0.1, max: 300, doc: 'how long a getMessageList poll is held when no command is waiting' },
    commandTtlSeconds: { type: 'number', default: 60, min: 0.1, max: 86400, doc: 'a command no poll picked up within this time expires' },
    maxQueuedCommands: { type: 'integer', default: 100, min: 1, max: 10_000, doc: 'commands waiting for one box, at most' },
    maxUploadsPerIp: { type: 'integer', default: 8, min: 1, max: 10_000, doc: "concurrent uploads from one address; the next one gets 503 in the vendor's shape" },
    paths: {
      type: 'array',
      default: [],
      maxItems: 20,
      items: { type: 'string', pattern: /^\/[A-Za-z0-9._~/-]{0,200}$/, patternText: 'a URL path starting with / (letters, digits, . _ ~ - /)', doc: 'a URL path' },
      doc: "more paths for the box endpoint on the ingest listener, besides the vendor's four",
    },
    localApi: {
      type: 'object',
      optional: true,
      doc: 'the local 800hu JSON API (`/voip/api/jsondata.html` on the API listener); absent: it answers -5',
      properties: {
        user: { type: 'string', minLength: 1, maxLength: 64, doc: 'sa_user' },
        password: { type: 'string', minLength: 1, maxLength: 256, doc: 'the password whose MD5 is sa_password' },
        extensions: {
          type: 'array',
          default: [],
          maxItems: 10_000,
          doc: 'what getExtension/getExtensions answer (the seats, 坐席); empty: every box port, as its channel id',
          items: {
            type: 'object',
            doc: 'one seat',
            properties: {
              extension: { type: 'string', minLength: 1, maxLength: 64, pattern: /^[^\u0000-\u001f\u007f]+$/, patternText: 'text without control characters', doc: 'exteExtension, the seat number' },
              name: { type: 'string', optional: true, maxLength: 100, doc: 'exteName' },
              mobile: { type: 'string', optional: true, maxLength: 40, doc: 'exteMobile' },
            },
          },
        },
      },
    },
  },
} as const satisfies ObjectSchema

export type BoxesConfig = Infer<typeof boxesSchema>

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
