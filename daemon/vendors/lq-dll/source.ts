import { resolve as resolvePath } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import iconv from 'iconv-lite'
import { LClient, LClientError, LibraryCheckError, RCV_CODES, RCV_NOTHING, defaultCallingConvention, type LibraryInfo } from '../../../native/lclient/index.js'
import type { ReconnectStrategy } from '../../core/reconnect.js'
import { LinkSource } from '../../core/link.js'
import type { SourceContext } from '../../core/source.js'
import type { LqDllConfig } from './config.js'

/**
 * Which agent logins are taken in this process. Each lq-dll source hosts its own copy of the DLL
 * (a child process each), so two sources may use the same DLL file; the same DLL logging the same
 * agent in to the same server twice is a configuration mistake the LQ server would fight over.
 */
const claimed = new Map<string, string>()

/** An error that retrying will not fix (wrong DLL, wrong architecture, missing export). */
class Permanent extends Error {}

/**
 * 小灵呼 LClient.dll ("模式三"): start the DLL, poll LClientRcv, feed each pop to the same hub as
 * the socket source (so a local app cannot tell them apart). Any code other than -100 or a pop
 * means the link is broken: LClientStop, back off, start again. The DLL runs in a host process
 * (native/lclient), so a slow or crashing DLL never blocks or kills the daemon. Seed 002 says
 * LClientStart runs once per process and advises restarting the client after an error code, so by
 * default (`restart: "process"`) every new LClientStart gets a new host process: a fresh DLL state.
 */
export class LqDllSource extends LinkSource {
  readonly type = 'lq-dll'
  private readonly claimKey: string
  private readonly convention: 'stdcall' | 'cdecl'
  private client: LClient | null = null
  /** LClientStart succeeded and LClientStop has not been called since */
  private started = false
  private library: LibraryInfo | null = null
  private popsIn = 0
  private polls = 0
  private lastCode: number | null = null
  /** host processes ended on purpose for a fresh LClientStart */
  private hostRestarts = 0

  constructor(
    readonly cfg: LqDllConfig,
    ctx: SourceContext,
    opts: { strategy?: ReconnectStrategy } = {},
  ) {
    super(cfg, ctx, { strategy: opts.strategy, words: { lost: 'LClient link lost', failed: 'LClient start failed', still: 'LClient still failing' } })
    this.convention = cfg.callingConvention ?? defaultCallingConvention()
    let lib = resolvePath(cfg.library)
    if (process.platform === 'win32') lib = lib.toLowerCase()
    this.claimKey = JSON.stringify([lib, cfg.demo, cfg.host, cfg.port, cfg.oper])
  }

  protected override detail(): Record<string, unknown> {
    const lib = this.library
    return {
      library: this.cfg.library,
      libraryFormat: lib ? lib.format : null,
      libraryArch: lib && lib.format !== 'mach-o' ? (lib.arch ?? `machine 0x${lib.machine.toString(16)}`) : null,
      callingConvention: this.convention,
      demo: this.cfg.demo,
      host: this.cfg.host,
      port: this.cfg.port,
      oper: this.cfg.oper,
      ch: this.cfg.ch,
      restart: this.cfg.restart,
      hostPid: this.client?.alive ? (this.client.pid ?? null) : null,
      hostRestarts: this.hostRestarts,
      inFlight: this.client?.inFlight ?? null,
      connectedAt: this.connectedAt ? new Date(this.connectedAt).toISOString() : null,
      popsIn: this.popsIn,
      polls: this.polls,
      lastCode: this.lastCode,
    }
  }

  start(): void {
    if (this.loop) return
    const owner = claimed.get(this.claimKey)
    if (owner !== undefined && owner !== this.id) {
      const msg = `source ${owner} already logs agent ${this.cfg.oper} in to ${this.cfg.host}:${this.cfg.port} through ${this.cfg.library}; a second login of the same agent would fight the first`
      this.ctx.log.error({ other: owner }, msg)
      this.setStatus('failed', msg)
      this.loop = Promise.resolve()
      return
    }
    claimed.set(this.claimKey, this.id)
    this.setStatus('connecting')
    this.runLoop()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    const bound = this.cfg.stopTimeoutSeconds * 1000
    const deadline = Date.now() + bound
    // the loop leaves at its next step; a call in flight holds it until the call returns
    if (this.loop) await Promise.race([this.loop, delay(bound)])
    const c = this.client
    if (c?.alive) {
      if (this.started && !c.inFlight) {
        // a clean LClientStop lets the server sign the agent out (integrateMode 2)
        await Promise.race([c.stop().catch(() => {}), delay(Math.max(Math.min(bound, 1000), deadline - Date.now()))])
        this.started = false
      }
      await c.close(Math.max(0, deadline - Date.now()))
    }
    this.client = null
    if (claimed.get(this.claimKey) === this.id) claimed.delete(this.claimKey)
    this.connectedAt = null
    this.setStatus('stopped')
  }

  protected override async permanent(err: Error): Promise<boolean> {
    if (!(err instanceof Permanent)) return false
    this.ctx.log.error({ err: err.message }, 'LClient library cannot be used; not retrying')
    this.setStatus('failed', err.message)
    await this.dropClient()
    return true
  }

  protected override gaveUp(): Promise<void> {
    return this.dropClient()
  }

