import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RoutePlugin } from '../../daemon/core/http.js'
import { MAX_JSON_DEPTH, tooDeep } from '../../daemon/core/json-depth.js'
import { stringParams } from '../../daemon/core/route-schema.js'
import type { RecordingFilters, RecordingRecord } from '../../daemon/core/recordings/store.js'
import { hasAudio } from '../../daemon/core/recordings/catalog.js'
import { sendAudio } from '../../daemon/core/recordings/routes.js'
import { parseVendorTime, vendorTime } from '../../protocols/800hu/time.js'
import multipart from '@fastify/multipart'
import { PARAMVALUE_FIELD, receiveRecordFile, type FileAnswer } from './upload.js'
import { RECORD_FILE_PATH, recordFileSchema } from './endpoint.js'
import type { ChannelEntry, ChannelState } from '../../daemon/core/table.js'
import { PHONE } from './box.js'
import { addFields, newFields, type Fields } from './fields.js'
import type { BoxHub } from './hub.js'
import { formatMac, normaliseMac, SOURCE_PREFIX } from '../../protocols/800hu/mac.js'

/**
 * The vendor's JSON API (seed 003 §1, §2.2.1, §2.2.2, §2.4.1, §2.5.1) at `/voip/api/jsondata.html`
 * on the API listener, so an integration written for an 800hu server can point at telbridge: same
 * path, `method=`, `sa_user` + `sa_password` (32-digit MD5 of the password), answers with `code`
 * (0 ok, -2 auth, -3 method error, -5 no permission, -11 no such data, -12 over a limit).
 */

const CODE = { OK: 0, AUTH: -2, METHOD: -3, FORBIDDEN: -5, MISSING: -11, LIMIT: -12 } as const
const METHODS = ['getExtension', 'getExtensions', 'sendTelCall', 'systemChannels', 'getChannelList', 'findDialrecord'] as const
const STATE_CODE: Record<ChannelState, number> = { offline: 0, idle: 1, ringing: 2, dialing: 3, talking: 4, held: 4, unknown: -1 }
const FIND_PAGE = 1000

type Answer = Record<string, unknown> & { code: number }

const err = (code: number, message: string): Answer => ({ code, message })

/**
 * Documentation: the fields may come by query or form/JSON body and every answer is the vendor's
 * `{code, message}`, so the fields are described without types (nothing is refused by fastify).
 */
const localApiSchema = {
  summary: "The 800hu server's JSON API (sendTelCall, systemChannels, getChannelList, findDialrecord); no bearer token: sa_user + sa_password",
  tags: ['800hu local API'],
  security: [],
  querystring: {
    type: 'object',
    properties: {
      method: { description: METHODS.join(', ') },
      sa_user: { description: 'boxes.localApi.user' },
      sa_password: { description: 'the 32-digit MD5 of boxes.localApi.password' },
      mac: { description: 'sendTelCall: the box' },
      channel: { description: 'sendTelCall: the RJ11 port (default 1)' },
      phone: { description: 'sendTelCall: the number to dial' },
      memo: { description: 'sendTelCall: carried to the box' },
      queueSize: { description: 'getChannelList: 1 waiting calls (default), 0 every call' },
      extension: { description: 'findDialrecord: box MACs or channel ids, comma-separated' },
      phoneNum: { description: 'findDialrecord' },
      startTime: { description: 'findDialrecord: yyyy-mm-dd hh:nn:ss' },
      endTime: { description: 'findDialrecord: yyyy-mm-dd hh:nn:ss' },
      cdrPeer: { description: 'findDialrecord: 1 outbound, 2 inbound' },
      scdrId: { description: 'findDialrecord: a call id' },
      talktime: { description: 'findDialrecord: seconds' },
      talktimeSql: { description: 'findDialrecord: 0 longer than talktime, 1 shorter' },
      start: { description: 'findDialrecord: first row (default 0)' },
      limit: { description: 'findDialrecord: rows (default 20, at most 1000)' },
    },
  },
  response: {
    200: {
      description: "the vendor's answer: code 0 ok, -2 auth, -3 method error, -5 off, -11 no such data, -12 over a limit",
      type: 'object',
      properties: { code: { type: 'integer' }, message: { type: 'string' } },
    },
  },
}

