export { boxSourceId, formatMac, normaliseMac, SOURCE_PREFIX } from './mac.js'
export { DISK_STATUS_TEXT, LINE_STATE, StatusError, decodeStatus, encodeStatus, statusWire, type BoxStatus, type StatusChannel, type StatusDisk, type StatusInput } from './status.js'
export { BOX_STATUS, VENDOR_TEXT, decodeAnswer, fail, messages, ok, type BoxAnswer, type DecodedAnswer } from './answers.js'
