import { createServer, type Server, type Socket } from 'node:net'
import { LqConnectDecoder, decodeRawRegistration, decodeRegistration, encodeTryReq, MAX_POP_BYTES, plausibleRegistration, type Frame, type Registration } from '../../../protocols/lq-connect/index.js'
import { ConfigError, ID_PATTERN, type Infer, type ObjectSchema } from '../../core/schema.js'
import type { EventBus } from '../../core/events.js'
import type { Logger } from '../../core/log.js'
import type { Metrics } from '../../core/metrics.js'
import { DEFAULT_MAX_QUEUED_BYTES, PeerWriter, peerCutCounter } from '../../core/peer-writer.js'
import type { PopHub, PopRecord } from '../../core/pops.js'

/** The top-level `lqServer` key: absent, no server. */
export const lqServerSchema = {
  type: 'object',
  optional: true,
  doc: 'an LQ-Connect server for legacy desktops: they connect here as they did to the LQ server, and get the pops',
  properties: {
    host: { type: 'string', default: '127.0.0.1', minLength: 1, doc: 'address to listen on' },
    port: { type: 'port', doc: 'TCP port to listen on (0: any free port)' },
    forward: {
      type: 'string',
      default: 'agent',
      enum: ['agent', 'all'],
      doc: "`agent`: a client that registered with an agent id gets that agent's pops (and pops that name no agent); `all`: every client gets every pop",
    },
    sources: {
      type: 'array',
      optional: true,
      items: { type: 'string', pattern: ID_PATTERN, patternText: 'a source id', doc: 'a source id' },
      doc: 'forward pops of these source ids only (default: all sources)',
    },
    checkSeconds: { type: 'number', default: 5, min: 0.01, max: 3600, doc: 'seconds between link checks (TRY_REQ) to each client' },
    expireSeconds: { type: 'number', default: 30, min: 0.05, max: 86400, doc: 'a client silent this long is dropped' },
    maxClients: { type: 'integer', default: 200, min: 1, max: 10000, doc: 'clients at once; more are dropped as they connect' },
    maxQueuedBytes: { type: 'integer', default: DEFAULT_MAX_QUEUED_BYTES, min: 1024, max: 64 * 1024 * 1024, doc: 'bytes queued for a client that does not read (pops, TRY_REQ) before it is dropped' },
  },
} as const satisfies ObjectSchema

export type LqServerConfig = Infer<typeof lqServerSchema>

/** `lqServer.sources` name configured sources; the port is not the API's. */
export function checkLqServer(cfg: LqServerConfig | undefined, sourceIds: ReadonlySet<string>, api: { host: string; port: number }): void {
  cfg?.sources?.forEach((id, i) => {
    if (!sourceIds.has(id)) throw new ConfigError(`lqServer.sources[${i}]`, 'the id of a configured source', id)
  })
  if (cfg && cfg.port !== 0 && cfg.port === api.port && cfg.host === api.host) {
    throw new ConfigError('lqServer.port', 'a port other than api.port', cfg.port)
  }
}

/**
 * telbridge as an LQ-Connect server for legacy desktop clients: one LQ link (or any pop source)
 * feeds many desktops. It sends TRY_REQ every checkSeconds, drops a client silent for expireSeconds,
 * and forwards each pop's original bytes, to all clients or to the agent a client registered as.
 * Every write goes through a PeerWriter: a client that does not read is paused, then dropped past
 * maxQueuedBytes (or after expireSeconds in which it took none of our bytes).
 */

/** A client whose first bytes are no complete frame after this long sent its registration raw. */
const RAW_REGISTRATION_MS = 300

interface Client {
  socket: Socket
  writer: PeerWriter
  remote: string
  agent: string | null
  registered: boolean
  lastSeen: number
  connectedAt: number
}

export class LqServer {
  private server: Server | null = null
  private readonly clients = new Set<Client>()
  private checkTimer: NodeJS.Timeout | null = null
  private unsubscribe: (() => void) | null = null
  private forwarded = 0
  private readonly cuts: ReturnType<typeof peerCutCounter>

  constructor(
    private readonly cfg: LqServerConfig,
    private readonly hub: PopHub,
    private readonly bus: EventBus,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    metrics.gauge('telbridge_lqserver_clients', 'Legacy LQ-Connect clients connected to telbridge', () => [[undefined, this.clients.size]])
    metrics.counterFrom('telbridge_lqserver_pops_forwarded_total', 'Pop frames forwarded to legacy LQ-Connect clients', () => [[undefined, this.forwarded]])
    this.cuts = peerCutCounter(metrics)
  }

