/**
 * Guoxin answers most `/bridge/callctrl` calls with nothing but an HTTP status code, and the code's
 * meaning depends on the operation (seed 001: 404 is "no such extension" for CLICK_TO_TRANSFER but
 * "no call to monitor" for CALL_MONITOR). This table holds each operation's documented codes, in the
 * seed's words and in English.
 */

/** Every `opt` of seed 001 §1–18 and §21 on `/bridge/callctrl` (§14 EXTNUM_STATE is on `/bridge/jsoncfg`). */
export const OPTS = [
  'CLICK_TO_DIAL', // §1, fixed line
  'CLICK_TO_IP_DIAL', // §1, VoIP line
  'CLICK_TO_HUNGUP', // §2
  'CLICK_TO_IP_CAPTCHA', // §3, VoIP line
  'CLICK_TO_FIXEDLINE_CAPTCHA', // §3, fixed line
  'GET_CAPTCHA_RESULT', // §3
  'CLICK_TO_TRANSFER', // §5
  'TALKING_CALLER_TO_IVR', // §6
  'SET_EXT_PRESENCE_STATE', // §8
  'CONFERENCE_CREATE', // §9
  'CONFERENCE_JOIN', // §10
  'CALL_THIRD', // §11
  'CALL_THIRD_RESUME', // §11
  'CALL_THIRD_GET_THIRD_STATE', // §11
  'CALL_THIRD_CONFERENCE', // §12
  'CALL_THIRD_TRANSFER', // §13
  'EXTNUM_STATE', // §14
  'CALL_MONITOR', // §15
  'FORCE_PICKUP', // §16
  'FORCE_HUNGUP', // §17
  'IVR_TTS_CALL', // §18
  'IVR_TTS_CALL_RESULT', // §18
  'IVR_TTS_CALL_MONITOR', // §18
  'CALL_LOG_QUERY', // §21
  'CALL_LOG_GET_WITH_CALLID', // §21
] as const
/** The servlets beside /bridge/callctrl: §19 customers, §20 sales leads, §24 voice files (by their `opt`). */
export const SERVLET_OPS = ['ContactsSrvlt', 'PreorderSrvlt', 'ToneFileSvlt.query', 'ToneFileSvlt.delete'] as const
export type GuoxinServletOp = (typeof SERVLET_OPS)[number]
export type GuoxinOpt = (typeof OPTS)[number] | GuoxinServletOp

export interface CodeMeaning {
  /** English */
  en: string
  /** the seed's words */
  zh: string
}

type CodeTable = Readonly<Record<number, CodeMeaning>>

const OK: CodeMeaning = { en: 'ok', zh: '操作成功' }
const BAD_ARGS: CodeMeaning = { en: 'bad parameters', zh: '参数错误' }
const SYSTEM_ERROR: CodeMeaning = { en: 'system error', zh: '系统错误' }
const NO_RESOURCES: CodeMeaning = { en: 'not enough system resources', zh: '系统资源不足' }
const NO_PERMISSION: CodeMeaning = { en: 'the supervisor extension lacks the "坐席监控" (agent monitoring) permission', zh: '主管分机权限不足。到后台分机管理中修改分机权限添加“坐席监控”' }

/** Used for the documented-elsewhere codes of operations whose own section lists none (§1, §2, §21). */
export const COMMON_CODES: CodeTable = {
  200: OK,
  400: BAD_ARGS,
  401: { en: 'password required or wrong', zh: '需要密码 / 密码错误' },
  403: { en: 'forbidden', zh: '权限不足' },
  404: { en: 'not found', zh: '不存在' },
  420: BAD_ARGS,
  421: { en: 'a paid feature that is not enabled', zh: '需付费开通' },
  480: { en: 'temporarily unavailable', zh: '不在线 / 暂时不可用' },
  481: { en: 'no call to act on', zh: '不存在可以操作的通话' },
  483: { en: 'ambiguous or duplicate request', zh: '找到多个通话 / 重复提交' },
  486: { en: 'busy, try again later', zh: '忙, 稍后再试' },
  500: SYSTEM_ERROR,
  503: { en: 'system error or not enough resources', zh: '系统错误 / 系统资源不足' },
}

const CALL_THIRD_CODES: CodeTable = { 200: OK, 400: BAD_ARGS, 404: { en: 'no call found for callee', zh: '无法找到 callee 相关的通话' }, 500: SYSTEM_ERROR }
const CAPTCHA_CODES: CodeTable = {
  200: { en: 'ok', zh: '成功' },
  401: { en: 'wrong password', zh: '密码错误' },
  420: BAD_ARGS,
  421: { en: 'a paid feature that is not enabled', zh: '需付费开通' },
  486: { en: 'server busy, try again later', zh: '后台忙, 稍后再试' },
  503: SYSTEM_ERROR,
}

