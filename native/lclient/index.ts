import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import iconv from 'iconv-lite'
import { checkLibrary, type LibraryInfo } from './arch.js'
import { HOST_CODE } from './host-code.js'

export { LibraryCheckError, checkLibrary, checkLoadable, inspectLibrary, type LibraryInfo, type LibraryCheckCode } from './arch.js'

export type CallingConvention = 'stdcall' | 'cdecl'

/** `stdcall` where it matters (32-bit Windows; the DLL's VB/Delphi/PB callers imply it), `cdecl` elsewhere (koffi ignores it off x86). */
export function defaultCallingConvention(arch: string = process.arch, platform: string = process.platform): CallingConvention {
  return platform === 'win32' && arch === 'ia32' ? 'stdcall' : 'cdecl'
}

/** LClientRcv's codes (seed 002 ch. 5). Never 0. */
export const RCV_NOTHING = -100
export const RCV_CODES: Record<number, string> = { [-100]: 'no pop now', [-200]: 'data error', [-201]: 'connection stopped', [-202]: 'invalid connection' }

export interface LClientOptions {
  library: string
  callingConvention?: CallingConvention
  /** use LClientStartDemo / LClientRcvDemo (no server needed) */
  demo?: boolean
  /** bytes of the receive buffer we own; the vendor's pops are ≤ 255 */
  bufferSize?: number
  /** a call that takes longer kills the host process (LClientStart may sit in a TCP connect) */
  callTimeoutMs?: number
  /** check the DLL's PE header against this Node before loading (default true) */
  checkArch?: boolean
  /** lines the host process prints: the DLL's own debug output (flag 1) is GBK on stdout */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void
}

export interface Received {
  /** the function's return: > 0 a pop, -100 nothing, other = the link is broken */
  code: number
  /** bytes up to the first NUL (bounded by the buffer), null when there is no pop */
  bytes: Buffer | null
  /** the bytes decoded from GBK */
  text: string | null
  /** false: no NUL within the buffer (bytes holds the whole buffer) */
  terminated: boolean
  /** the DLL wrote past our buffer: the host's memory can no longer be trusted */
  overrun: boolean
}

export type LClientErrorCode = 'CALL_TIMEOUT' | 'HOST_EXITED' | 'LOAD_FAILED' | 'CALL_FAILED' | 'CLOSED'

export class LClientError extends Error {
  constructor(
    readonly code: LClientErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'LClientError'
  }
}

interface Pending {
  op: string
  resolve: (v: Reply) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

interface Reply {
  id: number
  ok: boolean
  error?: string
  code?: number
  bytes?: Uint8Array | null
  terminated?: boolean
  overrun?: boolean
}

const KOFFI_PATH = createRequire(import.meta.url).resolve('koffi')
const MAX_OUTPUT_LINE = 2000
const LOAD_TIMEOUT_MS = 30_000

/** A NUL-terminated GBK copy of a string argument (the DLL's `char *`). */
export function gbkz(s: string): Buffer {
  return Buffer.concat([iconv.encode(s, 'gbk'), Buffer.alloc(1)])
}

/**
 * LClient.dll (or anything with its exports) hosted in a child process of this Node: the calls run
 * there, synchronously, one at a time, so a slow or stuck call never blocks the daemon's event
 * loop, a crash of the DLL does not take the daemon down, and a call that never returns can be
 * ended by killing the host (a thread stuck in native code cannot be stopped, and Node waits for
 * it even at process exit). One DLL instance per host process, which is what the DLL's global
 * state needs.
 */
export class LClient {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private exited = false
  private exitReason: string | null = null
  private exitCode: LClientErrorCode = 'HOST_EXITED'
  private readonly exitedPromise: Promise<void>
  private readonly fnStart: string
  private readonly fnRcv: string

