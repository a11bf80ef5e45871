/**
 * The registration a client sends after connecting (seed: "oper=801,ch=-1;"). Its framing is not
 * documented: clients send it length-prefixed like a pop, or as the bare text. The server reads an
 * agent id out of it to route pops that name an agent.
 */
import iconv from 'iconv-lite'
import { checkLength, gbk, lengthFramed, TRY_REP } from './codec.js'

export interface RegistrationOptions {
  /** e.g. `oper={oper},ch={ch};` */
  template: string
  /** 'length': 1 length byte + text; 'raw': the text alone */
  framing: 'length' | 'raw'
  oper: string
  ch: string
}

/**
 * The registration the client sends after connecting: `{oper}` and `{ch}` in the template replaced,
 * GBK-encoded, with a length byte when framing is 'length'. Throws RangeError unless the text is
 * 1..255 bytes, for 'raw' as well: an empty or oversized registration is a configuration mistake.
 */
export function encodeRegistration(opts: RegistrationOptions): Buffer {
  // one pass, with a function: values are inserted literally (a `$&` or `{ch}` inside oper stays as is)
  const text = opts.template.replace(/\{(oper|ch)\}/g, (_m, key: string) => (key === 'oper' ? opts.oper : opts.ch))
  const body = gbk(text)
  checkLength('registration text', body.length)
  return opts.framing === 'length' ? lengthFramed(body) : body
}

/** Registration text → agent id. Accepts `oper=801`, `op=801`, or a bare leading `801` (`801,-1`). */
export function registrationAgent(text: string): string | null {
  const kv = /(?:^|[,;&\s])(?:oper|op)=([^,;&\s]+)/.exec(text)
  if (kv) return kv[1]!
  const bare = /^\s*([0-9A-Za-z_]{1,32})(?:[,;\s]|$)/.exec(text)
  return bare ? bare[1]! : null
}

/** A length-framed payload that can be a registration: printable (GBK) text, no control bytes. For LqConnectDecoder's `plausible`. */
export function plausibleRegistration(payload: Buffer): boolean {
  for (const b of payload) if (b < 0x20 || b === 0x7f) return false
  return true
}

export interface Registration {
  text: string
  agent: string | null
}

/** A registration frame's payload (GBK) → its text and agent. */
export function decodeRegistration(payload: Buffer): Registration {
  const text = iconv.decode(payload, 'gbk')
  return { text, agent: registrationAgent(text) }
}

/**
 * Bytes a client sent that form no frame, taken as a raw registration: GBK text without the
 * TRY_REPs around it, trimmed, at most 255 characters; null when nothing is left.
 */
export function decodeRawRegistration(bytes: Buffer): Registration | null {
  const text = iconv.decode(bytes, 'gbk').split(TRY_REP.toString('ascii')).join('').trim().slice(0, 255)
  return text ? { text, agent: registrationAgent(text) } : null
}
