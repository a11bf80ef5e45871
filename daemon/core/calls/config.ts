import type { Infer, ObjectSchema } from '../schema.js'

/** Keys under top-level `calls` (the log lives in `<dataDir>/telbridge.db`). */
export const callsSchema = {
  type: 'object',
  doc: 'the call log: one record per call across every source, in `<dataDir>/telbridge.db`',
  properties: {
    keepDays: {
      type: 'number',
      optional: true,
      min: 1,
      max: 36500,
      doc: 'delete call records that ended (or started, when the end is unknown) more than this many days ago (absent: keep forever); checked at start and hourly',
    },
    matchWindowSeconds: {
      type: 'number',
      default: 120,
      min: 1,
      max: 3600,
      doc: "how far apart two inputs' start times (line state, a vendor's call log, an upload) may be and still be merged into one call",
    },
  },
} as const satisfies ObjectSchema

export type CallsConfig = Infer<typeof callsSchema>
