/**
 * 小灵呼 LQ-Connect raw socket ("模式五") framing: a pure codec, no sockets, no timers.
 *
 * Server → client byte stream, frame after frame:
 *   - handshake: the 7 ASCII bytes `TRY_REQ` (no length byte); the client answers `TRY_REP`
 *   - pop: 1 unsigned length byte N (1..255), then N bytes of GBK text
 * The client → server direction has the same shape (`TRY_REP`, then a registration frame).
 *
 * The stream carries no checksum and no sync marker, so after garbage the decoder finds its way
 * back by plausibility: see {@link LqConnectDecoder}.
 *
 * Some servers count a C-string or line terminator in the length (`…dm=0;` + NUL, CR, LF or CRLF):
 * the seed says nothing either way, so such a frame is a pop and the terminator is stripped from its text.
 */
import iconv from 'iconv-lite'

/** The handshake tokens. Shared Buffers: do not mutate; encodeTryReq/encodeTryRep return copies. */
export const TRY_REQ: Buffer = Buffer.from('TRY_REQ', 'ascii')
export const TRY_REP: Buffer = Buffer.from('TRY_REP', 'ascii')
/** Largest pop payload: the length is one unsigned byte. */
export const MAX_POP_BYTES = 255
/**
 * Most bytes a decoder can hold between writes: an incomplete pop (1 length byte + at most 254 of
 * its payload bytes). A pending handshake holds at most 6.
 */
export const MAX_BUFFERED = MAX_POP_BYTES

const HANDSHAKE_LEN = 7

/** The bytes the scanner looks for; a byte read from the buffer is typed Byte too, so comparisons stay within one enum. */
const enum Byte {
  NUL = 0x00,
  LF = 0x0a,
  CR = 0x0d,
  H = 0x48,
  EQ = 0x3d,
  COMMA = 0x2c,
  ZERO = 0x30,
  NINE = 0x39,
  SPACE = 0x20,
  DEL = 0x7f,
}

export type HandshakeToken = 'TRY_REQ' | 'TRY_REP'

export type Frame =
  | { type: 'handshake'; token: HandshakeToken }
  /**
   * `payload` is the text bytes, always a fresh copy: it stays valid after later writes. A trailing
   * NUL, CR, LF or CRLF the length byte counted is not in it but in `trailer` (present only then), so
   * the frame on the wire is `[payload.length + trailer.length] payload trailer`.
   */
  | { type: 'pop'; payload: Buffer; trailer?: Buffer }

export type FrameErrorCode =
  /** a length byte of 0: no frame can have it; that one byte is skipped */
  | 'ZERO_LENGTH'
  /** a length byte whose frame does not look like text the peer sends; the length byte is skipped */
  | 'IMPLAUSIBLE_FRAME'

/** Bytes the decoder skipped while looking for the next frame. Reported, never thrown by `write`. */
export class FrameError extends Error {
  readonly code: FrameErrorCode
  /** the skipped bytes (a copy) */
  readonly bytes: Buffer
  /** stream offset of the first skipped byte */
  readonly offset: number
  constructor(code: FrameErrorCode, bytes: Buffer, offset: number) {
    // A report handed to onError, never thrown: its stack would only point into the decoder, and
    // capturing one costs more than decoding a frame, which adds up on a link spewing garbage.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      super(`${code}: skipped ${bytes.length} byte${bytes.length === 1 ? '' : 's'} at stream offset ${offset}`)
    } finally {
      Error.stackTraceLimit = limit
    }
    this.name = 'FrameError'
    this.code = code
    this.bytes = bytes
    this.offset = offset
  }
}

/**
 * Decides whether a candidate frame payload looks like a pop. Called with `complete=false` on the
 * bytes received so far (length ≥ 1) and with `complete=true` once all N bytes are there.
 *
 * Must be prefix-consistent: if it rejects a partial payload it must also reject every longer
 * payload starting with those bytes. Otherwise results would depend on how TCP split the stream.
 * The payload is a view into the decoder's buffer: read it, do not keep it.
 */
export type PlausibleFn = (payload: Buffer, complete: boolean) => boolean

function isDigit(b: Byte): boolean {
  return b >= Byte.ZERO && b <= Byte.NINE
}

/**
 * plausiblePop as a byte-at-a-time state machine, so the decoder can resume where the previous
 * write stopped instead of rescanning a pending payload (byte-by-byte input stays O(1) per byte).
 */
