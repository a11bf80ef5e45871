export { VackClient, VackError, VackAnswerError, VO_IDS, CONTROL_VO_IDS, QUERY_VO_IDS } from './client.js'
export type { VackClientOptions, CallOptions, CallSide, VoId } from './client.js'
export { decodeVackXml, decodeAnswerText, parseVackText, answerEncoding, findAll, na, VackXmlError, LIST_TAGS, encodeVackResult, encodeVackXml, naText, xmlEscape } from './xml.js'
export type { VackDoc, VackXmlErrorCode } from './xml.js'
export {
  CH_TYPE_CODES,
  ChStatusReader,
  encodeChStatus,
  encodeCustCall,
  encodeLoc,
  encodeOperStatus,
  encodePlaySelected,
  encodeQueueStatus,
  IN_USE_NAMES,
  IN_USE_WORDS,
  STATUS_WORDS,
  parseChStatus,
  parseCustCall,
  parseLoc,
  parseOperStatus,
  parsePlaySelected,
  parseQueueStatus,
} from './records.js'
export type { ChannelKind, ChStatus, ChStatusInput, ChStatusAnswer, CustCall, CustCallAnswer, Location, OperStatus, QueueEntry, QueueStatusAnswer } from './records.js'
export { lineDirection, lineState } from './states.js'
export type { LineState } from './states.js'
export { decodeForm, decodeText, encodeForm, encodeText, percentBytes } from './form.js'
export type { FormCharset, FormFields } from './form.js'
export { callbackFields, callbackUrl, decodeCallbackQuery, decodeCustCallback, decodeIvrCallback, encodeCustCallback, encodeIvrCallback } from './callback.js'
export type { CustCallbackFields, IvrCallbackFields } from './callback.js'
