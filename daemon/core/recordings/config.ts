import type { Schema } from '../schema.js'

/** Keys under top-level `recordings` (the files live in `<dataDir>/recordings`). */
export interface RecordingsConfig {
  /** largest upload accepted, bytes */
  maxBytes: number
  /**
   * delete indexed recordings older than this many days, by the later of call start and receipt
   * (absent: keep forever); checked at start and hourly
   */
  keepDays?: number
}

export const recordingsSchema: Schema = {
  type: 'object',
  properties: {
    maxBytes: { type: 'integer', default: 200 * 1024 * 1024, min: 1024, max: 16 * 1024 ** 3 },
    keepDays: { type: 'number', optional: true, min: 1, max: 36500 },
  },
}
