import { createHmac } from 'node:crypto'
import { HttpTimeoutError, HttpUnreachableError, httpRequest } from '../../protocols/http/client.js'
import type { WebhookConfig } from './config.js'
import type { Notification } from './notify.js'

/**
 * One delivery attempt: the request a webhook gets for a notification, and what its answer means.
 * GET (the vendor's way, seed 003 §2.10.4) puts the fields in the query string after any the URL
 * already has; POST sends them as a form, or as JSON with `memo` as an object.
 */

export interface BuiltRequest {
  url: string
  method: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
}

/** Seed fields first, in the seed's order, then telbridge's. */
export function wireFields(n: Notification): [string, string][] {
  if (!n.fields) throw new Error(`notification ${n.id} is not an 800hu-format notification`)
  return [
    ['type', n.fields.type],
    ['peer', n.fields.peer],
    ['phone', n.fields.phone],
    ['memo', n.fields.memo],
    ['id', n.id],
    ['event', n.event],
    ['source', n.source],
    ['channel', n.channel ?? ''],
    ['time', n.time],
  ]
}

/** The telbridge-format body: the same bytes at every attempt (the signature's timestamp is what changes). */
export function telbridgeBody(n: Notification): string {
  return JSON.stringify({ id: n.id, type: n.event, time: n.time, data: n.data ?? null })
}

/** The signature header value: one scheme for both formats, `t` the attempt's time, so a retry is never an old request. */
export function signature(secret: string, payload: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000)
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex')}`
}

export function buildRequest(hook: WebhookConfig, n: Notification, nowMs = Date.now()): BuiltRequest {
  const headers: Record<string, string> = { 'user-agent': 'telbridge-webhook', ...hook.headers }
  let url = hook.url
  let body: string | undefined
  let signed: string
  // the entry's own shape decides, so a backlog queued before a format change is sent as it was queued
  if (!n.fields) {
    body = telbridgeBody(n)
    headers['content-type'] = 'application/json; charset=utf-8'
    headers['x-telbridge-event'] = n.event
    headers['x-telbridge-id'] = n.id
    if (hook.secret) headers['x-telbridge-signature'] = signature(hook.secret, body, nowMs)
    return { url, method: 'POST', headers, body }
  }
  const fields = wireFields(n)
  if (hook.method === 'GET') {
    const u = new URL(hook.url)
    for (const [k, v] of fields) u.searchParams.set(k, v)
    url = u.toString()
    signed = u.search.slice(1)
  } else if (hook.body === 'json') {
    const o: Record<string, unknown> = Object.fromEntries(fields)
    o.type = Number(n.fields.type)
    o.peer = n.fields.peer === '' ? null : Number(n.fields.peer)
    o.memo = JSON.parse(n.fields.memo) as unknown
    o.channel = n.channel
    body = JSON.stringify(o)
    headers['content-type'] = 'application/json; charset=utf-8'
    signed = body
  } else {
    body = new URLSearchParams(fields).toString()
    headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8'
    signed = body
  }
  if (hook.secret) headers['x-telbridge-signature'] = signature(hook.secret, signed, nowMs)
  return { url, method: hook.method, headers, body }
}

export type Outcome =
  | { ok: true; status: number; /** a 2xx whose JSON body says `code` ≠ 0 (the vendor's failure shape): removed anyway, counted */ refused?: string }
  | { ok: false; reason: 'timeout' | 'unreachable' | 'status'; detail: string; status?: number }

export async function deliver(hook: WebhookConfig, n: Notification, signal: AbortSignal): Promise<Outcome> {
  const req = buildRequest(hook, n)
  try {
    const res = await httpRequest(req.url, { method: req.method, headers: req.headers, body: req.body, timeoutMs: hook.timeoutSeconds * 1000, signal })
    if (res.status < 200 || res.status > 299) {
      const loc = res.headers.get('location')
      const hint = res.status >= 300 && res.status < 400 ? ` (redirects are not followed${loc ? `; Location: ${loc}` : ''})` : ''
      return { ok: false, reason: 'status', status: res.status, detail: `HTTP ${res.status}${hint}: ${res.body.subarray(0, 200).toString('utf8')}` }
    }
    return { ok: true, status: res.status, refused: vendorRefusal(res.body) }
  } catch (err) {
    // details without the URL: its query holds the notification and often a token
    if (err instanceof HttpTimeoutError) return { ok: false, reason: 'timeout', detail: `no answer within ${err.timeoutMs} ms` }
    if (err instanceof HttpUnreachableError) return { ok: false, reason: 'unreachable', detail: `cannot connect: ${err.reason}` }
    throw err // an abort (stop) or a bug: the caller decides
  }
}

/** The vendor's answer is `{"code":0,"message":"OK"}`; any other code is a refusal, described. */
function vendorRefusal(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 65536) return undefined
  let o: unknown
  try {
    o = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  if (!o || typeof o !== 'object' || !('code' in o)) return undefined
  const { code, message } = o as { code: unknown; message?: unknown }
  if (code === 0 || code === '0') return undefined
  return `code ${JSON.stringify(code)}${message !== undefined ? `: ${(typeof message === 'string' ? message : JSON.stringify(message)).slice(0, 200)}` : ''}`
}
