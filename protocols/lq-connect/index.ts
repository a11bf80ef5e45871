export {
  TRY_REQ,
  TRY_REP,
  MAX_POP_BYTES,
  MAX_BUFFERED,
  FrameError,
  LqConnectDecoder,
  plausiblePop,
  encodeTryReq,
  encodeTryRep,
  encodePop,
  encodeRegistration,
} from './codec.js'
export type { Frame, FrameErrorCode, HandshakeToken, PlausibleFn, LqConnectDecoderOptions, RegistrationOptions } from './codec.js'
