import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from './config.js'
import { createLogger } from './core/log.js'
import type { DemoPart, DemoUrls } from './core/module.js'
import { Daemon } from './daemon.js'
import { MODULES } from './registry.js'

export { DEMO_BOXES } from '../devices/800hu/index.js'

/**
 * The daemon against its built-in simulators: every module that has a demo part starts its
 * simulators (an LQ-Connect server and two agents' socket links; an LQ vack server, a Guoxin and a
 * Yantong call center placing random calls; two 800hu recording boxes posting line states, uploading
 * WAV recordings and long-polling for commands) and gives the config entries that point at them.
 * The parts play a day (core/demo-day.ts): the call logs start with the day so far, and scripted
 * missed and busy calls and agents' breaks join the simulators' random calls, so the call log, the
 * agents and the page are full within a minute. Recordings and the database go to a temporary data
 * directory deleted when the demo stops.
 */
export async function runDemo(opts: { apiPort: number; lqPort: number; logLevel: string }): Promise<() => Promise<void>> {
  const log = createLogger(opts.logLevel)
  const stops: (() => Promise<void>)[] = []
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
  }
  try {
    const parts: DemoPart[] = []
    for (const m of MODULES) {
      if (!m.demo) continue
      const part = await m.demo({ log, lqPort: opts.lqPort })
      stops.push(() => part.stop())
      parts.push(part)
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'telbridge-demo-'))
    stops.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    const config = parseConfig({
      api: { host: '127.0.0.1', port: opts.apiPort },
      log: { level: opts.logLevel },
      timeZone: 'Asia/Shanghai',
      // boxes post here and the vendors' callbacks (Guoxin pushes, LQ custURL) come in here; loopback
      // only, on a free port: the demo's devices are in this process
      ingest: { host: '127.0.0.1', port: 0 },
      dataDir,
      ...Object.assign({}, ...parts.map((p) => p.settings ?? {})),
      sources: parts.flatMap((p) => p.sources ?? []),
    })
    const daemon = new Daemon(config, { log })
    const { apiUrl, ingestUrl } = await daemon.start()
    stops.push(() => daemon.stop())
    const urls: DemoUrls = { apiUrl, ingestUrl: ingestUrl! }
    for (const p of parts) await p.started?.(urls)
    const lines = parts.flatMap((p) => p.lines?.(urls) ?? [])
    const url = apiUrl
    process.stdout.write(`
telbridge demo is running: every simulator feeds the daemon.

  Live page:      ${url}/   (中文: ${url}/?lang=zh)
  Channels:       curl -s ${url}/v1/channels
  Recent pops:    curl -s '${url}/v1/pops?limit=5'
  Event stream:   curl -N ${url}/v1/events
  Sources:        curl -s ${url}/v1/sources
  Call log:       curl -s '${url}/v1/cdr?limit=5'
  Agents:         curl -s ${url}/v1/agents
  Metrics:        curl -s ${url}/metrics
${lines.map((l) => `  ${l}\n`).join('')}
Recordings are written to ${dataDir} (deleted when the demo stops).

Ctrl-C stops it.
`)
    return stopAll
  } catch (err) {
    await stopAll()
    throw err
  }
}
