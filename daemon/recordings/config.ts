import type { Schema } from '../schema.js'

/** STUB (skeleton, owner: recordings helper): keys under top-level `recordings`. */
export interface RecordingsConfig {
  /** largest upload accepted, bytes */
  maxBytes: number
  /** delete indexed recordings older than this many days (absent: keep forever) */
  keepDays?: number
}

export const recordingsSchema: Schema = {
  type: 'object',
  properties: {
    maxBytes: { type: 'integer', default: 200 * 1024 * 1024, min: 1024, max: 16 * 1024 ** 3 },
    keepDays: { type: 'number', optional: true, min: 1, max: 36500 },
  },
}
