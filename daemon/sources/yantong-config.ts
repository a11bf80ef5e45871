import { idSchema, type Schema } from '../schema.js'

/** STUB (skeleton): the real keys come with the adapter. */
export interface YantongConfig {
  id: string
  type: 'yantong'
  url: string
  companyid: number
  auth: string
  staff: readonly string[]
  pollMs: number
}

export const yantongSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['yantong'] },
    url: { type: 'string', minLength: 1 },
    companyid: { type: 'integer', min: 0, max: 2_000_000_000 },
    auth: { type: 'string', default: '' },
    staff: { type: 'array', items: { type: 'stringish' }, default: [] },
    pollMs: { type: 'integer', default: 2000, min: 100, max: 3_600_000 },
  },
}