export function localApiRoutes(hub: BoxHub): RoutePlugin {
  const cfg = hub.config.localApi
  // the MD5 the client must send, compared in constant time (case does not matter: the vendor's examples are upper case)
  const want = cfg ? Buffer.from(createHash('md5').update(cfg.password, 'utf8').digest('hex')) : null
  return (app: FastifyInstance) => {
    app.register(async (sub) => {
      if (!sub.hasContentTypeParser('application/x-www-form-urlencoded')) {
        sub.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
          const out = newFields()
          for (const [k, v] of new URLSearchParams(body as string)) out[k] = v
          done(null, out)
        })
      }
      const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<Answer> => {
        const p = newFields()
        addFields(p, req.query)
        addFields(p, req.body)
        const refused = authenticate(hub, want, p, req, reply)
        if (refused) return refused
        try {
          switch (p.method) {
            case 'getExtension':
              return getExtension(hub, p)
            case 'getExtensions':
              return getExtensions(hub)
            case 'sendTelCall':
              return sendTelCall(hub, p)
            case 'systemChannels':
              return systemChannels(hub)
            case 'getChannelList':
              return getChannelList(hub, p)
            case 'findDialrecord':
              return findDialrecord(hub, p)
            default:
              return err(CODE.METHOD, `method ${JSON.stringify((p.method ?? '').slice(0, 40))} is not served by telbridge (it serves ${METHODS.join(', ')})`)
          }
        } catch (e) {
          const ae = e as Error & { status?: number }
          if (ae.status === 409) return err(CODE.LIMIT, ae.message)
          hub.log.error({ err: e, method: p.method }, 'local 800hu API call failed')
          return err(CODE.METHOD, 'internal error')
        }
      }
      sub.get('/voip/api/jsondata.html', { config: { public: true }, schema: localApiSchema }, handler)
      sub.post('/voip/api/jsondata.html', { config: { public: true }, schema: localApiSchema }, handler)

      // §2.1.5 upload_record_file.html, with the local API's credentials; the box in satellite (or mac)
      if (!sub.hasRequestDecorator('parts')) await sub.register(multipart, { throwFileSizeLimit: true })
      sub.post(RECORD_FILE_PATH, { config: { public: true, uploads: true }, schema: { ...recordFileSchema, security: [] } }, async (req, reply) => {
        let checked: FileAnswer | null | undefined
        const authed = (f: Fields): FileAnswer | null => {
          if (checked !== undefined) return checked
          const a = authenticate(hub, want, f, req, reply)
          checked = a ? { http: reply.statusCode === 429 ? 429 : 200, body: { code: a.code, message: String(a.message) } } : null
          return checked
        }
        const a = await receiveRecordFile(hub, req, req.query as Record<string, unknown>, authed)
        if (a.http >= 400) reply.header('connection', 'close')
        return reply.code(a.http).send(a.body)
      })

      // the vendor's recording URLs (§2.4.1, §2.10.4), with the local API's credentials (sa_user, sa_password)
      const audio = async (req: FastifyRequest, reply: FastifyReply, find: (p: Fields) => RecordingRecord | undefined): Promise<unknown> => {
        const p = newFields()
        addFields(p, req.query)
        const refused = authenticate(hub, want, p, req, reply)
        if (refused) return refused
        const r = find(p)
        const e = r && hasAudio(r) ? hub.deps.recordings.entry(r.id) : undefined
        if (!e) return reply.code(404).send(err(CODE.MISSING, '数据不存在: no such recording'))
        return sendAudio(e, req, reply)
      }
      const audioSchema = (summary: string) => ({
        summary,
        tags: ['800hu local API'],
        security: [],
        querystring: {
          type: 'object',
          properties: { sa_user: { description: 'boxes.localApi.user' }, sa_password: { description: 'the 32-digit MD5 of boxes.localApi.password' }, id: { description: 'download: the cdrId' } },
        },
      })
      sub.route({
        method: ['GET', 'HEAD'],
        // cdrRecordFile is always `yyyy/mm/dd/<name>` (the store's day directories)
        url: '/voip/record/:year/:month/:day/:file',
        config: { public: true },
        schema: { ...audioSchema('A recording by its cdrRecordFile (the 800hu URL), Range supported; sa_user + sa_password'), params: stringParams('year', 'month', 'day', 'file') },
        handler: (req, reply) => {
          const p = req.params as { year: string; month: string; day: string; file: string }
          return audio(req, reply, () => hub.deps.recordings.entryByFile(`${p.year}/${p.month}/${p.day}/${p.file}`)?.record)
        },
      })
      sub.route({
        method: ['GET', 'HEAD'],
        url: '/voip/api/client/download/record.json',
        config: { public: true },
        schema: audioSchema('A recording by cdrId (the 800hu download URL; ismp3 is ignored: the file as stored), Range supported; sa_user + sa_password'),
        handler: (req, reply) => audio(req, reply, (p) => (p.id ? hub.deps.recordings.find({ callid: p.id.trim().slice(0, 200), audio: true, limit: 1 }).recordings[0] : undefined)),
      })
    })
  }
}

