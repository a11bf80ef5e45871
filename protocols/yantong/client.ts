/**
 * A typed client for every action of seed 004. One request per call, no retries (the caller wraps
 * queries in `retrying()`; control actions must not be repeated blindly). Transport failures are the
 * http client's HttpTimeoutError / HttpUnreachableError; the vendor's refusals are YantongError; an
 * answer in another shape is YantongFormatError.
 */
import { httpRequest } from '../http/client.js'
import { decodeBody, encodeParams, expectOk, parseCdrList, parseExtenStatus, parseRecord, parseUserInfo, YantongFormatError, type CdrPage, type Charset } from './codec.js'
import type { Action, Answer, CdrQuery, Customer, ExtenStatus, SpyType, UserInfo } from './types.js'

export interface YantongClientOptions {
  /** the API endpoint, e.g. http://10.0.0.7/api */
  url: string
  companyid: number
  auth: string
  /** per request; default 5000 */
  timeoutMs?: number
  /** the seed allows both; POST keeps the auth code out of the vendor's access log */
  method?: 'GET' | 'POST'
  charset?: Charset
}

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/** What every call hands back besides the typed value: the raw answer, for logs and `vendor` fields. */
export interface Raw {
  answer: Answer
}

export class YantongClient {
  readonly timeoutMs: number
  constructor(readonly opts: YantongClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 5000
  }

  /** Send one action; errno 1 or a YantongError. */
  async call(action: Action, params: Record<string, string | number | undefined>, co: CallOptions = {}): Promise<Answer> {
    const all = { action, companyid: this.opts.companyid, auth: this.opts.auth, ...params }
    const charset = this.opts.charset ?? 'utf-8'
    const form = encodeParams(all, charset)
    const method = this.opts.method ?? 'POST'
    const url = method === 'GET' ? this.opts.url + (this.opts.url.includes('?') ? '&' : '?') + form : this.opts.url
    const res = await httpRequest(url, {
      method,
      body: method === 'POST' ? form : undefined,
      headers: method === 'POST' ? { 'content-type': `application/x-www-form-urlencoded; charset=${charset === 'gbk' ? 'GBK' : 'UTF-8'}`, accept: 'application/json' } : { accept: 'application/json' },
      timeoutMs: co.timeoutMs ?? this.timeoutMs,
      signal: co.signal,
    })
    const text = decodeBody(res.body, res.headers.get('content-type'))
    if (res.status < 200 || res.status > 299) {
      // an errno answer with a non-2xx status still says what the vendor meant
      try {
        return expectOk(action, text)
      } catch (err) {
        if (!(err instanceof YantongFormatError)) throw err
      }
      throw new YantongFormatError(action, `HTTP ${res.status}`, text.slice(0, 200))
    }
    return expectOk(action, text)
  }

  /** 呼叫发起: the agent's phone rings first, then the number is dialled. codeid_1/2 tag the CDR. */
  sendDial(p: { staffid: string; phonenum: string; codeid_1?: string; codeid_2?: string }, co?: CallOptions): Promise<Answer> {
    return this.call('SendDial', p, co)
  }

  /** 呼叫挂断: ends the staff member's current call. */
  hangUp(p: { staffid: string }, co?: CallOptions): Promise<Answer> {
    return this.call('HangUp', p, co)
  }

  async extenStatus(p: { staffid: string }, co?: CallOptions): Promise<ExtenStatus & Raw> {
    const answer = await this.call('ExtenStatus', p, co)
    return { ...parseExtenStatus('ExtenStatus', answer.data), answer }
  }

  async getCdrList(q: CdrQuery, co?: CallOptions): Promise<CdrPage & Raw> {
    const answer = await this.call('GetCDRList', { ...q }, co)
    return { ...parseCdrList('GetCDRList', answer.data), answer }
  }

  async getRecord(p: { uniqueid: string }, co?: CallOptions): Promise<{ paths: string[] } & Raw> {
    const answer = await this.call('GetRecord', p, co)
    return { paths: parseRecord('GetRecord', answer.data), answer }
  }

  /** 监听: `staffid` listens to (1), whispers to (2) or joins three-way (3) the call of `spystaffid`. */
  extenSpy(p: { staffid: string; spystaffid: string; spytype: SpyType }, co?: CallOptions): Promise<Answer> {
    return this.call('ExtenSpy', p, co)
  }

  /** 客户资料添加: assign a customer to a staff member. */
  addCBaseData(p: { staffid: string } & Customer, co?: CallOptions): Promise<Answer> {
    return this.call('AddCBaseData', { ...p }, co)
  }

  /** 任务批次数据插入: add a number to an outbound task batch. */
  addTaskData(p: { batchid: string } & Customer, co?: CallOptions): Promise<Answer> {
    return this.call('AddTaskData', { ...p }, co)
  }

  /** 用户信息获取: one staff member, or everyone when staffid is omitted. */
  async getUserInfo(p: { staffid?: string } = {}, co?: CallOptions): Promise<{ users: UserInfo[] } & Raw> {
    const answer = await this.call('GetUserInfo', p, co)
    return { users: parseUserInfo('GetUserInfo', answer.data), answer }
  }
}