  /** A host process for the DLL: the one we have if it is still alive, else a new one. */
  private async host(): Promise<LClient> {
    if (this.client?.alive) return this.client
    this.started = false
    const { cfg, ctx } = this
    const output = (line: string, stream: 'stdout' | 'stderr') => (cfg.debug || stream === 'stderr' ? ctx.log.info({ stream }, `LClient: ${line}`) : ctx.log.debug({ stream }, `LClient: ${line}`))
    try {
      this.client = await LClient.open({
        library: cfg.library,
        callingConvention: this.convention,
        demo: cfg.demo,
        bufferSize: cfg.bufferSize,
        callTimeoutMs: cfg.callTimeoutSeconds * 1000,
        checkArch: cfg.checkArch,
        onOutput: output,
      })
    } catch (err) {
      if (err instanceof LibraryCheckError) {
        // a missing file may still appear (installation in progress); a wrong one will not change
        if (err.code === 'UNREADABLE') throw err
        throw new Permanent(err.message)
      }
      if (err instanceof LClientError && err.code === 'LOAD_FAILED') throw new Permanent(err.message)
      throw err
    }
    if (this.abort.signal.aborted) {
      // stop() gave up waiting while the host was starting: it must not outlive the source
      await this.dropClient()
      throw new Error('stopped')
    }
    this.library = this.client.info
    ctx.log.info({ library: cfg.library, pid: this.client.pid, callingConvention: this.convention, demo: cfg.demo }, 'LClient library loaded in its host process')
    return this.client
  }

  /** One LClientStart … LClientStop. Returns when stopping; throws (with `worked`) when the link broke. */
  protected async session(): Promise<void> {
    const { cfg, ctx } = this
    const signal = this.abort.signal
    for (const [k, v] of [
      ['oper', cfg.oper],
      ['host', cfg.host],
    ] as const) {
      if (iconv.decode(iconv.encode(v, 'gbk'), 'gbk') !== v) throw new Permanent(`${k} ${JSON.stringify(v)} has characters that GBK cannot encode; the DLL takes GBK strings`)
    }
    const client = await this.host()
    if (signal.aborted) return
    const rc = await client.start({ host: cfg.host, port: cfg.port, oper: cfg.oper, ch: cfg.ch, flag: cfg.debug ? 1 : 0 })
    if (rc !== 0) {
      const e = await client.getError().catch(() => null)
      const fresh = await this.freshHost()
      throw Object.assign(new Error(`${cfg.demo ? 'LClientStartDemo' : 'LClientStart'} returned ${rc}${e !== null ? ` (LClientGetError ${e})` : ''}${fresh}`), { worked: false })
    }
    this.started = true
    if (this.failing) ctx.log.info({ failures: this.failures }, 'LClient started after failures')
    else ctx.log.info({ host: cfg.host, port: cfg.port, oper: cfg.oper }, 'LClient started')
    this.linkUp()
    // the link worked once LClientRcv answered normally (a pop or -100); then the backoff restarts
    let worked = false
    while (!signal.aborted) {
      let r
      try {
        r = await client.rcv()
      } catch (err) {
        // timeout or crash: the host is gone, and with it the DLL's state
        this.started = false
        throw Object.assign(err as Error, { worked })
      }
      this.polls++
      this.lastCode = r.code
      if (r.overrun) {
        client.kill(`the DLL wrote past our ${cfg.bufferSize}-byte receive buffer`)
        this.started = false
        throw Object.assign(new Error(`LClientRcv wrote past the ${cfg.bufferSize}-byte receive buffer; the DLL's host process was restarted (raise bufferSize if this repeats)`), { worked })
      }
      if (r.code > 0) {
        if (!worked) {
          worked = true
          this.failures = 0
        }
        this.popsIn++
        const bytes = r.bytes ?? Buffer.alloc(0)
        if (!r.terminated) {
          ctx.metrics.framesInvalid.inc({ source: this.id, code: 'UNTERMINATED' })
          ctx.log.warn({ bufferSize: cfg.bufferSize }, 'LClientRcv filled the whole receive buffer without a NUL; passing the buffer on as the pop')
        }
        ctx.pops.receive(this.id, bytes, this.popOpts)
        continue // more may be waiting: ask again at once
      }
      if (r.code === RCV_NOTHING) {
        if (!worked) {
          worked = true
          this.failures = 0
        }
        try {
          await sleep(cfg.pollMs, undefined, { signal })
        } catch {
          return
        }
        continue
      }
      // -200 data error, -201 connection stopped, -202 invalid connection, or anything else (0 is never documented)
      const e = await client.getError().catch(() => null)
      await client.stop().catch(() => {})
      this.started = false
      const fresh = await this.freshHost()
      throw Object.assign(
        new Error(
          `${cfg.demo ? 'LClientRcvDemo' : 'LClientRcv'} returned ${r.code} (${RCV_CODES[r.code] ?? 'undocumented code'})${e !== null ? `, LClientGetError ${e}` : ''}; LClientStop called${fresh}`,
        ),
        { worked },
      )
    }
  }

  /**
   * `restart: "process"`: end the host so the next LClientStart runs in a new one (seed 002:
   * LClientStart once per process; after an error code "建议重新启动客户端进行初始化"). Returns the
   * words for the error message.
   */
  private async freshHost(): Promise<string> {
    if (this.cfg.restart !== 'process') return ''
    const pid = this.client?.pid
    await this.dropClient()
    this.hostRestarts++
    this.ctx.log.info({ pid }, 'LClient host process ended so the next LClientStart gets a fresh DLL state')
    return `; host process ${pid ?? '?'} ended for a fresh start`
  }

  private async dropClient(): Promise<void> {
    const c = this.client
    this.client = null
    this.started = false
    await c?.close(this.cfg.stopTimeoutSeconds * 1000)
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref())
}
