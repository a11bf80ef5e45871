/**
 * Reconnect as a policy: a pure function of the attempt number and cause, returning a delay in ms or
 * false (give up). The default is exponential backoff from 500 ms, capped, with jitter below the cap
 * so a site's many agents don't reconnect in lockstep after a server restart.
 */
export type ReconnectStrategy = (attempt: number, cause: Error) => number | false

export function backoff(opts: { capMs: number; baseMs?: number; jitter?: number; random?: () => number }): ReconnectStrategy {
  const base = opts.baseMs ?? 500
  const jitter = opts.jitter ?? 0.25
  const random = opts.random ?? Math.random
  return (attempt) => {
    const exp = Math.min(opts.capMs, base * 2 ** Math.min(attempt, 30))
    return Math.round(exp * (1 - jitter * random()))
  }
}