  get port(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket))
    server.maxConnections = this.cfg.maxClients
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.cfg.port, this.cfg.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.log.error({ err }, 'LQ server error'))
    this.server = server
    this.unsubscribe = this.hub.onPop((record, payload) => this.forward(record, payload))
    this.checkTimer = setInterval(() => this.check(), this.cfg.checkSeconds * 1000)
    this.checkTimer.unref()
    this.log.info({ host: this.cfg.host, port: this.port }, 'LQ-Connect server listening for legacy clients')
  }

  list(): { remote: string; agent: string | null; connectedAt: string }[] {
    return [...this.clients].map((c) => ({ remote: c.remote, agent: c.agent, connectedAt: new Date(c.connectedAt).toISOString() }))
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true)
    const remote = `${socket.remoteAddress}:${socket.remotePort}`
    const log = this.log.child({ client: remote })
    const writer = new PeerWriter(socket, {
      component: 'lq-server',
      peer: remote,
      log,
      cuts: this.cuts,
      maxQueuedBytes: this.cfg.maxQueuedBytes,
      stallSeconds: this.cfg.expireSeconds,
      // what the client sent while we did not read says nothing about its silence
      onResume: () => (client.lastSeen = Date.now()),
    })
    const client: Client = { socket, writer, remote, agent: null, registered: false, lastSeen: Date.now(), connectedAt: Date.now() }
    this.clients.add(client)
    const decoder = new LqConnectDecoder({ handshake: 'TRY_REP', plausible: plausibleRegistration })
    log.info('legacy LQ client connected')
    writer.write(encodeTryReq())
    const register = (r: Registration, framing: 'length' | 'raw') => {
      client.registered = true
      client.agent = r.agent
      log.info({ agent: client.agent, registration: r.text, framing }, 'legacy LQ client registered')
      this.bus.publish('lqclient', { event: 'registered', remote: client.remote, agent: client.agent })
    }
    // Registration framing is not documented: a length-prefixed frame is read as such; bytes that
    // form no frame within RAW_REGISTRATION_MS are taken as raw registration text.
    let early: Buffer[] = []
    let rawTimer: NodeJS.Timeout | null = null
    socket.on('data', (chunk) => {
      client.lastSeen = Date.now()
      try {
        if (!client.registered) {
          early.push(chunk)
          rawTimer ??= setTimeout(() => {
            if (!client.registered && decoder.buffered > 0) {
              const r = decodeRawRegistration(Buffer.concat(early))
              decoder.reset()
              if (r) register(r, 'raw')
            }
            early = []
          }, RAW_REGISTRATION_MS)
        }
        decoder.write(
          chunk,
          (f: Frame) => {
            if (f.type === 'pop' && !client.registered) {
              register(decodeRegistration(f.payload), 'length')
              early = []
            }
          },
          (e) => log.debug({ code: e.code, skipped: e.bytes.length }, 'legacy client sent bytes that are no LQ frame'),
        )
      } catch (err) {
        log.error({ err }, 'error handling legacy client data; closing it')
        socket.destroy()
      }
    })
    socket.on('error', (err) => log.debug({ err: err.message }, 'legacy client socket error'))
    socket.on('close', () => {
      if (rawTimer) clearTimeout(rawTimer)
      this.clients.delete(client)
      log.info('legacy LQ client disconnected')
    })
  }

  private forward(record: PopRecord, payload: Buffer): void {
    if (this.cfg.sources && !this.cfg.sources.includes(record.source)) return
    if (payload.length === 0 || payload.length > MAX_POP_BYTES) return
    const frame = Buffer.allocUnsafe(payload.length + 1)
    frame[0] = payload.length
    payload.copy(frame, 1)
    for (const c of this.clients) {
      if (this.cfg.forward === 'agent' && c.agent !== null && record.pop.agent !== null && record.pop.agent !== c.agent) continue
      // a client that does not read is paused, then dropped at the bound (the writer logs and counts it)
      c.writer.write(frame)
      if (!c.writer.cut) this.forwarded++
    }
  }

  private check(): void {
    const deadline = Date.now() - this.cfg.expireSeconds * 1000
    for (const c of this.clients) {
      // while the writer holds reading paused, it judges the client (stallSeconds) instead
      if (!c.writer.paused && c.lastSeen < deadline) {
        this.log.warn({ client: c.remote, agent: c.agent }, `legacy LQ client silent for ${this.cfg.expireSeconds}s (no TRY_REP); closing`)
        c.socket.destroy()
      } else c.writer.write(encodeTryReq())
    }
  }

  async stop(): Promise<void> {
    this.unsubscribe?.()
    if (this.checkTimer) clearInterval(this.checkTimer)
    for (const c of this.clients) c.socket.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
