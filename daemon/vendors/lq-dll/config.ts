import { checkTimeZone, idSchema, type Infer, type ObjectSchema, type StringSchema } from '../../core/schema.js'

/** a `char *` argument: no NUL inside (it would cut the string short) */
const cString = <W extends string>(what: W, max: number, doc: string) =>
  ({ type: 'string', minLength: 1, maxLength: max, pattern: /^[^\0]+$/, patternText: `${what} without NUL characters`, doc }) as const satisfies StringSchema

/** 小灵呼 LClient.dll ("模式三", seed 002 ch. 5), hosted through koffi in a child process. */
export const lqDllSchema = {
  type: 'object',
  doc: '小灵呼 LClient.dll ("模式三"), hosted through koffi in a child process: pops for one agent',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-dll'], doc: 'lq-dll' },
    library: cString('a library path', 4096, 'path of LClient.dll (or a library with the same exports)'),
    // the DLL takes any string; long enough for a path, which the test double reads its script from
    host: { ...cString('a host name or IP address', 1024, "LClientStart's host argument (the LQ server), passed as a GBK string"), default: '127.0.0.1' },
    port: {
      type: 'stringish',
      default: '7628',
      pattern: /^(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/,
      patternText: 'a TCP port (1–65535)',
      doc: "LClientStart's port argument",
    },
    oper: { type: 'stringish', pattern: /^[^\s{}\0]{1,32}$/, patternText: 'an agent id (1–32 characters, no spaces)', doc: 'agent id (工号)' },
    ch: { type: 'stringish', default: '-1', pattern: /^-1$|^\d{1,6}$/, patternText: 'a channel number or -1', doc: "agent's channel, -1 = the server looks it up by oper" },
    demo: { type: 'boolean', default: false, doc: 'use LClientStartDemo / LClientRcvDemo: demo pops, no server' },
    debug: { type: 'boolean', default: false, doc: 'LClientStart flag 1: the DLL prints each step; the lines go to our log at info' },
    pollMs: { type: 'integer', default: 100, min: 1, max: 60_000, doc: 'ms between LClientRcv calls while it answers -100 (no pop); pops are fetched back to back' },
    callingConvention: { type: 'string', optional: true, enum: ['stdcall', 'cdecl'], doc: 'absent: stdcall on 32-bit Windows, cdecl elsewhere' },
    bufferSize: { type: 'integer', default: 4096, min: 256, max: 1 << 20, doc: 'bytes of the receive buffer handed to LClientRcv' },
    callTimeoutSeconds: { type: 'number', default: 30, min: 0.05, max: 3600, doc: 'a DLL call that takes longer is abandoned: its host process is killed and started again' },
    stopTimeoutSeconds: { type: 'number', default: 2, min: 0.01, max: 600, doc: 'how long stop waits for a call in flight before it kills the host' },
    restart: {
      type: 'string',
      default: 'process',
      enum: ['process', 'in-process'],
      doc: 'after a failed LClientStart or an LClientRcv error code: `process` starts a new host process (fresh DLL state) before the next LClientStart, as seed 002 advises; `in-process` calls LClientStart again in the same one',
    },
    reconnectSeconds: { type: 'number', default: 20, min: 0.01, max: 3600, doc: 'cap of the restart backoff (OCX reqReconnectInterval)' },
    failAfter: { type: 'integer', default: 3, min: 1, max: 1000, doc: 'consecutive failed starts before status says `failed`' },
    checkArch: { type: 'boolean', default: true, doc: "read the DLL's PE header and refuse a DLL this Node cannot load" },
    timeZone: { type: 'string', optional: true, check: checkTimeZone, doc: "IANA zone of this server's `tm=` times (default: top-level timeZone, then the host's)" },
    popStateSeconds: { type: 'number', default: 120, min: 0, max: 86400, doc: 'after this many seconds without news a ringing/dialing channel becomes `unknown` (0 = never)' },
  },
} as const satisfies ObjectSchema

export type LqDllConfig = Infer<typeof lqDllSchema>