const enum Scan {
  Start, // nothing seen
  AfterH, // 'H', needs '='
  Digits, // one or more digits, needs more digits or ','
  Body, // prefix done: only the control-byte rule is left
  Cr, // text then CR: only LF (or the end) may follow
  End, // text then NUL, LF or CRLF: the end must follow
  Bad,
}

function scanPop(buf: Buffer, from: number, to: number, state: Scan): Scan {
  let i = from
  // the prefix (`H=` or digits and `,`): a few bytes
  for (; i < to && state < Scan.Body; i++) {
    const b: Byte = buf[i]!
    if (b < Byte.SPACE || b === Byte.DEL) return Scan.Bad
    switch (state) {
      case Scan.Start:
        state = b === Byte.H ? Scan.AfterH : isDigit(b) ? Scan.Digits : Scan.Bad
        break
      case Scan.AfterH:
        state = b === Byte.EQ ? Scan.Body : Scan.Bad
        break
      case Scan.Digits:
        state = isDigit(b) ? Scan.Digits : b === Byte.COMMA ? Scan.Body : Scan.Bad
        break
      default:
        break
    }
    if (state === Scan.Bad) return state
  }
  while (i < to) {
    if (state === Scan.Body) {
      // the text: only the control-byte rule, in a tight loop (most of the bytes)
      while (i < to) {
        const b: Byte = buf[i]!
        if (b < Byte.SPACE || b === Byte.DEL) break
        i++
      }
      if (i === to) break
      // a control byte may only start the terminator
      const b: Byte = buf[i++]!
      if (b === Byte.NUL || b === Byte.LF) state = Scan.End
      else if (b === Byte.CR) state = Scan.Cr
      else return Scan.Bad
    } else if (state === Scan.Cr && buf[i] === Byte.LF) {
      state = Scan.End
      i++
    } else return Scan.Bad
  }
  return state
}

/** a partial payload passes unless ruled out; a complete one must have finished its prefix */
function verdict(state: Scan, complete: boolean): boolean {
  return complete ? state === Scan.Body || state === Scan.Cr || state === Scan.End : state !== Scan.Bad
}

/** Bytes of a trailing NUL, CR, LF or CRLF in payload[from, to), never all of it. */
export function trailerLength(buf: Buffer, from: number, to: number): number {
  const n = to - from
  if (n < 2) return 0
  const last = buf[to - 1]
  if (last === Byte.LF) return n > 2 && buf[to - 2] === Byte.CR ? 2 : 1
  return last === Byte.NUL || last === Byte.CR ? 1 : 0
}

/**
 * Default plausibility check for pops: the text starts with `H=` (t1v2 and later) or with ASCII
 * digits followed by `,` (t1v1, e.g. `2,02586307627,...`), and holds no control byte (< 0x20, 0x7F)
 * except one trailing terminator: NUL, CR, LF or CRLF as the payload's last bytes.
 * GBK lead/trail bytes are all ≥ 0x40 and never 0x7F, so Chinese text passes.
 * On a partial payload it rejects as soon as the bytes seen so far rule a pop out.
 */
export function plausiblePop(payload: Buffer, complete: boolean): boolean {
  return verdict(scanPop(payload, 0, payload.length, Scan.Start), complete)
}

export interface LqConnectDecoderOptions {
  /** the handshake token this side receives: `TRY_REQ` (default, a client) or `TRY_REP` (a server) */
  handshake?: HandshakeToken
  /**
   * plausibility check for frames with a length byte; default {@link plausiblePop} (which the
   * decoder runs incrementally). A custom check sees the whole partial payload again on each write
   * while a frame is pending: at most 254 bytes per write.
   */
  plausible?: PlausibleFn
}

/**
 * Incremental decoder. Feed it chunks as they arrive; it calls `onFrame` for each frame and
 * `onError` for skipped bytes, in stream order.
 *
 * At a frame boundary: if the next bytes are (a prefix of) the handshake token, wait for 7 bytes and
 * take them as the handshake; otherwise the next byte is a length byte N.
 *   - N = 0 → ZERO_LENGTH, skip that byte.
 *   - The payload is checked as soon as its first bytes arrive (so `@xyz…` is rejected without
 *     waiting for 64 bytes), and again when all N bytes are there. A rejected candidate →
 *     IMPLAUSIBLE_FRAME and only its length byte is skipped; decoding restarts at the next byte,
 *     so a real frame right after garbage is still found.
 *   - An incomplete candidate that still looks plausible waits (its bytes stay buffered).
 * Consecutive skipped bytes with the same code are reported as one FrameError, but a run never
 * spans two `write` calls (errors are reported promptly), so a run may arrive split in several
 * errors; their `offset`s are contiguous and the byte count is exact.
 *
 * Invariants after every `write`: `buffered` ≤ {@link MAX_BUFFERED}, and every byte written so far
 * is either in an emitted frame, in a FrameError, or buffered (`offset + buffered` = bytes written).
 * Results do not depend on how the stream was split into chunks.
 */
