import { idSchema, type Schema } from '../schema.js'

/** STUB (skeleton): the real keys come with the adapter. */
export interface LqVackConfig {
  id: string
  type: 'lq-vack'
  url: string
  secret: string
  pollMs: number
}

export const lqVackSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-vack'] },
    url: { type: 'string', minLength: 1 },
    secret: { type: 'string', default: '' },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000 },
  },
}