/**
 * The local API's login: null when sa_user and sa_password are right, else the answer (-5 off, 429
 * over api.loginRateLimit, -2 wrong) with its status set on the reply.
 */
function authenticate(hub: BoxHub, want: Buffer | null, p: Fields, req: FastifyRequest, reply: FastifyReply): Answer | null {
  const cfg = hub.config.localApi
  if (!cfg || !want) return err(CODE.FORBIDDEN, 'the local 800hu API is off: set boxes.localApi {user, password} in the telbridge config')
  // brute force: an address over api.loginRateLimit gets 429 before its password is looked at
  // (a right one too, or the answers would still tell the guesses apart)
  const limiter = req.server.loginLimiter
  const wait = limiter?.refused(req.socket.remoteAddress, 'local 800hu API') ?? 0
  if (wait) {
    reply.code(429).header('retry-after', String(wait))
    return err(CODE.LIMIT, `too many failed logins from this address; try again in ${wait} s (api.loginRateLimit)`)
  }
  const user = p.sa_user ?? ''
  const given = Buffer.from((p.sa_password ?? '').toLowerCase())
  const okUser = user === cfg.user
  const okPass = given.length === want.length && timingSafeEqual(given, want)
  if (!okUser || !okPass) {
    // no credentials at all is no guess (as a missing bearer token): not counted
    if (p.sa_user !== undefined || p.sa_password !== undefined) limiter?.fail(req.socket.remoteAddress)
    hub.log.info({ remote: req.socket.remoteAddress, user: user.slice(0, 64), method: p.method }, 'local 800hu API: wrong sa_user or sa_password')
    return err(CODE.AUTH, '验证错误: wrong sa_user or sa_password (sa_password is the 32-digit MD5 of the password)')
  }
  return null
}

interface Seat {
  extension: string
  name: string
  mobile: string
}

/** localApi.extensions, or (none configured) every port of every known box as its channel id. */
function seats(hub: BoxHub): Seat[] {
  const configured = hub.config.localApi?.extensions ?? []
  if (configured.length) return configured.map((e) => ({ extension: e.extension, name: e.name ?? e.extension, mobile: e.mobile ?? '' }))
  return boxChannels(hub).map((e) => {
    const box = hub.boxes.get(e.source.slice(SOURCE_PREFIX.length))
    return { extension: e.id, name: `${box?.name ?? formatMac(box?.mac ?? '')} ${e.channel}`.trim(), mobile: '' }
  })
}

