/**
 * Typed records of the vack query answers (seed 000): getChStatus, getOperStatus, getQueueStatus,
 * getCustCall, playSelected, getLoc. The server writes some codes as numbers (`inUseC`, `statusC`)
 * and the same codes as Chinese words in getChStatus (`<inUse>手工呼出</inUse>`, `<status>摘机</status>`);
 * both are read into one code, and the text as sent is kept next to it.
 *
 * Where the vendor is silent, we decided:
 * - A record whose `ch` is not an integer is skipped and counted (`skipped`), never guessed.
 * - A word we do not know gives code null (the text is kept); the daemon shows such a line `unknown`.
 * - `peerCh` -1 → null. Numbers that are `_NA_` → null.
 */
import { encodeVackXml, findAll, na, naText, parseVackText, xmlEscape, type VackDoc } from './xml.js'

/** `inUse` / `inUseC` (seed 000 取坐席状态): what the channel is used for. */
export const IN_USE_WORDS: Record<string, number> = {
  未使用: 0,
  外部呼入: 1,
  手工呼出: 2,
  网站回呼: 3,
  自动呼出: 4,
  转接外线: 5,
  内线被呼: 6,
  IP接入: 7,
  批量外呼: 8,
  三方通话: 9,
}

/** inUse code → its word (10 is three-way too) */
export const IN_USE_NAMES: Record<number, string> = Object.fromEntries([...Object.entries(IN_USE_WORDS).map(([w, c]): [number, string] => [c, w]), [10, '三方通话']])

/**
 * `status` / `statusC` (LV/LO series): 0 idle … 12 outbound locked. LCall agent channels only use
 * 1 摘机 (off-hook) and 0 挂机 (on-hook); LCall external lines use the words 空闲/摘机/振铃/通话/挂起.
 */
export const STATUS_WORDS: Record<string, number> = {
  空闲: 0,
  挂机: 0,
  摘机: 1,
  振铃: 2,
  通话: 3,
  等待拨号音: 4,
  拨号: 5,
  等待拨号结果: 6,
  挂起: 7,
  断线: 8,
  等待被叫摘机: 9,
  内部状态: 10,
  通道不可用: 11,
  呼出锁定: 12,
}

export type ChannelKind = 'external' | 'ip' | 'agent' | 'recording'

/** getChStatus `type` request values */
export const CH_TYPE_CODES: Record<ChannelKind, number> = { external: 0, ip: 1, agent: 2, recording: 3 }

function kindOf(word: string | null): ChannelKind | null {
  if (word === null) return null
  if (word.includes('外线')) return 'external'
  if (word.includes('内线') || word.includes('坐席')) return 'agent'
  if (word.includes('录音')) return 'recording'
  if (/ip/i.test(word)) return 'ip'
  return null
}

function int(v: string | null): number | null {
  if (v === null || !/^[-+]?\d{1,15}$/.test(v)) return null
  return Number(v)
}

/** A code sent as digits or as one of `words`. */
function coded(v: string | null, words: Record<string, number>): number | null {
  if (v === null) return null
  const n = int(v)
  if (n !== null) return n
  return Object.hasOwn(words, v) ? words[v]! : null
}

function str(o: Record<string, unknown>, k: string): string | null {
  return na(o[k])
}

function bool(v: string | null, yes: readonly string[], no: readonly string[]): boolean | null {
  if (v === null) return null
  const l = v.toLowerCase()
  if (yes.includes(l)) return true
  if (no.includes(l)) return false
  return null
}

export interface ChStatus {
  ch: number
  /** `type` as sent: 内线, 外线, … */
  type: string | null
  kind: ChannelKind | null
  /** inUse code (0 unused, 1 inbound, 2 manual outbound, …); negative: channel not enabled */
  inUse: number | null
  inUseText: string | null
  /** status code (LV/LO numbering) */
  status: number | null
  statusText: string | null
  /** `step`: the running step, free text (等待坐席挂机, 空闲, …) */
  step: string | null
  peerCh: number | null
  phone: string | null
  oper: string | null
  /** `file` as sent: 录音中 while recording */
  file: string | null
  recording: boolean
  startTime: string | null
  endTime: string | null
  loginTime: string | null
  idleTime: string | null
  /** `listen` = 被监听 */
  listened: boolean
  /** `setBusy` = 示忙 */
  busy: boolean
}

export interface ChStatusAnswer {
  /** root attributes chCnt, agentChCnt, ichCnt, rchCnt (null when absent or not a number) */
  counts: { external: number | null; agent: number | null; ip: number | null; recording: number | null }
  channels: ChStatus[]
  /** records that had no usable `ch` */
  skipped: number
  generated: string | null
}

