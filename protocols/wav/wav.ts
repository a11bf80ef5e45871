/**
 * WAV (RIFF/WAVE) files for the simulators, the test helpers and the benchmarks; by default 8 kHz
 * 16-bit mono PCM, the format an analog-line recording box produces. Pure: buffers in, buffers out.
 */

export interface WavFormat {
  sampleRate: number
  channels: number
  bitsPerSample: number
  /** the `fmt ` format tag: 1 PCM (default), 7 μ-law */
  audioFormat?: number
}

export const BOX_WAV: WavFormat = { sampleRate: 8000, channels: 1, bitsPerSample: 16 }

/** 8 kHz μ-law mono (G.711), the format Guoxin's seed names for its voice files */
export const ULAW_WAV: WavFormat = { sampleRate: 8000, channels: 1, bitsPerSample: 8, audioFormat: 7 }

/** The canonical 44-byte header: RIFF, a 16-byte `fmt ` chunk, then the `data` chunk header. */
export const WAV_HEADER_BYTES = 44

export function wavHeader(dataBytes: number, fmt: WavFormat = BOX_WAV): Buffer {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > 0xffffffff - 36) throw new RangeError(`WAV data size ${dataBytes} out of range`)
  const blockAlign = (fmt.channels * fmt.bitsPerSample) / 8
  const h = Buffer.alloc(WAV_HEADER_BYTES)
  h.write('RIFF', 0, 'latin1')
  h.writeUInt32LE(36 + dataBytes, 4) // everything after this field
  h.write('WAVE', 8, 'latin1')
  h.write('fmt ', 12, 'latin1')
  h.writeUInt32LE(16, 16)
  h.writeUInt16LE(fmt.audioFormat ?? 1, 20)
  h.writeUInt16LE(fmt.channels, 22)
  h.writeUInt32LE(fmt.sampleRate, 24)
  h.writeUInt32LE(fmt.sampleRate * blockAlign, 28) // byte rate
  h.writeUInt16LE(blockAlign, 32)
  h.writeUInt16LE(fmt.bitsPerSample, 34)
  h.write('data', 36, 'latin1')
  h.writeUInt32LE(dataBytes, 40)
  return h
}

export interface WavOptions {
  /** `tone`: a two-tone warble with a speech-like on/off envelope and a little noise; `noise`: white noise */
  kind?: 'tone' | 'noise'
  /** base frequency of the tone, Hz */
  frequency?: number
  /** 0..1 of full scale */
  amplitude?: number
  /** PRNG seed for the noise (the same seed gives the same bytes) */
  seed?: number
}

/** A whole WAV: the header for `data`, then `data` (whole samples of `fmt`). */
export function encodeWav(data: Uint8Array, fmt: WavFormat = BOX_WAV): Buffer {
  return Buffer.concat([wavHeader(data.length, fmt), data])
}

/** A complete 8 kHz 16-bit mono WAV of `seconds` (rounded down to whole samples). */
export function makeWav(seconds: number, opts: WavOptions = {}): Buffer {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`WAV length ${seconds} s out of range`)
  return makeWavSamples(Math.floor(seconds * BOX_WAV.sampleRate), opts)
}

/** A WAV of exactly `bytes` bytes or the next smaller size that holds whole samples (benchmarks: "a 5 MB WAV"). */
export function makeWavOfSize(bytes: number, opts: WavOptions = {}): Buffer {
  return makeWavSamples(Math.max(0, Math.floor((bytes - WAV_HEADER_BYTES) / 2)), opts)
}

function makeWavSamples(samples: number, opts: WavOptions): Buffer {
  const kind = opts.kind ?? 'tone'
  const f = opts.frequency ?? 425 // the Chinese dial/ring tone frequency
  const amp = Math.max(0, Math.min(1, opts.amplitude ?? 0.3)) * 32767
  let s = (opts.seed ?? 1) >>> 0 || 1
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
  const out = Buffer.alloc(WAV_HEADER_BYTES + samples * 2)
  wavHeader(samples * 2).copy(out, 0)
  const rate = BOX_WAV.sampleRate
  for (let i = 0; i < samples; i++) {
    let v: number
    if (kind === 'noise') v = (rnd() * 2 - 1) * amp
    else {
      const t = i / rate
      // "syllables": 200 ms on, 100 ms off, alternating between two pitches
      const syl = Math.floor(t / 0.3)
      const on = t - syl * 0.3 < 0.2 ? 1 : 0.05
      const freq = syl % 2 ? f * 1.5 : f
      v = (Math.sin(2 * Math.PI * freq * t) * on + (rnd() * 2 - 1) * 0.02) * amp
    }
    out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), WAV_HEADER_BYTES + i * 2)
  }
  return out
}

export interface ParsedWav extends Required<WavFormat> {
  /** audio format tag (1 = PCM) */
  audioFormat: number
  byteRate: number
  blockAlign: number
  /** where the samples start, and how many bytes they take */
  dataOffset: number
  dataBytes: number
  durationSeconds: number
}

export class WavError extends Error {
  override name = 'WavError'
}

/** Parse and check a RIFF/WAVE file: chunk sizes against the buffer, fmt fields against each other. */
export function parseWav(buf: Buffer): ParsedWav {
  if (buf.length < 12) throw new WavError(`too short for a RIFF header (${buf.length} bytes)`)
  if (buf.toString('latin1', 0, 4) !== 'RIFF') throw new WavError('no RIFF signature')
  if (buf.toString('latin1', 8, 12) !== 'WAVE') throw new WavError('RIFF form is not WAVE')
  const riffSize = buf.readUInt32LE(4)
  if (riffSize + 8 !== buf.length) throw new WavError(`RIFF size ${riffSize} does not match the file (${buf.length - 8} bytes after it)`)
  let fmt: Omit<ParsedWav, 'dataOffset' | 'dataBytes' | 'durationSeconds'> | null = null
  let off = 12
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4)
    const size = buf.readUInt32LE(off + 4)
    const body = off + 8
    if (body + size > buf.length) throw new WavError(`chunk ${JSON.stringify(id)} at ${off} runs past the end`)
    if (id === 'fmt ') {
      if (size < 16) throw new WavError(`fmt chunk of ${size} bytes (at least 16)`)
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      }
      if (fmt.channels < 1 || fmt.sampleRate < 1 || fmt.bitsPerSample < 1) throw new WavError('fmt chunk has a zero field')
      if (fmt.blockAlign !== (fmt.channels * fmt.bitsPerSample) / 8) throw new WavError(`blockAlign ${fmt.blockAlign} ≠ channels × bits / 8`)
      if (fmt.byteRate !== fmt.sampleRate * fmt.blockAlign) throw new WavError(`byteRate ${fmt.byteRate} ≠ sampleRate × blockAlign`)
    } else if (id === 'data') {
      if (!fmt) throw new WavError('data chunk before fmt chunk')
      if (size % fmt.blockAlign !== 0) throw new WavError(`data size ${size} is not whole samples`)
      return { ...fmt, dataOffset: body, dataBytes: size, durationSeconds: size / fmt.byteRate }
    }
    off = body + size + (size & 1) // chunks are padded to even sizes
  }
  throw new WavError('no data chunk')
}
