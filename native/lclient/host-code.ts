/**
 * The program of the LClient host process (plain CommonJS, run with `node -e`), kept as a string so
 * it runs the same from source, from dist, and under any test loader.
 *
 * It loads the library with koffi and makes each call synchronously when the parent asks (one
 * message in, one reply out, in order), so every DLL call happens on this process's main thread:
 * like the VB/Delphi programs the DLL was written for, and unlike koffi's `.async`, which spreads
 * calls over libuv's pool threads (a DLL keeping per-thread state, e.g. for LClientGetError, would
 * see a different thread each time). The receive buffer is ours: `bufferSize` bytes plus a zeroed
 * guard zone; bytes are read only up to the first NUL inside the buffer, and a write into the
 * guard is reported as an overrun so the parent can throw this process away. It ignores SIGINT and
 * SIGTERM (sent to the whole process group by Ctrl-C or a service manager) so the parent can still
 * call LClientStop; it exits when the parent closes the channel, or is killed.
 */
export const HOST_CODE = String.raw`'use strict'
const GUARD = 64
let koffi = null
let lib = null
let conv = 'cdecl'
let size = 4096
let buf = null
const fns = Object.create(null)

function fn(name, ret, params) {
  let f = fns[name]
  if (!f) {
    try {
      f = conv === 'stdcall' ? lib.func('__stdcall', name, ret, params) : lib.func(name, ret, params)
    } catch (e) {
      throw new Error('the library exports no function ' + name + ' (' + ((e && e.message) || e) + ')')
    }
    fns[name] = f
  }
  return f
}

const START = ['void *', 'void *', 'void *', 'void *', 'int']

function handle(m) {
  switch (m.op) {
    case 'load': {
      koffi = require(m.koffi)
      conv = m.convention
      size = m.bufferSize
      buf = Buffer.alloc(size + GUARD)
      try {
        lib = koffi.load(m.library)
      } catch (e) {
        throw new Error('cannot load ' + m.library + ': ' + ((e && e.message) || e))
      }
      for (const d of m.declare) fn(d[0], d[1], d[2])
      return {}
    }
    case 'start':
      return { code: fn(m.fn, 'int', START)(m.host, m.port, m.oper, m.ch, m.flag) }
    case 'rcv': {
      buf.fill(0)
      const code = fn(m.fn, 'int', ['void *'])(buf)
      let overrun = false
      for (let i = size; i < buf.length; i++) if (buf[i] !== 0) { overrun = true; break }
      if (code <= 0) return { code: code, overrun: overrun }
      const nul = buf.indexOf(0)
      const terminated = nul >= 0 && nul < size
      return { code: code, bytes: Buffer.from(buf.subarray(0, terminated ? nul : size)), terminated: terminated, overrun: overrun }
    }
    case 'rcvStr': {
      const p = fn('LClientRcvStr', 'void *', [])()
      if (p === null || p === 0n) return { bytes: null, terminated: true }
      const out = []
      for (let i = 0; i < size; i++) {
        const b = koffi.decode(p, i, 'uint8_t')
        if (b === 0) return { bytes: Buffer.from(out), terminated: true }
        out.push(b)
      }
      return { bytes: Buffer.from(out), terminated: false }
    }
    case 'int':
      return { code: fn(m.fn, 'int', [])() }
  }
  throw new Error('unknown operation ' + m.op)
}

process.on('message', (m) => {
  let r
  try {
    r = Object.assign({ id: m.id, ok: true }, handle(m))
  } catch (e) {
    r = { id: m.id, ok: false, error: String((e && e.message) || e) }
  }
  process.send(r)
})
process.on('disconnect', () => process.exit(0))
// Ctrl-C and a service stop reach the whole process group: the parent ends us after LClientStop
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
`
