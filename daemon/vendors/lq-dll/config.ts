import { checkTimeZone, idSchema, type Schema } from '../../core/schema.js'

/** 小灵呼 LClient.dll ("模式三", seed 002 ch. 5), hosted through koffi in a child process. */
export interface LqDllConfig {
  id: string
  type: 'lq-dll'
  /** path of LClient.dll (or a library with the same exports) */
  library: string
  /** LClientStart's arguments, passed as GBK strings */
  host: string
  port: string
  /** agent id (工号) */
  oper: string
  /** agent's channel, -1 = the server looks it up by oper */
  ch: string
  /** use LClientStartDemo / LClientRcvDemo: demo pops, no server */
  demo: boolean
  /** LClientStart flag 1: the DLL prints each step; the lines go to our log at info */
  debug: boolean
  /** ms between LClientRcv calls while it answers -100 (no pop); pops are fetched back to back */
  pollMs: number
  /** absent: stdcall on 32-bit Windows, cdecl elsewhere */
  callingConvention?: 'stdcall' | 'cdecl'
  /** bytes of the receive buffer handed to LClientRcv */
  bufferSize: number
  /** a DLL call that takes longer is abandoned: its host process is killed and started again */
  callTimeoutSeconds: number
  /** how long stop waits for a call in flight before it kills the host */
  stopTimeoutSeconds: number
  /** cap of the restart backoff (OCX reqReconnectInterval) */
  reconnectSeconds: number
  /** consecutive failed starts before status says `failed` */
  failAfter: number
  /** read the DLL's PE header and refuse a DLL this Node cannot load (default true) */
  checkArch: boolean
  /** IANA zone of this server's `tm=` times (default: top-level timeZone, then the host's) */
  timeZone?: string
  /** after this many seconds without news a ringing/dialing channel becomes `unknown` (0 = never) */
  popStateSeconds: number
}

/** a `char *` argument: no NUL inside (it would cut the string short) */
const cString = (what: string, max: number): Schema => ({ type: 'string', minLength: 1, maxLength: max, pattern: /^[^\0]+$/, patternText: `${what} without NUL characters` })

export const lqDllSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-dll'] },
    library: cString('a library path', 4096),
    // the DLL takes any string; long enough for a path, which the test double reads its script from
    host: { ...cString('a host name or IP address', 1024), default: '127.0.0.1' } as Schema,
    port: { type: 'stringish', default: '7628', pattern: /^(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/, patternText: 'a TCP port (1–65535)' },
    oper: { type: 'stringish', pattern: /^[^\s{}\0]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces)' },
    ch: { type: 'stringish', default: '-1', pattern: /^-1$|^\d{1,6}$/, patternText: 'a channel number or -1' },
    demo: { type: 'boolean', default: false },
    debug: { type: 'boolean', default: false },
    pollMs: { type: 'integer', default: 100, min: 1, max: 60_000 },
    callingConvention: { type: 'string', optional: true, enum: ['stdcall', 'cdecl'] },
    bufferSize: { type: 'integer', default: 4096, min: 256, max: 1 << 20 },
    callTimeoutSeconds: { type: 'number', default: 30, min: 0.05, max: 3600 },
    stopTimeoutSeconds: { type: 'number', default: 2, min: 0.01, max: 600 },
    reconnectSeconds: { type: 'number', default: 20, min: 0.01, max: 3600 },
    failAfter: { type: 'integer', default: 3, min: 1, max: 1000 },
    checkArch: { type: 'boolean', default: true },
    timeZone: { type: 'string', optional: true, check: checkTimeZone },
    popStateSeconds: { type: 'number', default: 120, min: 0, max: 86400 },
  },
}