/** §2.1.1, the login check: the seat named by sa_user if one is, else sa_user itself. */
function getExtension(hub: BoxHub, p: Fields): Answer {
  const user = p.sa_user ?? ''
  const list = seats(hub)
  const i = list.findIndex((s) => s.extension === user)
  const seat = i >= 0 ? list[i]! : { extension: user, name: user, mobile: '' }
  return { code: CODE.OK, message: '', exteId: i + 1, name: seat.name, extension: seat.extension, compNumber: user, compName: 'telbridge', disablePhoneNum: 0, exteLoginType: 1 }
}

/** §2.1.2: the seats, each `{exteName, exteExtension, exteMobile}`. */
function getExtensions(hub: BoxHub): Answer {
  const rows = seats(hub).map((s) => ({ exteName: s.name, exteExtension: s.extension, exteMobile: s.mobile }))
  return { code: CODE.OK, message: '', total: rows.length, extension: rows, rows }
}

/** §2.5.1: mac, channel, phone → a dial command the box gets at its next getMessageList. */
function sendTelCall(hub: BoxHub, p: Fields): Answer {
  if (!p.mac) return err(CODE.MISSING, 'mac is required')
  const box = hub.find(p.mac)
  if (!box) return err(CODE.MISSING, `no box with mac ${p.mac.slice(0, 40)}`)
  const channel = (p.channel ?? '').trim() || '1'
  if (!/^\d{1,4}$/.test(channel) || Number(channel) < 1) return err(CODE.METHOD, 'channel must be the RJ11 port number (1, 2, 3…)')
  const phone = (p.phone ?? '').trim()
  if (!phone) return err(CODE.MISSING, 'phone is required')
  if (!PHONE.test(phone)) return err(CODE.METHOD, 'phone: digits, * # + , (1–40)')
  let memo: unknown
  if (p.memo) {
    try {
      memo = JSON.parse(p.memo)
    } catch {
      memo = p.memo
    }
  }
  // carried to the box as JSON at its next poll: a value JSON.stringify cannot write is refused now
  if (tooDeep(memo)) return err(CODE.METHOD, `memo nests deeper than ${MAX_JSON_DEPTH} levels`)
  const cmd = hub.queueCommand(box.mac, { type: 'dial', channel: String(Number(channel)), phone, ...(memo !== undefined ? { memo } : {}) })
  return { code: CODE.OK, message: '', commandId: cmd.id }
}

function boxChannels(hub: BoxHub): ChannelEntry[] {
  return hub.deps.table
    .list()
    .filter((e) => e.source.startsWith(SOURCE_PREFIX) && hub.boxes.has(e.source.slice(SOURCE_PREFIX.length)))
    .sort((a, b) => (a.source === b.source ? Number(a.channel) - Number(b.channel) : a.source < b.source ? -1 : 1))
}

const BUSY = new Set<ChannelState>(['ringing', 'dialing', 'talking', 'held'])

/** §2.2.1: the channel monitor. Every box port is a "normal channel"; boxes have no group-call channels. */
function systemChannels(hub: BoxHub): Answer {
  const chans = boxChannels(hub)
  const rows = chans.map((e) => {
    const v = e.vendor ?? {}
    const box = hub.boxes.get(e.source.slice(SOURCE_PREFIX.length))
    return {
      channelName: e.id,
      mac: box ? formatMac(box.mac) : null,
      name: box?.name ?? null,
      ch: e.channel,
      state: STATE_CODE[e.state],
      stateName: e.state,
      phone: e.phone ?? '',
      peer: e.direction === 'outbound' ? 1 : e.direction === 'inbound' ? 2 : 0,
      timelen: v.timelen ?? null,
      // the seed: timelen while ringing is the monitor's calltime
      calltime: v.calltime ?? null,
      since: vendorTime(e.since, hub.deps.timeZone),
    }
  })
  const busy = chans.filter((e) => BUSY.has(e.state)).length
  return { code: CODE.OK, message: '', channelviewinfo: rows, totalNum: chans.length, totalGroupCallNum: 0, useGroupCallNum: 0, useAgiCallNum: busy, channelNum: chans.length }
}