export const OPT_CODES: Partial<Record<GuoxinOpt, CodeTable>> = {
  CLICK_TO_IP_CAPTCHA: CAPTCHA_CODES,
  CLICK_TO_FIXEDLINE_CAPTCHA: CAPTCHA_CODES,
  CLICK_TO_TRANSFER: {
    200: { en: 'transferred', zh: '转话成功' },
    400: BAD_ARGS,
    404: { en: 'target extension does not exist', zh: '目标分机不存在' },
    480: { en: 'target extension is offline', zh: '目标分机不在线' },
    481: { en: 'extnum has no call that can be transferred', zh: 'extnum 不存在可以转移的通话' },
    486: { en: 'target extension is busy', zh: '目标分机忙' },
    500: SYSTEM_ERROR,
  },
  TALKING_CALLER_TO_IVR: {
    200: { en: 'transferred', zh: '转话成功' },
    404: { en: 'no call between caller and callee, or no such IVR menu', zh: '主被相关的通话不存在或者语音菜单编号不存在' },
    483: { en: 'several calls match the two numbers; refused', zh: '两个号码, 找到多个通话, 系统无法准确定位具体是哪个通话, 拒绝执行' },
  },
  SET_EXT_PRESENCE_STATE: { 200: OK, 400: BAD_ARGS, 404: { en: 'extension does not exist', zh: '目标分机不存在' } },
  CONFERENCE_CREATE: {
    200: OK,
    404: { en: 'no such call; cannot create the conference', zh: '找不到相关的通话,无法创建 3 方会议' },
    483: { en: 'conference already created', zh: '重复创建' },
    486: { en: 'invited party is busy', zh: '被邀请电话忙' },
    503: NO_RESOURCES,
  },
  CONFERENCE_JOIN: {
    200: OK,
    404: { en: 'no such conference', zh: '找不到相关的会议，无法加入会议' },
    480: { en: 'conference being created, try again later', zh: '正在创建会议，稍后再试' },
    486: { en: 'invited party is busy', zh: '被邀请电话忙' },
    503: NO_RESOURCES,
  },
  CALL_THIRD: CALL_THIRD_CODES,
  CALL_THIRD_RESUME: CALL_THIRD_CODES,
  CALL_THIRD_CONFERENCE: CALL_THIRD_CODES,
  CALL_THIRD_TRANSFER: CALL_THIRD_CODES,
  CALL_THIRD_GET_THIRD_STATE: {
    100: { en: 'transient state (ignore)', zh: '瞬时状态, 很少遇到, 如果获取可忽略' },
    180: { en: 'third party ringing', zh: '目标终端振铃' },
    200: { en: 'third party answered (not exact on PSTN lines)', zh: '目标终端接听, 如: PSTN 线路此处不是很准确, 需结合坐席话筒判断' },
    400: BAD_ARGS,
    404: { en: 'no call found for callee, or already transferred or conferenced', zh: '无法找到 callee 相关的通话, 或者已经转话或创建三方' },
    603: { en: 'third party busy, declined', zh: '目标终端忙, 拒绝接听' },
  },
  CALL_MONITOR: { 200: OK, 403: NO_PERMISSION, 404: { en: 'the monitored extension is not in a call', zh: '被监听分机没有在通话' }, 503: NO_RESOURCES },
  FORCE_PICKUP: { 200: OK, 403: NO_PERMISSION, 404: { en: 'no call to barge into', zh: '没有找到可强插的通话' }, 503: NO_RESOURCES },
  FORCE_HUNGUP: { 200: OK, 403: NO_PERMISSION, 404: { en: 'no call to force-hang-up', zh: '没有找到可强拆的通话' }, 503: NO_RESOURCES },
  ContactsSrvlt: { 200: OK, 400: { en: 'bad parameters or failed', zh: '参数错误等导致失败' }, 483: { en: 'phone number already used', zh: '电话号码重复' } },
  PreorderSrvlt: { 200: OK, 400: { en: 'bad parameters or failed', zh: '参数错误等导致失败' }, 483: { en: 'one or more sales leads already exist', zh: '有一个或者多个商机重复' } },
  'ToneFileSvlt.delete': { 200: { en: 'deleted', zh: '删除成功' }, 400: BAD_ARGS, 404: { en: 'no such voice file', zh: '无法找到相关数据' } },
  IVR_TTS_CALL: {
    200: { en: 'ok, calling', zh: '操作成功，系统已经开始呼叫' },
    400: BAD_ARGS,
    401: { en: 'password required', zh: '需要密码' },
    480: { en: 'temporarily unavailable, try again later', zh: '系统暂时不可用，稍后再试' },
    483: { en: 'duplicate submission', zh: '重复提交' },
    486: { en: 'system busy, try again later', zh: '系统繁忙，稍后再试' },
  },
}

/** What `status` means for `opt`: its own table first, then the codes other sections document. */
export function codeMeaning(opt: GuoxinOpt, status: number): CodeMeaning & { documented: boolean } {
  const own = OPT_CODES[opt]?.[status]
  if (own) return { ...own, documented: true }
  const common = COMMON_CODES[status]
  if (common) return { ...common, documented: false }
  return { en: `HTTP status ${status} (not in the vendor's documentation)`, zh: '', documented: false }
}

/** The call states of GET_CAPTCHA_RESULT and IVR_TTS_CALL_RESULT (§3, §18). */
export const CALL_RESULT_STATES: Readonly<Record<number, { name: CallResultState; zh: string }>> = {
  0: { name: 'queued', zh: '正在排队等待呼叫' },
  1: { name: 'succeeded', zh: '呼叫成功' },
  2: { name: 'failed', zh: '呼叫失败' },
  3: { name: 'vacant-number', zh: '空号' },
  4: { name: 'calling', zh: '正在呼叫中' },
  5: { name: 'busy', zh: '对方忙' },
  6: { name: 'unreachable', zh: '关机, 不在服务区' },
  404: { name: 'no-such-id', zh: 'id 不存在' },
}
export type CallResultState = 'queued' | 'succeeded' | 'failed' | 'vacant-number' | 'calling' | 'busy' | 'unreachable' | 'no-such-id'
