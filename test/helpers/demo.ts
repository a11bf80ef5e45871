import { runDemo } from '../../daemon/demo.js'

export interface DemoHandle {
  /** the API base URL, e.g. http://127.0.0.1:41234 */
  api: string
  /** what the demo printed */
  banner: string
  stop: () => Promise<void>
}

/** `telbridge demo` in-process on free ports, its banner captured instead of printed. */
export async function startDemo(): Promise<DemoHandle> {
  let banner = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((s: string | Uint8Array) => ((banner += String(s)), true)) as typeof process.stdout.write
  let stop: () => Promise<void>
  try {
    stop = await runDemo({ apiPort: 0, lqPort: 0, logLevel: 'fatal' })
  } finally {
    process.stdout.write = write
  }
  const api = /Channels: +curl -s (http:\/\/127\.0\.0\.1:\d+)\/v1\/channels/.exec(banner)?.[1]
  if (!api) {
    await stop()
    throw new Error(`no API URL in the demo banner: ${banner.slice(0, 300)}`)
  }
  return { api, banner, stop }
}
