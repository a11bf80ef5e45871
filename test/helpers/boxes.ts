import { wavHeader } from '../../protocols/wav/index.js'
import type { Daemon } from '../../daemon/daemon.js'
import { daemonRig } from './rig.js'

export const MAC = '00:00:00:00:00:01'
export const MAC12 = '000000000001'
export const SOURCE = '800hu-000000000001'

export interface BoxRig {
  daemon: Daemon
  api: string
  ingest: string
  dir: string
  stop(): Promise<void>
}

/** A daemon with the ingest listener on 127.0.0.1:0 and its data in a fresh temp dir (built on rig.ts). */
export async function boxRig(boxes: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<BoxRig> {
  const r = await daemonRig({ ...extra, boxes: { allow: [MAC], ...boxes } }, { ingest: true, dataDir: 'tb-800hu-' })
  return { daemon: r.daemon, api: r.api, ingest: r.ingest!, dir: r.dir!, stop: r.stop }
}

export interface Answer {
  status: number
  body: any
  text: string
}

async function answer(r: Response): Promise<Answer> {
  const text = await r.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the text as it came
  }
  return { status: r.status, body, text }
}

/** POST box fields the way a box may: urlencoded form (default), JSON body, query string only, or multipart. */
export async function boxPost(url: string, fields: Record<string, string>, as: 'form' | 'json' | 'query' | 'multipart' = 'form'): Promise<Answer> {
  if (as === 'query') {
    const u = new URL(url)
    for (const [k, v] of Object.entries(fields)) u.searchParams.set(k, v)
    return answer(await fetch(u, { method: 'POST' }))
  }
  if (as === 'json') return answer(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) }))
  if (as === 'multipart') {
    const fd = new FormData()
    for (const [k, v] of Object.entries(fields)) fd.append(k, v)
    return answer(await fetch(url, { method: 'POST', body: fd }))
  }
  return answer(await fetch(url, { method: 'POST', body: new URLSearchParams(fields) }))
}

/** A multipart upload with one file part (fields first, as the box sends them, unless fileFirst). */
export async function boxUpload(url: string, fields: Record<string, string>, file: { data: Uint8Array; name?: string; type?: string }, opts: { fileFirst?: boolean } = {}): Promise<Answer> {
  const fd = new FormData()
  const blob = new Blob([file.data], { type: file.type ?? 'audio/wav' })
  if (opts.fileFirst) fd.append('file', blob, file.name ?? 'rec.wav')
  for (const [k, v] of Object.entries(fields)) fd.append(k, v)
  if (!opts.fileFirst) fd.append('file', blob, file.name ?? 'rec.wav')
  return answer(await fetch(url, { method: 'POST', body: fd }))
}

export async function apiJson(url: string, init: { method?: string; body?: unknown } = {}): Promise<Answer> {
  const r = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) } : {}),
  })
  return answer(r)
}

/** A vendor-style status (seed 003 §2.1.10 field names) for `n` channels; `states` by port from 1. */
export function statusJson(states: (string | number)[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    diskUsagePercent: '5',
    diskSize: '29.3G',
    diskSurplusSize: '27.8G',
    diskStatus: 0,
    ip: '192.168.1.50',
    channels: states.map((s, i) => ({ ch: String(i + 1), state: String(s), phone: '', timelen: '0', peer: '', serial: '1' })),
    ...extra,
  })
}

/** A small valid 8 kHz 16-bit mono WAV of `ms` milliseconds with some deterministic content. */
export function wav(ms = 100, seed = 1): Buffer {
  const samples = Math.round((8000 * ms) / 1000)
  const data = Buffer.alloc(samples * 2)
  let x = seed >>> 0 || 1
  for (let i = 0; i < samples; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    data.writeInt16LE(((x >>> 16) & 0x7fff) - 16384, i * 2)
  }
  const h = wavHeader(data.length)
  return Buffer.concat([h, data])
}