function attrInt(doc: VackDoc, ...names: string[]): number | null {
  for (const [k, v] of Object.entries(doc.attrs)) {
    if (names.some((n) => n.toLowerCase() === k.toLowerCase())) return int(na(v))
  }
  return null
}

/** One `<chStatus>` element as fast-xml-parser gives it → a record, or null when it has no usable `ch`. */
export function chStatusRecord(x: unknown): ChStatus | null {
  if (x === null || typeof x !== 'object') return null
  const o = x as Record<string, unknown>
  const ch = int(str(o, 'ch'))
  if (ch === null || ch < 0) return null
  const type = str(o, 'type')
  const inUseText = str(o, 'inUse')
  const statusText = str(o, 'status')
  const peer = int(str(o, 'peerCh'))
  const file = str(o, 'file')
  return {
    ch,
    type,
    kind: kindOf(type),
    inUse: coded(inUseText, IN_USE_WORDS),
    inUseText,
    status: coded(statusText, STATUS_WORDS),
    statusText,
    step: str(o, 'step'),
    peerCh: peer === null || peer < 0 ? null : peer,
    phone: str(o, 'phone'),
    oper: str(o, 'oper'),
    file,
    recording: file !== null && file.includes('录音'),
    startTime: str(o, 'startTime'),
    endTime: str(o, 'endTime'),
    loginTime: str(o, 'loginTime'),
    idleTime: str(o, 'idleTime'),
    listened: str(o, 'listen') !== null,
    busy: str(o, 'setBusy') !== null,
  }
}

export function parseChStatus(doc: VackDoc): ChStatusAnswer {
  const channels: ChStatus[] = []
  let skipped = 0
  for (const x of findAll(doc.root, 'chStatus')) {
    const c = chStatusRecord(x)
    if (c === null) skipped++
    else channels.push(c)
  }
  return {
    counts: {
      external: attrInt(doc, 'chCnt'),
      agent: attrInt(doc, 'agentChCnt'),
      ip: attrInt(doc, 'ichCnt'),
      recording: attrInt(doc, 'rchCnt'),
    },
    channels,
    skipped,
    generated: doc.generated,
  }
}

export interface OperStatus {
  oper: string
  /** the agent's channel; null when ch < 0 (not valid) */
  ch: number | null
  /** inUseC; negative: the agent's channel is not enabled */
  inUse: number | null
  /** statusC (LCall: 1 off-hook, 0 on-hook; LV/LO: see STATUS_WORDS) */
  status: number | null
  phone: string | null
  /** ifLoginC 1/0 */
  loggedIn: boolean | null
  /** setBusyC true/false (LCall only) */
  busy: boolean | null
}

export function parseOperStatus(doc: VackDoc): { agents: OperStatus[]; skipped: number } {
  const agents: OperStatus[] = []
  let skipped = 0
  for (const x of findAll(doc.root, 'operStatus')) {
    const o = (x !== null && typeof x === 'object' ? x : {}) as Record<string, unknown>
    const oper = str(o, 'oper')
    if (oper === null) {
      skipped++
      continue
    }
    const ch = int(str(o, 'ch'))
    agents.push({
      oper,
      ch: ch === null || ch < 0 ? null : ch,
      inUse: coded(str(o, 'inUseC'), IN_USE_WORDS),
      status: coded(str(o, 'statusC'), STATUS_WORDS),
      phone: str(o, 'phone'),
      loggedIn: bool(str(o, 'ifLoginC'), ['1', 'true'], ['0', 'false']),
      busy: bool(str(o, 'setBusyC'), ['true', '1', '示忙'], ['false', '0', '示闲']),
    })
  }
  return { agents, skipped }
}

export interface QueueEntry {
  /** inUseC */
  inUse: number | null
  /** `type`: the use as a word (外部呼入, …) */
  type: string | null
  phone: string | null
  ch: number | null
  /** `wt`: what it waits for (e.g. oper) */
  waitType: string | null
  /** `wv`: the value waited for (e.g. agent 801) */
  waitValue: string | null
  startTime: string | null
  /** `totalTime`: seconds waited */
  totalSeconds: number | null
}

export interface QueueStatusAnswer {
  /** callautoSize: auto-outbound queue; chWaitSize: inbound wait queue; calloutbSize: batch outbound queue */
  sizes: { callauto: number | null; chWait: number | null; calloutb: number | null }
  entries: QueueEntry[]
  generated: string | null
}

