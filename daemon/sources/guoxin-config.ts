import { idSchema, type Schema } from '../schema.js'

/** STUB (skeleton): the real keys come with the adapter. */
export interface GuoxinConfig {
  id: string
  type: 'guoxin'
  url: string
  pollMs: number
}

export const guoxinSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['guoxin'] },
    url: { type: 'string', minLength: 1 },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000 },
  },
}
