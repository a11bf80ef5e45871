import t from 'tap'
import { BOX_WAV, ULAW_WAV, WAV_HEADER_BYTES, encodeWav, parseWav, wavHeader, type WavFormat } from '../protocols/wav/index.js'

t.test('encodeWav → parseWav for every format we write', async (t) => {
  const formats: WavFormat[] = [BOX_WAV, ULAW_WAV, { sampleRate: 44100, channels: 2, bitsPerSample: 16 }, { sampleRate: 16000, channels: 1, bitsPerSample: 8, audioFormat: 6 }]
  for (const fmt of formats) {
    const block = (fmt.channels * fmt.bitsPerSample) / 8
    for (const samples of [0, 1, 7, 8000]) {
      const data = Buffer.alloc(samples * block, 0x5a)
      const wav = encodeWav(data, fmt)
      const p = parseWav(wav)
      t.match(p, {
        audioFormat: fmt.audioFormat ?? 1,
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        bitsPerSample: fmt.bitsPerSample,
        blockAlign: block,
        byteRate: fmt.sampleRate * block,
        dataOffset: WAV_HEADER_BYTES,
        dataBytes: data.length,
      })
      t.same(wav.subarray(p.dataOffset), data)
    }
  }
})

t.test('the μ-law header is the one the Guoxin simulator always wrote', async (t) => {
  const h = Buffer.alloc(44)
  h.write('RIFF', 0, 'ascii')
  h.writeUInt32LE(36 + 100, 4)
  h.write('WAVEfmt ', 8, 'ascii')
  h.writeUInt32LE(16, 16)
  h.writeUInt16LE(7, 20)
  h.writeUInt16LE(1, 22)
  h.writeUInt32LE(8000, 24)
  h.writeUInt32LE(8000, 28)
  h.writeUInt16LE(1, 32)
  h.writeUInt16LE(8, 34)
  h.write('data', 36, 'ascii')
  h.writeUInt32LE(100, 40)
  t.same(wavHeader(100, ULAW_WAV), h)
})
