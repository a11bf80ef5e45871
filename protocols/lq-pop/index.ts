export type { IvrResult, ParseOptions, Pop, PopFormat, PopKind } from './types.js'
export {
  FRAGMENTS_KEY,
  PopError,
  decodePop,
  encodePop,
  parseDtmf,
  parsePop,
  parsePopData,
  popKindName,
  tryParsePop,
} from './parse.js'
export type { PopErrorCode, PopResult } from './parse.js'
export { formatPop } from './format.js'
export type { PopFields } from './format.js'
export {
  formatLqTime,
  formatOffset,
  hostTimeZone,
  isoInZone,
  isValidTimeZone,
  localOffset,
  lqTimeToIso,
  offsetAt,
} from './time.js'