  private constructor(
    private readonly child: ChildProcess,
    readonly library: string,
    readonly info: LibraryInfo | null,
    readonly callingConvention: CallingConvention,
    readonly demo: boolean,
    private readonly callTimeoutMs: number,
  ) {
    this.fnStart = demo ? 'LClientStartDemo' : 'LClientStart'
    this.fnRcv = demo ? 'LClientRcvDemo' : 'LClientRcv'
    this.exitedPromise = new Promise((resolve) => {
      const ended = (why: string) => {
        if (this.exited) return
        this.exited = true
        for (const p of this.pending.values()) {
          clearTimeout(p.timer)
          p.reject(new LClientError(this.exitCode, this.exitReason ?? why))
        }
        this.pending.clear()
        resolve()
      }
      child.once('exit', (code, signal) => ended(`the LClient host process ended (${signal ? `signal ${signal}` : `exit code ${code}`}) — the DLL crashed or exited`))
      // no pid: the process could not be started at all, and there will be no 'exit'
      child.on('error', (err) => child.pid === undefined && ended(`cannot start the LClient host process (${process.execPath}): ${err.message}`))
    })
    child.on('message', (m: Reply) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m)
      else p.reject(new LClientError('CALL_FAILED', m.error ?? 'call failed'))
    })
  }

  /** Check the library, start a host process and load the library in it. */
  static async open(opts: LClientOptions): Promise<LClient> {
    const info = opts.checkArch === false ? null : await checkLibrary(opts.library)
    const convention = opts.callingConvention ?? defaultCallingConvention()
    const env = { ...process.env }
    // the host needs no loader or flags of ours (a test runner's --import would slow it down)
    delete env.NODE_OPTIONS
    const child = spawn(process.execPath, ['-e', HOST_CODE], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      windowsHide: true,
      env,
    })
    const out = opts.onOutput
    for (const [stream, encoding] of [
      ['stdout', 'gbk'],
      ['stderr', 'utf8'],
    ] as const) {
      const s = child[stream]
      if (!s) continue
      if (!out) {
        s.resume()
        continue
      }
      const rl = createInterface({ input: s.pipe(iconv.decodeStream(encoding)), crlfDelay: Infinity })
      rl.on('line', (line) => out(line.length > MAX_OUTPUT_LINE ? line.slice(0, MAX_OUTPUT_LINE) + '…' : line, stream))
    }
    const c = new LClient(child, opts.library, info, convention, opts.demo === true, opts.callTimeoutMs ?? 30_000)
    const fnStart = c.fnStart
    const declare = [
      [fnStart, 'int', ['void *', 'void *', 'void *', 'void *', 'int']],
      [c.fnRcv, 'int', ['void *']],
      ['LClientStop', 'int', []],
      ['LClientGetError', 'int', []],
    ]
    try {
      // starting Node and koffi takes a while on a loaded machine: the call timeout starts after that
      await c.call({ op: 'load', koffi: KOFFI_PATH, library: opts.library, convention, bufferSize: opts.bufferSize ?? 4096, declare }, 'load', Math.max(c.callTimeoutMs, LOAD_TIMEOUT_MS))
    } catch (err) {
      c.kill()
      const e = err as LClientError
      throw new LClientError('LOAD_FAILED', e.message)
    }
    return c
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get alive(): boolean {
    return !this.exited
  }

  /** the call the host is busy with, if any */
  get inFlight(): string | null {
    const first = this.pending.values().next()
    return first.done ? null : first.value.op
  }

  /** LClientStart (or LClientStartDemo): 0 ok, other = failed. Strings go as NUL-terminated GBK. */
  async start(args: { host: string; port: string; oper: string; ch: string; flag?: number }): Promise<number> {
    const r = await this.call({ op: 'start', fn: this.fnStart, host: gbkz(args.host), port: gbkz(args.port), oper: gbkz(args.oper), ch: gbkz(args.ch), flag: args.flag ?? 0 }, this.fnStart)
    return r.code ?? -1
  }

  /** LClientRcv (or LClientRcvDemo) into our buffer. */
  async rcv(): Promise<Received> {
    return received(await this.call({ op: 'rcv', fn: this.fnRcv }, this.fnRcv))
  }

  /** LClientRcvStr: the pop or the code as a string ("-100"…). `code` is parsed from a code string, else 1. */
  async rcvStr(): Promise<Received> {
    const r = received(await this.call({ op: 'rcvStr' }, 'LClientRcvStr'))
    const t = r.text
    const m = t !== null && /^-\d+$/.exec(t)
    return { ...r, code: m ? Number(t) : t === null ? -1 : 1, bytes: m ? null : r.bytes, text: m ? null : t }
  }

  async stop(): Promise<number> {
    return (await this.call({ op: 'int', fn: 'LClientStop' }, 'LClientStop')).code ?? -1
  }

  async getError(): Promise<number> {
    return (await this.call({ op: 'int', fn: 'LClientGetError' }, 'LClientGetError')).code ?? 0
  }

  /**
   * End the host: wait up to `waitMs` for a call in flight, then close the channel (the host exits
   * when idle) and kill it if it has not gone within a moment.
   */
  async close(waitMs = 2000): Promise<void> {
    if (this.exited) return
    if (this.pending.size) {
      const busy = [...this.pending.values()].map(
        (p) =>
          new Promise<void>((res) => {
            const { resolve, reject } = p
            p.resolve = (v) => (resolve(v), res())
            p.reject = (e) => (reject(e), res())
          }),
      )
      await Promise.race([Promise.all(busy), this.exitedPromise, delay(waitMs)])
    }
    if (this.exited) return
    if (this.pending.size) this.kill(`the LClient host was killed: ${this.inFlight} still had not returned ${waitMs} ms after stop`)
    else if (this.child.connected) this.child.disconnect()
    await Promise.race([this.exitedPromise, delay(500)])
    if (!this.exited) this.kill('the LClient host did not exit when asked')
    await Promise.race([this.exitedPromise, delay(2000)])
  }

  /** Kill the host now; calls in flight fail with `reason`. */
  kill(reason?: string, code: LClientErrorCode = 'HOST_EXITED'): void {
    if (this.exited) return
    if (reason) {
      this.exitReason = reason
      this.exitCode = code
    }
    this.child.kill('SIGKILL')
  }

  private call(msg: Record<string, unknown>, op: string, timeoutMs = this.callTimeoutMs): Promise<Reply> {
    if (this.exited) return Promise.reject(new LClientError(this.exitReason ? this.exitCode : 'CLOSED', this.exitReason ?? 'the LClient host has ended'))
    const id = this.nextId++
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = `${op} did not return within ${timeoutMs} ms; the LClient host was killed`
        // the exit handler rejects every pending call with this reason
        this.kill(why, 'CALL_TIMEOUT')
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, { op, resolve, reject, timer })
      try {
        this.child.send({ ...msg, id })
      } catch (err) {
        this.pending.delete(id)
        clearTimeout(timer)
        reject(new LClientError('HOST_EXITED', `cannot reach the LClient host: ${(err as Error).message}`))
      }
    })
  }
}

function received(r: Reply): Received {
  const bytes = r.bytes ? Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength) : null
  return {
    code: r.code ?? 0,
    bytes,
    text: bytes ? iconv.decode(bytes, 'gbk') : null,
    terminated: r.terminated ?? true,
    overrun: r.overrun ?? false,
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref())
}