export function parseQueueStatus(doc: VackDoc): QueueStatusAnswer {
  const entries: QueueEntry[] = []
  for (const x of findAll(doc.root, 'queueStatus')) {
    const o = (x !== null && typeof x === 'object' ? x : {}) as Record<string, unknown>
    const type = str(o, 'type')
    const ch = int(str(o, 'ch'))
    entries.push({
      inUse: coded(str(o, 'inUseC'), IN_USE_WORDS) ?? coded(type, IN_USE_WORDS),
      type,
      phone: str(o, 'phone'),
      ch: ch === null || ch < 0 ? null : ch,
      waitType: str(o, 'wt'),
      waitValue: str(o, 'wv'),
      startTime: str(o, 'startTime'),
      totalSeconds: int(str(o, 'totalTime')),
    })
  }
  return {
    sizes: { callauto: attrInt(doc, 'callautoSize'), chWait: attrInt(doc, 'chWaitSize'), calloutb: attrInt(doc, 'calloutbSize') },
    entries,
    generated: doc.generated,
  }
}

export interface CustCall {
  id: string | null
  sn: string | null
  ch: number | null
  /** `dir`: 1 inbound, 2 manual outbound, 4 auto outbound, 8 batch outbound, … */
  direction: number | null
  /** `vt`: voice type (see seed: depends on product and version) */
  voiceType: number | null
  phone: string | null
  date: string | null
  oper: string | null
  startTime: string | null
  endTime: string | null
  file: string | null
  reason: string | null
  called: string | null
  result: string | null
  satisfaction: string | null
  memo: string | null
}

export interface CustCallAnswer {
  total: number | null
  page: number | null
  calls: CustCall[]
}

export function parseCustCall(doc: VackDoc): CustCallAnswer {
  const calls: CustCall[] = []
  for (const x of findAll(doc.root, 'CustCall')) {
    const o = (x !== null && typeof x === 'object' ? x : {}) as Record<string, unknown>
    calls.push({
      id: str(o, 'id'),
      sn: str(o, 'sn'),
      ch: int(str(o, 'ch')),
      direction: int(str(o, 'dir')),
      voiceType: int(str(o, 'vt')),
      phone: str(o, 'ph'),
      date: str(o, 'dt'),
      oper: str(o, 'oper'),
      startTime: str(o, 'tms'),
      endTime: str(o, 'tme'),
      file: str(o, 'file'),
      reason: str(o, 'idrea'),
      called: str(o, 'phl'),
      result: str(o, 'idres'),
      satisfaction: str(o, 'idsat'),
      memo: str(o, 'me'),
    })
  }
  return { total: attrInt(doc, 'totalCnt'), page: attrInt(doc, 'curPn'), calls }
}

/** playSelected: the .asx (play) or download URL; null when the server gave none. */
export function parsePlaySelected(doc: VackDoc): { url: string | null } {
  const p = findAll(doc.root, 'playSelected')[0]
  const o = (p !== null && typeof p === 'object' ? p : {}) as Record<string, unknown>
  return { url: str(o, 'asxfile') }
}

export interface Location {
  phone: string | null
  /** `location`: area code / post code as sent */
  location: string | null
  city: string | null
  province: string | null
}

export function parseLoc(doc: VackDoc): Location | null {
  const l = findAll(doc.root, 'loc')[0]
  if (l === null || typeof l !== 'object') return null
  const o = l as Record<string, unknown>
  return { phone: str(o, 'phone'), location: str(o, 'location'), city: str(o, 'city'), province: str(o, 'province') }
}

const OPEN = '<chStatus>'
const CLOSE = '</chStatus>'

/**
 * getChStatus answers, parsed incrementally: a poll sees the same 1,000 records again and again
 * with a few changed. The text is cut at `<chStatus>` … `</chStatus>`; a record whose text is the
 * same as in the previous answer keeps its parsed object, a new text goes through fast-xml-parser
 * alone. The envelope (attributes, `error`) is parsed on every answer. Anything that does not cut
 * cleanly (attributes on `<chStatus`, a record not closed, nested records) is parsed whole, as
 * {@link parseChStatus} does. For a well-formed answer the result is the same either way (tested);
 * in a broken one a broken record only loses itself, not the records after it.
 */
export class ChStatusReader {
  private cache = new Map<string, ChStatus | null>()
  /** records parsed in the last answer (0 when nothing changed) */
  parsedRecords = 0
  /** answers that had to be parsed whole */
  wholeParses = 0

