import { isIP } from 'node:net'
import fastifyCors from '@fastify/cors'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from './core/errors.js'

/**
 * What a web page may do with the local API (README "Security"). One early `onRequest` hook, before
 * the bearer check and before any route (so 404s are covered too):
 *
 * 1. Host check (DNS rebinding): the Host header must be a loopback name (`localhost`), an IP
 *    literal (127.0.0.0/8, [::1], the machine's own addresses when listening on 0.0.0.0/::), the
 *    configured `api.host` or a name in `api.allowedHosts`; anything else is 421. IP literals are
 *    all allowed: rebinding needs a DNS name the attacker controls, and a page whose address is
 *    an IP literal is an origin of its own that the Origin check below handles. No Host (HTTP/1.0)
 *    is allowed.
 * 2. Origin check: a request with an `Origin` must come from `api.cors.origins` or from the page's
 *    own origin (`http(s)://<Host>`, the live page at `/`); `Origin: null` and every other one is
 *    403. A request without `Origin` but with `Sec-Fetch-Site: cross-site` or `same-site` (a
 *    no-cors `<img>`/`<script>`/form GET from another site) is 403 too, unless it is a top-level
 *    GET navigation (a link to the page). Clients that are no browser send neither header.
 * 3. CORS with @fastify/cors for `api.cors.origins` only (preflights answered here, so they need
 *    no token), plus Chrome's Private Network Access answer, which @fastify/cors does not have.
 */

export interface GuardOptions {
  /** `api.host` */
  host: string
  /** `api.allowedHosts` */
  allowedHosts: readonly string[]
  /** `api.cors.origins` */
  origins: readonly string[]
}

/** Methods and request headers a cross-origin page may use (the API's routes; bearer token, JSON bodies, SSE resume). */
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'DELETE']
const CORS_HEADERS = ['Authorization', 'Content-Type', 'Last-Event-ID']
/** Response headers a cross-origin page may read besides the CORS-safelisted ones. */
const CORS_EXPOSE = ['Retry-After', 'Content-Range', 'Accept-Ranges', 'Content-Disposition']
/** Seconds a browser may cache a preflight (Chromium caps this at 7200). */
const PREFLIGHT_MAX_AGE = 600

/**
 * The host name of a Host header: lower case, without port, brackets or a final dot. `''` for no
 * (or an empty) Host header, null for one that is no host[:port].
 */
export function hostOf(header: string | undefined): string | null {
  if (header === undefined || header === '') return ''
  const h = header.toLowerCase()
  if (h.startsWith('[')) {
    const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h)
    return m && isIP(m[1]!) === 6 ? m[1]! : null
  }
  const m = /^([a-z0-9_.-]+)(?::\d{1,5})?$/.exec(h)
  if (!m) return null
  const name = m[1]!.endsWith('.') ? m[1]!.slice(0, -1) : m[1]!
  return name === '' || name.includes('..') ? null : name
}

/** A configured host (api.host, api.allowedHosts) as hostOf gives it. */
function normaliseHost(h: string): string {
  let s = h.toLowerCase()
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  return s.endsWith('.') ? s.slice(0, -1) : s
}

/** An origin as browsers serialise it: lower case, no default port. */
export function normaliseOrigin(o: string): string {
  const s = o.toLowerCase()
  if (s.startsWith('http://') && s.endsWith(':80')) return s.slice(0, -3)
  if (s.startsWith('https://') && s.endsWith(':443')) return s.slice(0, -4)
  return s
}

export interface OriginGuard {
  /** the Host check alone: true when a Host header value is answered */
  hostAllowed(header: string | undefined): boolean
  /** the Origin is one of api.cors.origins (gets CORS headers) */
  corsAllowed(origin: string | undefined): boolean
}

export function originGuard(opts: GuardOptions): OriginGuard {
  const hosts = new Set(['localhost', normaliseHost(opts.host), ...opts.allowedHosts.map(normaliseHost)])
  const origins = new Set(opts.origins.map(normaliseOrigin))
  return {
    hostAllowed(header) {
      const name = hostOf(header)
      return name !== null && (name === '' || hosts.has(name) || isIP(name) !== 0)
    },
    corsAllowed(origin) {
      return origin !== undefined && origins.has(origin.toLowerCase())
    },
  }
}

/** Register the guard and CORS on the API instance; call it before the bearer check is added. */
export function installOriginGuard(app: FastifyInstance, opts: GuardOptions): void {
  const guard = originGuard(opts)

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const host = req.headers.host
    if (!guard.hostAllowed(host)) throw new ApiError('MISDIRECTED_REQUEST', JSON.stringify(String(host).slice(0, 100)))
    const origin = req.headers.origin
    if (origin !== undefined) {
      if (guard.corsAllowed(origin)) {
        // Chrome's Private Network Access: a public page asking for a private (here: loopback)
        // address sends this in the preflight and needs the answer, besides the CORS headers
        if (req.method === 'OPTIONS' && req.headers['access-control-request-private-network'] === 'true') {
          reply.header('Access-Control-Allow-Private-Network', 'true')
        }
        return
      }
      const o = origin.toLowerCase()
      const own = host ? host.toLowerCase() : null
      if (own !== null && (o === `http://${own}` || o === `https://${own}`)) return
      throw new ApiError('FORBIDDEN_ORIGIN', JSON.stringify(origin.slice(0, 200)))
    }
    const site = req.headers['sec-fetch-site']
    if (site === 'cross-site' || site === 'same-site') {
      const navigation = req.headers['sec-fetch-mode'] === 'navigate' && (req.method === 'GET' || req.method === 'HEAD')
      if (!navigation) throw new ApiError('FORBIDDEN_ORIGIN', `(none; Sec-Fetch-Site: ${site})`)
    }
  })

  // Origins not in api.cors.origins get no CORS headers (the hook above already refused them, or
  // they are the page's own). Preflights are answered here, before the bearer check.
  app.register(fastifyCors, {
    delegator: (req, cb) =>
      cb(null, {
        origin: guard.corsAllowed(req.headers.origin),
        methods: CORS_METHODS,
        allowedHeaders: CORS_HEADERS,
        exposedHeaders: CORS_EXPOSE,
        maxAge: PREFLIGHT_MAX_AGE,
        // an OPTIONS from an allowed origin without Access-Control-Request-Method is answered as a
        // preflight too, rather than with @fastify/cors's plain-text 400
        strictPreflight: false,
      }),
  })

  // A route that takes over the raw response (the event stream) writes its own head: give it the
  // CORS headers set so far (for the others, fastify writes the same headers again; no duplicates).
  app.addHook('onRequest', async (_req, reply) => {
    if (!reply.hasHeader('access-control-allow-origin')) return
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value)
  })
}
