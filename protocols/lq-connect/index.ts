export { TRY_REQ, TRY_REP, MAX_POP_BYTES, MAX_BUFFERED, FrameError, LqConnectDecoder, plausiblePop, encodeTryReq, encodeTryRep, encodePop } from './codec.js'
export type { Frame, FrameErrorCode, HandshakeToken, PlausibleFn, LqConnectDecoderOptions } from './codec.js'
export { decodeRawRegistration, decodeRegistration, encodeRegistration, plausibleRegistration, registrationAgent } from './registration.js'
export type { Registration, RegistrationOptions } from './registration.js'
