/**
 * 言通 Yantong call-center API (seed 004): the actions, the `errno` codes and the typed answers.
 * Every request carries `action`, `companyid` and `auth`; every answer is
 * `{"errno":"…","message":"…","data":…}`.
 */

export const ACTIONS = ['SendDial', 'HangUp', 'ExtenStatus', 'GetCDRList', 'GetRecord', 'ExtenSpy', 'AddCBaseData', 'AddTaskData', 'GetUserInfo'] as const
export type Action = (typeof ACTIONS)[number]

/** The seed's 返回值 table. Note 1 is success and 0 is failure. */
export const ERRNO = {
  FAILED: 0,
  OK: 1,
  MISSING_PARAMETER: 2,
  AUTH_FAILED: 3,
  NO_SUCH_API: 4,
  STAFF_NOT_LOGGED_IN: 5,
  EXTENSION_NOT_REGISTERED: 6,
  AGENT_EXTENSION_NOT_LOGGED_IN: 7,
  AGENT_EXTENSION_NOT_REGISTERED: 8,
  INSERT_FAILED: 9,
  DUPLICATE: 10,
  NO_SUCH_BATCH: 11,
} as const

/** The seed's own words for each errno, used when an answer carries no message. */
export const ERRNO_TEXT: Record<number, string> = {
  0: '失败',
  1: '成功',
  2: '缺少必要参数',
  3: '认证失败',
  4: '接口不存在',
  5: '工号未登录',
  6: '分机未注册',
  7: '坐席分机未登录',
  8: '坐席分机未注册',
  9: '数据插入失败',
  10: '数据重复',
  11: '任务批次不存在',
}

/** ExtenStatus `data.Status` (Asterisk extension states, plus the vendor's 18/19 agent states). */
export const EXTEN_STATUS_TEXT: Record<number, string> = {
  [-1]: '分机找不到',
  0: '空闲',
  1: '通话中',
  2: '正忙',
  4: '分机不可用',
  8: '振铃',
  9: '振铃',
  18: '小休',
  19: '正忙',
}

export interface Answer {
  errno: number
  message: string
  data: unknown
}

export interface ExtenStatus {
  /** the raw code (see EXTEN_STATUS_TEXT); codes outside the seed are passed through */
  status: number
  /** the seed's word for the code, or null for a code it does not list */
  statusText: string | null
  extension: string | null
  /** the other party's number, when the vendor gives one */
  callerNum: string | null
}

export type Disposition = 'ANSWERED' | 'NO ANSWER' | 'FAILED' | 'BUSY' | 'UNKNOWN'
export const DISPOSITIONS: readonly Disposition[] = ['ANSWERED', 'NO ANSWER', 'FAILED', 'BUSY', 'UNKNOWN']

/** calltype: 0 呼出 outbound, 1 呼入 inbound, 3 预测 predictive (an outbound campaign call). */
export type CallType = 'outbound' | 'inbound' | 'predictive' | 'unknown'

export interface CdrRecord {
  /** the table's primary key: the `PId` cursor */
  id: number
  src: string
  dst: string
  /** vendor local time as sent, `YYYY-MM-DD HH:MM:SS` */
  calldate: string
  durationSeconds: number | null
  billSeconds: number | null
  disposition: Disposition
  customerId: string | null
  companyId: string | null
  classifId: string | null
  projectId: string | null
  staffId: string | null
  exten: string | null
  codeid1: string | null
  codeid2: string | null
  /** joins the record to its recording (GetRecord) */
  uniqueId: string | null
  callType: CallType
  /** the raw `calltype` value */
  callTypeCode: string | null
}

export interface CdrQuery {
  staffid?: string
  exten?: string
  codeid_1?: string
  codeid_2?: string
  phonenum?: string
  /** `YYYY-MM-DD HH:MM:SS` vendor local time */
  begintime?: string
  endtime?: string
  /** only records with a primary key greater than this */
  PId?: number
  /** default 20 on the vendor side */
  Limit?: number
  Sort?: 'ASC' | 'DESC'
}

export interface Customer {
  phonenum: string
  name?: string
  address?: string
  email?: string
  comment?: string
}

export interface UserInfo {
  userName: string | null
  trueName: string | null
  roleName: string | null
  identity: string | null
  departmentName: string | null
  phone: string | null
  staffId: string | null
  updateTime: string | null
  createTime: string | null
}

/** ExtenSpy spytype: 1 质检 (listen), 2 密语 (whisper to the agent), 3 三方通话 (three-way). */
export const SPY_TYPE = { listen: 1, whisper: 2, threeWay: 3 } as const
export type SpyType = (typeof SPY_TYPE)[keyof typeof SPY_TYPE]