/** §2.2.2: queueSize 1 (default) → lines ringing (calls waiting to be answered); 0 → every line (the seed: 0 所有列表). */
function getChannelList(hub: BoxHub, p: Fields): Answer {
  const q = (p.queueSize ?? '1').trim()
  if (q !== '0' && q !== '1') return err(CODE.METHOD, 'queueSize must be 0 (all) or 1 (waiting)')
  const rows = boxChannels(hub)
    .filter((e) => q === '0' || e.state === 'ringing')
    .sort((a, b) => a.since - b.since)
    .map((e, i) => ({ channelName: e.id, callinTel: e.phone ?? '', createTime: vendorTime(e.since, hub.deps.timeZone), queueId: i + 1, state: e.state, direction: e.direction }))
  return { code: CODE.OK, message: '', total: rows.length, rows }
}

/**
 * §2.4.1 / §2.7.1: call records from the recording index. extension: box MACs or channel ids
 * (`800hu-<mac>:<port>`), comma-separated; phoneNum; talktimeSql 0 (longer than) / 1 (shorter than)
 * with talktime seconds; startTime (also the document's `statrTime`) / endTime as
 * `yyyy-mm-dd hh:nn:ss`; cdrPeer 1 outbound / 2 inbound; scdrId; start / limit (default 20).
 */
function findDialrecord(hub: BoxHub, p: Fields): Answer {
  const store = hub.deps.recordings
  const f: RecordingFilters = {}
  const start = intParam(p.start, 0, 1e9, 0)
  const limit = intParam(p.limit, 1, 1000, 20)
  if (start === null) return err(CODE.METHOD, 'start must be a whole number from 0')
  if (limit === null) return err(CODE.METHOD, 'limit must be a whole number from 1 to 1000')
  if (p.phoneNum) f.phone = p.phoneNum.trim().slice(0, 64)
  // cdrPeer 2 is every call that rang in, answered or missed (the rows say 2 for both); 3–5 (group
  // calls, seat transfers) a box never makes: an empty answer, as the vendor gives for no rows
  let peer: ((r: RecordingRecord) => boolean) | null = null
  const cdrPeer = (p.cdrPeer ?? '').trim()
  if (cdrPeer) {
    if (cdrPeer === '1') f.direction = 'outbound'
    else if (cdrPeer === '2') peer = (r) => r.direction === 'inbound' || r.direction === 'missed'
    else if (/^[3-5]$/.test(cdrPeer)) return { code: CODE.OK, success: true, message: '', recordTotal: 0, total: 0, rows: [] }
    else return err(CODE.METHOD, 'cdrPeer must be 1 (outbound), 2 (inbound) or 3–5')
  }
  if (p.scdrId) f.callid = p.scdrId.trim()
  for (const [name, key] of [
    ['startTime', 'from'],
    ['statrTime', 'from'],
    ['endTime', 'to'],
  ] as const) {
    const v = p[name]
    if (!v) continue
    const t = parseVendorTime(v, hub.deps.timeZone)
    if (t === null) return err(CODE.METHOD, `${name} must be yyyy-mm-dd hh:nn:ss, got ${JSON.stringify(v.slice(0, 40))}`)
    // endTime is a time of day to include: up to the end of that second
    f[key] = key === 'to' ? t + 1000 : t
  }
  const exts: { box: string; channel?: number }[] = []
  for (const item of (p.extension ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:800hu-)?([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5})(?::(\d{1,4}))?$/.exec(item)
    const mac = m ? normaliseMac(m[1]!) : null
    if (!mac) return err(CODE.METHOD, `extension ${JSON.stringify(item.slice(0, 40))}: expected a box MAC or a channel id 800hu-<mac>:<port>`)
    exts.push(m![2] !== undefined ? { box: mac, channel: Number(m![2]) } : { box: mac })
  }
  let talk: ((r: RecordingRecord) => boolean) | null = null
  if (p.talktime) {
    const secs = intParam(p.talktime, 0, 1e8, 0)
    if (secs === null) return err(CODE.METHOD, 'talktime must be a whole number of seconds')
    const shorter = p.talktimeSql === '1'
    talk = (r) => r.durationSeconds !== null && (shorter ? r.durationSeconds < secs : r.durationSeconds > secs)
  }
  if (exts.length === 1) Object.assign(f, exts[0])
  let total: number
  let rows: RecordingRecord[]
  if (!talk && !peer && exts.length <= 1) {
    const r = store.find({ ...f, offset: start, limit })
    total = r.total
    rows = r.recordings
  } else {
    // filters the index does not have: walk the matches a page at a time
    const keep = (r: RecordingRecord) => (!talk || talk(r)) && (!peer || peer(r)) && (exts.length <= 1 || exts.some((x) => x.box === r.box && (x.channel === undefined || x.channel === r.channel)))
    rows = []
    total = 0
    for (let offset = 0; ; offset += FIND_PAGE) {
      const page = store.find({ ...f, offset, limit: FIND_PAGE })
      for (const r of page.recordings) {
        if (!keep(r)) continue
        if (total >= start && rows.length < limit) rows.push(r)
        total++
      }
      if (offset + FIND_PAGE >= page.total) break
    }
  }
  return { code: CODE.OK, success: true, message: '', recordTotal: total, total, rows: rows.map((r) => cdrRow(hub, r)) }
}

