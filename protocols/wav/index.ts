export { BOX_WAV, ULAW_WAV, WAV_HEADER_BYTES, WavError, encodeWav, makeWav, makeWavOfSize, parseWav, wavHeader } from './wav.js'
export type { ParsedWav, WavFormat, WavOptions } from './wav.js'
