/**
 * LQ-Connect test support: fixture builders (built by hand, not with the codec's encoders, so encoder
 * tests compare against an independent construction) and an auditing decode helper.
 */
import iconv from 'iconv-lite'
import { FrameError, LqConnectDecoder, MAX_BUFFERED, plausiblePop, type Frame, type FrameErrorCode, type HandshakeToken, type LqConnectDecoderOptions } from '../lq-connect/codec.js'

export const lq = {
  /** a pop frame: 1 length byte + the GBK text (1..255 bytes) */
  pop(text: string): Buffer {
    const body = iconv.encode(text, 'gbk')
    if (body.length < 1 || body.length > 255) throw new Error(`fixture pop of ${body.length} bytes cannot be framed`)
    return Buffer.concat([Buffer.of(body.length), body])
  },
  tryReq(): Buffer {
    return Buffer.from('TRY_REQ', 'latin1')
  },
  tryRep(): Buffer {
    return Buffer.from('TRY_REP', 'latin1')
  },
}

/** What a decoder run produced, in a form `t.same` can compare. Adjacent error runs of one code are merged. */
export type LqEvent = { handshake: HandshakeToken } | { pop: string } | { error: FrameErrorCode; skipped: number }

export const ev = {
  hs: (token: HandshakeToken = 'TRY_REQ'): LqEvent => ({ handshake: token }),
  pop: (text: string): LqEvent => ({ pop: text }),
  err: (code: FrameErrorCode, skipped: number): LqEvent => ({ error: code, skipped }),
  /** expected errors for bytes that are all skipped one by one: 0x00 → ZERO_LENGTH, others IMPLAUSIBLE_FRAME */
  skipped: (bytes: Buffer): LqEvent[] => normalize([...bytes].map((b) => ({ error: b === 0 ? 'ZERO_LENGTH' : 'IMPLAUSIBLE_FRAME', skipped: 1 }))),
}

/** Merge adjacent error events with the same code (the decoder may split a run across writes). */
export function normalize(events: LqEvent[]): LqEvent[] {
  const out: LqEvent[] = []
  for (const e of events) {
    const last = out[out.length - 1]
    if ('error' in e && last && 'error' in last && last.error === e.error) out[out.length - 1] = { error: e.error, skipped: last.skipped + e.skipped }
    else out.push(e)
  }
  return out
}

export interface DecodedFrame {
  frame: Frame
  /** stream offsets of the frame's first byte and one past its last */
  start: number
  end: number
}

export interface LqRun {
  events: LqEvent[]
  frames: DecodedFrame[]
  buffered: number
  offset: number
  /** invariant violations found while running; [] when all is well */
  problems: string[]
}

function frameBytes(f: Frame): Buffer {
  if (f.type === 'handshake') return Buffer.from(f.token, 'latin1')
  const trailer = f.trailer ?? Buffer.alloc(0)
  return Buffer.concat([Buffer.of(f.payload.length + trailer.length), f.payload, trailer])
}

/**
 * Feed `chunks` to a fresh decoder and audit it: every callback's offset matches the bytes
 * accounted so far, `buffered` stays ≤ MAX_BUFFERED after every write, the emitted frames and
 * skipped bytes re-assemble into exactly the consumed input (checked after the last write, so
 * payloads must have stayed valid), and what is left buffered is a state the decoder must wait in.
 */
export function decodeChunks(chunks: Buffer[], opts: LqConnectDecoderOptions = {}): LqRun {
  const input = Buffer.concat(chunks)
  const d = new LqConnectDecoder(opts)
  const plausible = opts.plausible ?? plausiblePop
  const token = Buffer.from(opts.handshake ?? 'TRY_REQ', 'latin1')
  const parts: Buffer[] = []
  const events: LqEvent[] = []
  const frames: DecodedFrame[] = []
  const problems: string[] = []
  let pos = 0
  let written = 0
  for (const chunk of chunks) {
    written += chunk.length
    d.write(
      chunk,
      (f) => {
        const len = f.type === 'handshake' ? 7 : 1 + f.payload.length + (f.trailer?.length ?? 0)
        const end = d.offset
        if (end - len !== pos) problems.push(`frame at ${end - len} but bytes accounted up to ${pos}`)
        pos = end
        parts.push(frameBytes(f))
        frames.push({ frame: f, start: end - len, end })
        events.push(f.type === 'handshake' ? { handshake: f.token } : { pop: iconv.decode(f.payload, 'gbk') })
      },
      (e) => {
        if (!(e instanceof FrameError)) problems.push('onError got something that is no FrameError')
        if (e.offset !== pos) problems.push(`error at ${e.offset} but bytes accounted up to ${pos}`)
        if (e.bytes.length === 0) problems.push(`empty error at ${e.offset}`)
        pos = e.offset + e.bytes.length
        parts.push(e.bytes)
        events.push({ error: e.code, skipped: e.bytes.length })
      },
    )
    if (d.buffered > MAX_BUFFERED) problems.push(`buffered ${d.buffered} > ${MAX_BUFFERED}`)
    if (d.offset !== pos) problems.push(`offset ${d.offset} but events account for ${pos}`)
    if (d.offset + d.buffered !== written) problems.push(`offset ${d.offset} + buffered ${d.buffered} != written ${written}`)
  }
  if (!Buffer.concat(parts).equals(input.subarray(0, d.offset))) problems.push('emitted frames and skipped bytes do not re-assemble the input')
  // the leftover must be something the decoder has to wait on
  const rest = input.subarray(d.offset)
  if (rest.length > 0) {
    const n = rest[0]!
    const tokenPrefix = rest.length < 7 && token.subarray(0, rest.length).equals(rest)
    const pendingPop = n > 0 && rest.length <= n && (rest.length === 1 || plausible(rest.subarray(1), false))
    if (!tokenPrefix && !pendingPop) problems.push(`decoder waits on ${rest.length} bytes it could decide: ${rest.subarray(0, 16).toString('hex')}`)
  }
  return { events: normalize(events), frames, buffered: d.buffered, offset: d.offset, problems }
}
