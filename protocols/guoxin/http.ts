/**
 * GET for the Guoxin client: the shared node:http client (protocols/http/client.ts), which sends a
 * request exactly once (undici's fetch repeats a request answered 421, which Guoxin uses for
 * "需付费开通") and can report a 1xx as an answer (see statusLine in client.ts).
 */
import { openRequest, requestRaw, type OpenOptions, type RawResponse } from '../http/client.js'

export interface GetOptions extends Omit<OpenOptions, 'method' | 'body'> {
  method?: 'GET' | 'HEAD'
}

export type GetResponse = RawResponse

/** Resolves when the answer's headers are in; the body is the caller's to read (or destroy). */
export const openGet = (url: string, o: GetOptions) => openRequest(url, o)

/** The whole answer, within `timeoutMs` (headers and body), at most MAX_RESPONSE_BYTES. */
export const get = (url: string, o: GetOptions): Promise<GetResponse> => requestRaw(url, o)