function cdrRow(hub: BoxHub, r: RecordingRecord): Record<string, unknown> {
  const box = hub.boxes.get(r.box)
  const ms = (iso: string | null) => (iso === null ? '' : vendorTime(Date.parse(iso), hub.deps.timeZone))
  const audio = hasAudio(r)
  return {
    // the box's callid: the cdrId of every push about the call
    cdrId: r.callid,
    cdrCmmId: r.callid,
    cdrStartTime: ms(r.startTime),
    cdrHangupTime: ms(r.endTime),
    cdrTalktime: r.durationSeconds ?? 0,
    cdrChargingTimes: r.durationSeconds ? Math.ceil(r.durationSeconds / 60) : 0,
    cdrPhoneNum: r.phone,
    cdrLastPhoneNum: r.phone.replace(/^0+/, ''),
    // the box's `unkown` (not answered) is counted with inbound: on an analog line a missed call rang in
    cdrPeer: r.direction === 'outbound' ? 1 : r.direction === null ? 0 : 2,
    cdrExtension: r.channel === null ? `${SOURCE_PREFIX}${r.box}` : `${SOURCE_PREFIX}${r.box}:${r.channel}`,
    exteName: box?.name ?? formatMac(r.box),
    cdrExtensionPort: r.channel ?? '',
    cdrExtensionIp: box?.ip ?? '',
    // the path under /voip/record/ (the vendor's URL), served from the store; '' for a call without audio
    cdrRecordFile: audio ? r.file : '',
    recordUrl: audio ? `/v1/recordings/${encodeURIComponent(r.id)}/audio` : '',
    paramvalue: r.fields[PARAMVALUE_FIELD] ?? '',
    cdrCalledName: '',
    cdrIVR: '',
    cdrIVRKey: '',
    cdrPhonePort: '',
    cdrPhoneIp: '',
    cdrTrunkRoute: '',
    cdrHangupReasonCode: '',
    cdrHangupReasonText: r.direction === 'missed' ? 'missed' : '',
  }
}

function intParam(v: string | undefined, min: number, max: number, dflt: number): number | null {
  if (v === undefined || v.trim() === '') return dflt
  if (!/^\d{1,10}$/.test(v.trim())) return null
  const n = Number(v.trim())
  return n >= min && n <= max ? n : null
}