export class LqConnectDecoder {
  private readonly token: Buffer
  private readonly tokenName: HandshakeToken
  private readonly plausible: PlausibleFn
  /** own storage for bytes held between writes */
  private store: Buffer = Buffer.alloc(0)
  /** the bytes being decoded: `store`, or during a write that started empty, the caller's chunk */
  private buf: Buffer = this.store
  private start = 0
  private end = 0
  /** stream offset of buf[0] */
  private base = 0
  private writing = false
  /** bumped by reset() so a write in progress notices it and stops */
  private generation = 0
  /** pending run of skipped bytes: buf[runFrom, start), reported by flushRun */
  private runCode: FrameErrorCode | null = null
  private runFrom = 0
  /** default check only: the candidate waiting at stream offset scanAt had `scanned` payload bytes scanned, ending in scanState */
  private scanAt = -1
  private scanned = 0
  private scanState: Scan = Scan.Start

  constructor(opts: LqConnectDecoderOptions = {}) {
    this.tokenName = opts.handshake ?? 'TRY_REQ'
    this.token = this.tokenName === 'TRY_REP' ? TRY_REP : TRY_REQ
    this.plausible = opts.plausible ?? plausiblePop
  }

  /** bytes held waiting for more (an incomplete frame) */
  get buffered(): number {
    return this.end - this.start
  }

  /** total bytes consumed (emitted as frames or skipped); inside a callback: just past the frame or skipped run it reports */
  get offset(): number {
    return this.base + this.start
  }

  /**
   * Forget buffered bytes and start a new stream at offset 0 (e.g. after a reconnect). Called from
   * inside a callback, it also drops the rest of the chunk being written.
   */
  reset(): void {
    this.generation++
    this.runCode = null
    this.scanAt = -1
    this.buf = this.store
    this.start = this.end = this.base = 0
  }

  /**
   * Decode a chunk. Never throws for bad input; exceptions thrown by the callbacks propagate (the
   * frame they were handling counts as consumed). Calling `write` from a callback is a bug and throws.
   */
  write(chunk: Buffer, onFrame: (f: Frame) => void, onError: (e: FrameError) => void): void {
    if (this.writing) throw new Error('LqConnectDecoder.write called from its own callback')
    if (chunk.length === 0) return
    this.append(chunk)
    this.writing = true
    try {
      this.drain(onFrame, onError)
    } finally {
      this.writing = false
      this.keepLeftover()
    }
  }