  /** @throws VackXmlError; a doc with `error` set is returned in `doc` for the caller to raise */
  read(text: string, encoding: string): { doc: VackDoc; answer: ChStatusAnswer } {
    const first = text.indexOf(OPEN)
    const whole = () => {
      this.wholeParses++
      this.cache.clear()
      const doc = parseVackText(text, encoding)
      const answer = parseChStatus(doc)
      this.parsedRecords = answer.channels.length + answer.skipped
      return { doc, answer }
    }
    if (first < 0 || text.includes('<chStatus ') || text.includes('<chStatus\t') || text.includes('<chStatus\n')) return whole()
    const doc = parseVackText(text.slice(0, first) + '</result>', encoding)
    // cut the records; look each up in the last answer's
    const recs: string[] = []
    const found: (ChStatus | null | undefined)[] = []
    const fresh: number[] = []
    let i = first
    while (i >= 0) {
      const j = text.indexOf(CLOSE, i)
      if (j < 0) return whole()
      const rec = text.slice(i, j + CLOSE.length)
      if (rec.indexOf(OPEN, OPEN.length) >= 0) return whole()
      const c = this.cache.get(rec)
      if (c === undefined) fresh.push(recs.length)
      recs.push(rec)
      found.push(c)
      i = text.indexOf(OPEN, j)
    }
    // the new texts go through the parser together, one element per record
    if (fresh.length > 0) {
      let batch: unknown[] | null = null
      try {
        batch = findAll(parseVackText(`<result>${fresh.map((k) => recs[k]).join('')}</result>`, encoding).root, 'chStatus')
      } catch {
        batch = null
      }
      if (batch !== null && batch.length === fresh.length) fresh.forEach((k, n) => (found[k] = chStatusRecord(batch[n])))
      else {
        // a broken record: alone, it only loses itself
        for (const k of fresh) {
          try {
            found[k] = parseChStatus(parseVackText(`<result>${recs[k]}</result>`, encoding)).channels[0] ?? null
          } catch {
            found[k] = null
          }
        }
      }
    }
    const next = new Map<string, ChStatus | null>()
    const channels: ChStatus[] = []
    let skipped = 0
    recs.forEach((rec, k) => {
      const c = found[k] ?? null
      next.set(rec, c)
      if (c === null) skipped++
      else channels.push(c)
    })
    const parsed = fresh.length
    this.cache = next
    this.parsedRecords = parsed
    const envelope = parseChStatus(doc)
    return { doc, answer: { counts: envelope.counts, channels, skipped, generated: doc.generated } }
  }
}

// ---- encoders: the same answers as the vendor's server writes them ----

/** status code → its word on an external line (an agent channel says 挂机 for 0) */
const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(STATUS_WORDS)
    .filter(([w]) => w !== '挂机')
    .map(([w, c]) => [c, w]),
)
const KIND_NAMES: Record<ChannelKind, string> = { external: '外线', agent: '内线', ip: 'IP', recording: '录音' }

/** What encodeChStatus writes of a channel: the decoded record's fields without the texts (they follow from the codes). */
export interface ChStatusInput {
  ch: number
  kind: ChannelKind
  inUse: number
  status: number
  step: string | null
  /** null or negative: no peer (written -1) */
  peerCh: number | null
  phone: string | null
  oper: string | null
  recording: boolean
  startTime: string | null
  endTime: string | null
  loginTime: string | null
  idleTime: string | null
  listened: boolean
  busy: boolean
}

/** A getChStatus answer (seed 000 layout): codes as words, `_NA_` for no value, counts by kind in the root. */
export function encodeChStatus(chs: readonly ChStatusInput[], generated: number | string): Buffer {
  const count = (k: ChannelKind) => chs.filter((c) => c.kind === k).length
  const parts: string[] = []
  for (const c of chs) {
    parts.push(
      `<chStatus><ch>${c.ch}</ch><type>${KIND_NAMES[c.kind]}</type>` +
        `<inUse>${c.inUse === 0 ? '0' : (IN_USE_NAMES[c.inUse] ?? String(c.inUse))}</inUse>` +
        `<status>${c.kind === 'agent' && c.status === 0 ? '挂机' : (STATUS_NAMES[c.status] ?? String(c.status))}</status>` +
        `<step>${naText(c.step)}</step><peerCh>${c.peerCh ?? -1}</peerCh><phone>${naText(c.phone)}</phone><oper>${naText(c.oper)}</oper>` +
        `<file>${c.recording ? '录音中' : '_NA_'}</file><startTime>${naText(c.startTime)}</startTime><endTime>${naText(c.endTime)}</endTime>` +
        `<loginTime>${naText(c.loginTime)}</loginTime><idleTime>${naText(c.idleTime)}</idleTime><listen>${c.listened ? '被监听' : '_NA_'}</listen>` +
        `<setBusy>${c.busy ? '示忙' : '_NA_'}</setBusy></chStatus>\n`,
    )
  }
  return encodeVackXml({ generated, vo_id: 'getChStatus', chCnt: count('external'), agentChCnt: count('agent'), ichCnt: count('ip'), rchCnt: count('recording') }, '\n' + parts.join(''))
}

