import t from 'tap'
import { BOX_WAV, WAV_HEADER_BYTES, WavError, makeWav, makeWavOfSize, parseWav, wavHeader } from '../protocols/wav/index.js'

t.test('the generated WAV has a valid RIFF/WAVE PCM header that parses back', async (t) => {
  const wav = makeWav(1.5)
  t.equal(wav.length, WAV_HEADER_BYTES + 1.5 * 8000 * 2, '44-byte header + 12000 16-bit samples')
  t.equal(wav.toString('latin1', 0, 4), 'RIFF')
  t.equal(wav.readUInt32LE(4), wav.length - 8, 'RIFF size = file size - 8')
  t.equal(wav.toString('latin1', 8, 16), 'WAVEfmt ')
  t.equal(wav.readUInt32LE(16), 16, 'PCM fmt chunk is 16 bytes')
  t.equal(wav.readUInt16LE(20), 1, 'format tag 1 = PCM')
  t.equal(wav.toString('latin1', 36, 40), 'data')
  const p = parseWav(wav)
  t.match(p, { audioFormat: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, byteRate: 16000, blockAlign: 2, dataOffset: 44, dataBytes: 24000, durationSeconds: 1.5 })
  // not silence: the samples carry a signal
  let peak = 0
  for (let i = p.dataOffset; i < wav.length; i += 2) peak = Math.max(peak, Math.abs(wav.readInt16LE(i)))
  t.ok(peak > 5000 && peak <= 32767, `audible peak (${peak})`)
})

t.test('noise is deterministic by seed; sizes are exact', async (t) => {
  t.same(makeWav(0.1, { kind: 'noise', seed: 7 }), makeWav(0.1, { kind: 'noise', seed: 7 }))
  t.not(makeWav(0.1, { kind: 'noise', seed: 7 }).equals(makeWav(0.1, { kind: 'noise', seed: 8 })), true)
  const five = makeWavOfSize(5_000_000)
  t.equal(five.length, 5_000_000, 'an even size is met exactly')
  t.equal(parseWav(five).dataBytes, 5_000_000 - 44)
  t.equal(makeWavOfSize(1001).length, 1000, 'an odd size rounds down to whole samples')
  t.equal(parseWav(makeWav(0)).dataBytes, 0, 'an empty recording is still a valid file')
  t.same(wavHeader(10, BOX_WAV).subarray(0, 4).toString(), 'RIFF')
  t.throws(() => wavHeader(-1), RangeError)
  t.throws(() => makeWav(-1), RangeError)
})

t.test('parseWav rejects what is not a well-formed WAV', async (t) => {
  const good = makeWav(0.01)
  const bad = (mutate: (b: Buffer) => Buffer, re: RegExp, what: string) => t.throws(() => parseWav(mutate(Buffer.from(good))), { name: 'WavError', message: re }, what)
  bad((b) => b.subarray(0, 8), /too short/, 'truncated header')
  bad((b) => (b.write('RIFX', 0, 'latin1'), b), /RIFF signature/, 'wrong signature')
  bad((b) => (b.write('AVI ', 8, 'latin1'), b), /not WAVE/, 'wrong form')
  bad((b) => b.subarray(0, b.length - 2), /RIFF size/, 'cut off data')
  bad((b) => (b.writeUInt16LE(3, 32), b), /blockAlign/, 'inconsistent blockAlign')
  bad((b) => (b.writeUInt32LE(1, 28), b), /byteRate/, 'inconsistent byteRate')
  bad((b) => (b.writeUInt32LE(b.length, 40), b), /runs past the end/, 'data chunk larger than the file')
  t.ok(new WavError('x') instanceof Error)
  // an extra chunk before data (LIST) is skipped
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0', 'latin1')])
  const withList = Buffer.concat([good.subarray(0, 36), list, good.subarray(36)])
  withList.writeUInt32LE(withList.length - 8, 4)
  t.equal(parseWav(withList).dataOffset, 36 + list.length + 8, 'odd-sized chunk padded to even')
})

t.test('parseWav on random and mutated input throws only WavError', async (t) => {
  let s = 12345
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32
  const good = makeWav(0.01)
  let other = 0
  for (let i = 0; i < 5000; i++) {
    let b: Buffer
    if (i % 2) b = Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256)))
    else {
      b = Buffer.from(good)
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * 48)] = Math.floor(rnd() * 256)
      if (rnd() < 0.3) b = b.subarray(0, Math.floor(rnd() * b.length))
    }
    try {
      parseWav(b)
    } catch (err) {
      if (!(err instanceof WavError)) other++
    }
  }
  t.equal(other, 0)
})
