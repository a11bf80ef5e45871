import type { Infer, ObjectSchema } from '../schema.js'

/** Keys under top-level `recordings` (the files live in `<dataDir>/recordings`). */
export const recordingsSchema = {
  type: 'object',
  doc: 'stored recordings (800hu uploads): files in `<dataDir>/recordings`',
  properties: {
    maxBytes: { type: 'integer', default: 200 * 1024 * 1024, min: 1024, max: 16 * 1024 ** 3, doc: 'largest upload accepted, bytes' },
    keepDays: {
      type: 'number',
      optional: true,
      min: 1,
      max: 36500,
      doc: 'delete indexed recordings older than this many days, by the later of call start and receipt (absent: keep forever); checked at start and hourly',
    },
  },
} as const satisfies ObjectSchema

export type RecordingsConfig = Infer<typeof recordingsSchema>