/** A getOperStatus answer (the seed's `<result><result>` nesting). */
export function encodeOperStatus(agents: readonly OperStatus[], generated: number | string): Buffer {
  const rows = agents.map(
    (a) =>
      `<operStatus>\n<ch>${a.ch ?? -1}</ch><inUseC>${naText(a.inUse)}</inUseC><statusC>${naText(a.status)}</statusC><phone>${naText(a.phone)}</phone>` +
      `<ifLoginC>${a.loggedIn === null ? '_NA_' : a.loggedIn ? 1 : 0}</ifLoginC><oper>${xmlEscape(a.oper)}</oper><setBusyC>${naText(a.busy)}</setBusyC>\n</operStatus>\n`,
  )
  return encodeVackXml({ generated, vo_id: 'getOperStatus' }, `\n<result>${rows.join('')}</result>\n`)
}

/** A getQueueStatus answer; `sizes` go in the root. */
export function encodeQueueStatus(q: Omit<QueueStatusAnswer, 'generated'>, generated: number | string): Buffer {
  const rows = q.entries.map(
    (e) =>
      `<queueStatus>\n<inUseC>${naText(e.inUse)}</inUseC>\n<type>${naText(e.type)}</type>\n<phone>${naText(e.phone)}</phone>\n<ch>${e.ch ?? -1}</ch>\n` +
      `<wt>${naText(e.waitType)}</wt>\n<wv>${naText(e.waitValue)}</wv>\n<startTime>${naText(e.startTime)}</startTime>\n<totalTime>${naText(e.totalSeconds)}</totalTime>\n</queueStatus>\n`,
  )
  return encodeVackXml({ generated, vo_id: 'getQueueStatus', callautoSize: q.sizes.callauto ?? 0, chWaitSize: q.sizes.chWait ?? 0, calloutbSize: q.sizes.calloutb ?? 0 }, '\n' + rows.join(''))
}

/** A getCustCall page; the optional fields (idrea, phl, idres, idsat) only when set, as LCall leaves them out. */
export function encodeCustCall(a: CustCallAnswer, generated: number | string): Buffer {
  const opt = (tag: string, v: string | null) => (v === null ? '' : `<${tag}>${naText(v)}</${tag}>`)
  const rows = a.calls.map(
    (c) =>
      `<CustCall><id>${naText(c.id)}</id><sn>${naText(c.sn)}</sn><ch>${naText(c.ch)}</ch><dir>${naText(c.direction)}</dir><vt>${naText(c.voiceType)}</vt>` +
      `<ph>${naText(c.phone)}</ph><dt>${naText(c.date)}</dt><oper>${naText(c.oper)}</oper><tms>${naText(c.startTime)}</tms><tme>${naText(c.endTime)}</tme><file>${naText(c.file)}</file>` +
      `${opt('idrea', c.reason)}${opt('phl', c.called)}${opt('idres', c.result)}${opt('idsat', c.satisfaction)}<me>${naText(c.memo)}</me></CustCall>\n`,
  )
  const attrs: Record<string, string | number> = { generated, vo_id: 'getCustCall' }
  if (a.total !== null) attrs.totalCnt = a.total
  if (a.page !== null) attrs.curPn = a.page
  return encodeVackXml(attrs, `\n<result>\n${rows.join('')}</result>\n`)
}

/** playSelected: the URL, or no URL and the reason in `error` (the server's way of failing here). */
export function encodePlaySelected(r: { url: string | null; error?: string }, generated: number | string): Buffer {
  return encodeVackXml({ generated, vo_id: 'playSelected', error: r.error ?? '' }, `<playSelected><asxfile>${r.url === null ? '' : xmlEscape(r.url)}</asxfile></playSelected>`)
}

export function encodeLoc(l: Location, generated: number | string): Buffer {
  return encodeVackXml(
    { generated, vo_id: 'getLoc' },
    `\n<loc>\n<phone>${naText(l.phone)}</phone>\n<location>${naText(l.location)}</location>\n<city>${naText(l.city)}</city>\n<province>${naText(l.province)}</province>\n</loc>\n`,
  )
}
