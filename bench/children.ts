import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

/** Child processes a bench started: killed when the bench exits or is interrupted, never left running. */
export const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    process.exit(130)
  })
}

/** Remember a child so it is killed with the bench (and forgotten when it exits). */
export function track(c: ChildProcess): ChildProcess {
  children.add(c)
  c.once('exit', () => children.delete(c))
  return c
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the child has exited. */
export async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const done = new Promise<void>((r) => c.once('exit', () => r()))
  c.kill('SIGTERM')
  const t = setTimeout(() => c.kill('SIGKILL'), 5000)
  await done
  clearTimeout(t)
}

/** A TCP port free on 127.0.0.1 right now (for a child that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = a && typeof a === 'object' ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}