  private append(chunk: Buffer): void {
    const held = this.end - this.start
    if (held === 0) {
      // Common case: nothing pending. Decode straight from the caller's chunk, no copy.
      this.base += this.start
      this.buf = chunk
      this.start = 0
      this.end = chunk.length
      return
    }
    // Here buf is `store` (keepLeftover moved any leftover there).
    const need = held + chunk.length
    if (need > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.store.length * 2, 512))
      this.store.copy(grown, 0, this.start, this.end)
      this.store = grown
      this.rebase()
    } else if (this.end + chunk.length > this.store.length) {
      // compact only when the tail has no room: amortised O(1) per byte even for 1-byte writes
      this.store.copyWithin(0, this.start, this.end)
      this.rebase()
    }
    this.buf = this.store
    chunk.copy(this.store, this.end)
    this.end += chunk.length
  }

  /** the held bytes now sit at store[0..held) */
  private rebase(): void {
    const held = this.end - this.start
    this.base += this.start
    this.start = 0
    this.end = held
  }

  /** After a write: never keep a reference to the caller's chunk, and do not hoard a huge buffer. */
  private keepLeftover(): void {
    const held = this.end - this.start
    if (this.buf === this.store) {
      if (this.store.length <= 1 << 16) return
      // a huge chunk arrived while bytes were held: the store grew to hold it; shrink it back
      const small = Buffer.allocUnsafe(Math.max(held, 512))
      this.store.copy(small, 0, this.start, this.end)
      this.store = small
    } else {
      // decoded straight from the caller's chunk: copy what is left (≤ 255 bytes normally)
      if (held > this.store.length) this.store = Buffer.allocUnsafe(Math.max(held, 512))
      if (held > 0) this.buf.copy(this.store, 0, this.start, this.end)
    }
    this.buf = this.store
    this.rebase()
  }

  /** Skip the byte at the cursor as part of a run of `code`; false if a callback reset the decoder. */
  private skip(code: FrameErrorCode, onError: (e: FrameError) => void, gen: number): boolean {
    if (this.runCode !== code) {
      if (!this.flushRun(onError, gen)) return false
      this.runCode = code
      this.runFrom = this.start
    }
    this.start++
    return true
  }

  /** Report the pending run, if any; false if onError reset the decoder. */
  private flushRun(onError: (e: FrameError) => void, gen: number): boolean {
    const code = this.runCode
    if (code === null) return true
    this.runCode = null
    onError(new FrameError(code, Buffer.from(this.buf.subarray(this.runFrom, this.start)), this.base + this.runFrom))
    return this.generation === gen
  }

  private drain(onFrame: (f: Frame) => void, onError: (e: FrameError) => void): void {
    const gen = this.generation
    const buf = this.buf
    const end = this.end
    const token = this.token
    this.runCode = null

    while (true) {
      const p = this.start
      const avail = end - p
      if (avail === 0) break
      const first = buf[p]!

      // Handshake first: its first byte 'T' (84) could also be read as a length byte.
      if (first === token[0]) {
        const m = Math.min(avail, HANDSHAKE_LEN)
        if (buf.compare(token, 0, m, p, p + m) === 0) {
          if (avail < HANDSHAKE_LEN) break // a prefix of the token: wait for the rest
          if (!this.flushRun(onError, gen)) return
          this.start = p + HANDSHAKE_LEN
          onFrame({ type: 'handshake', token: this.tokenName })
          if (this.generation !== gen) return
          continue
        }
      }

      if (first === 0) {
        if (!this.skip('ZERO_LENGTH', onError, gen)) return
        continue
      }

      const have = Math.min(avail - 1, first)
      if (have === 0) break // only the length byte so far
      const complete = have === first
      let ok: boolean
      if (this.plausible === plausiblePop) {
        // resume the scan of a candidate that was waiting at this same stream offset
        const at = this.base + p
        const resume = this.scanAt === at
        const state = scanPop(buf, p + 1 + (resume ? this.scanned : 0), p + 1 + have, resume ? this.scanState : Scan.Start)
        ok = verdict(state, complete)
        this.scanAt = ok && !complete ? at : -1
        this.scanned = have
        this.scanState = state
      } else {
        try {
          ok = this.plausible(buf.subarray(p + 1, p + 1 + have), complete)
        } catch {
          ok = false // a check that chokes on these bytes has rejected them
        }
      }
      if (!ok) {
        if (!this.skip('IMPLAUSIBLE_FRAME', onError, gen)) return
        continue
      }
      if (!complete) break // plausible so far: wait for the rest

      if (!this.flushRun(onError, gen)) return
      // copy: `buf` is either reused storage or the caller's chunk
      const to = p + 1 + first
      const cut = trailerLength(buf, p + 1, to)
      const payload = Buffer.from(buf.subarray(p + 1, to - cut))
      this.start = to
      onFrame(cut === 0 ? { type: 'pop', payload } : { type: 'pop', payload, trailer: Buffer.from(buf.subarray(to - cut, to)) })
      if (this.generation !== gen) return
    }
    // runs are reported before write returns, never held across writes
    this.flushRun(onError, gen)
  }
}

export function gbk(text: string | Buffer): Buffer {
  return typeof text === 'string' ? iconv.encode(text, 'gbk') : text
}

export function checkLength(what: string, n: number): void {
  if (n === 0 || n > MAX_POP_BYTES) {
    throw new RangeError(`${what} is ${n} bytes in GBK; an LQ-Connect frame holds 1..${MAX_POP_BYTES}`)
  }
}

export function lengthFramed(body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(body.length + 1)
  frame[0] = body.length
  body.copy(frame, 1)
  return frame
}

/** The handshake the server sends (a fresh copy). */
export function encodeTryReq(): Buffer {
  return Buffer.from(TRY_REQ)
}

/** The client's answer to TRY_REQ (a fresh copy). */
export function encodeTryRep(): Buffer {
  return Buffer.from(TRY_REP)
}

/**
 * A pop frame: length byte + GBK text. A string is GBK-encoded (characters GBK lacks become `?`,
 * iconv-lite's rule); a Buffer is sent as is. Throws RangeError unless the text is 1..255 bytes.
 */
export function encodePop(text: string | Buffer): Buffer {
  const body = gbk(text)
  checkLength('pop text', body.length)
  return lengthFramed(body)
}
