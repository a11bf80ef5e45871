/** A mistake in how a command was called: the CLI prints the message and the usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Option values as node:util parseArgs gives them (an option with `multiple` is an array). */
export type CliValues = Record<string, string | boolean | (string | boolean)[] | undefined>

/** A numeric option's value, or a UsageError naming the option, the range and what was given. */
export function numberArg(v: unknown, name: string, min: number, max: number, opts: { integer?: boolean } = {}): number {
  const integer = opts.integer ?? true
  const n = Number(v)
  const ok = typeof v === 'string' && (integer ? /^\d+$/.test(v) : v !== '' && Number.isFinite(n))
  if (!ok || n < min || n > max) {
    throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number from ${min} to ${max}, got ${String(v)}`)
  }
  return n
}
