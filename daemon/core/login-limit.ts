import { isIP } from 'node:net'
import type { Logger } from './log.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** failed logins per address on the API listener (bearer token, local 800hu JSON API); set by buildApi */
    loginLimiter?: LoginLimiter
  }
}

export interface LoginLimitOptions {
  /** failures per address and window; the next attempt in that window is refused */
  max: number
  windowSeconds: number
  /** addresses remembered at once; past this the oldest window is forgotten (memory stays bounded) */
  maxEntries?: number
  log?: Logger
  now?: () => number
}

interface Window {
  start: number
  failures: number
  /** the refusal was logged in this window */
  logged: boolean
}

/**
 * A fixed-window counter of failed logins per client address. `refused()` is asked before a
 * login is checked, so an address over the limit gets no answer about its guess at all (a right
 * password is refused too until the window ends: otherwise the limit would still let a brute
 * force find it). Windows live in a Map in the order they started, so expired ones are at the
 * front and are dropped in amortised O(1); when `maxEntries` live windows exist, the oldest is
 * forgotten.
 */
export class LoginLimiter {
  private readonly windows = new Map<string, Window>()
  private readonly windowMs: number
  private readonly maxEntries: number
  private readonly now: () => number

  constructor(private readonly opts: LoginLimitOptions) {
    this.windowMs = opts.windowSeconds * 1000
    this.maxEntries = opts.maxEntries ?? 10_000
    this.now = opts.now ?? Date.now
  }

  /** Addresses with a window open (for tests and metrics). */
  get size(): number {
    return this.windows.size
  }

  /**
   * Seconds until `remote` may try again (≥ 1) when it is over the limit, else 0. The first
   * refusal in a window is logged (`what` names the login: "bearer token", "local 800hu API").
   */
  refused(remote: string | undefined, what: string): number {
    const key = limitKey(remote)
    const w = this.live(key)
    if (!w || w.failures < this.opts.max) return 0
    if (!w.logged) {
      w.logged = true
      this.opts.log?.warn(
        { remote: key, failures: w.failures, windowSeconds: this.opts.windowSeconds, login: what },
        `too many failed logins (${what}); answering 429 until the window ends (api.loginRateLimit)`,
      )
    }
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.now()) / 1000))
  }

  /** Count one failed login from `remote`. */
  fail(remote: string | undefined): void {
    const key = limitKey(remote)
    const w = this.live(key)
    if (w) {
      w.failures++
      return
    }
    this.sweep()
    if (this.windows.size >= this.maxEntries) this.windows.delete(this.windows.keys().next().value!)
    this.windows.set(key, { start: this.now(), failures: 1, logged: false })
  }

  /** The open window of `key`, or undefined (an expired one is dropped). */
  private live(key: string): Window | undefined {
    const w = this.windows.get(key)
    if (w && this.now() - w.start >= this.windowMs) {
      this.windows.delete(key)
      return undefined
    }
    return w
  }

  /** Drop expired windows from the front (the oldest start first). */
  private sweep(): void {
    const now = this.now()
    for (const [key, w] of this.windows) {
      if (now - w.start < this.windowMs) break
      this.windows.delete(key)
    }
  }
}

/**
 * The counter key of a client address: IPv4 (also IPv4-mapped IPv6) as is; IPv6 by its /64, the
 * block one host usually has (counting single IPv6 addresses would let one host try 2^64 times).
 */
export function limitKey(remote: string | undefined): string {
  if (!remote) return '?'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote)
  if (mapped) return mapped[1]!
  if (isIP(remote) !== 6) return remote
  const addr = remote.split('%')[0]!.toLowerCase()
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  if (addr === '::1') return '::1'
  // an embedded IPv4 tail (…:1.2.3.4) is two groups
  const v4tail = right.at(-1)?.includes('.') ? 1 : 0
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length - v4tail)).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
