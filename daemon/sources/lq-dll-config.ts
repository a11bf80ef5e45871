import { idSchema, type Schema } from '../schema.js'

/** STUB (skeleton): the real keys come with the adapter. */
export interface LqDllConfig {
  id: string
  type: 'lq-dll'
  library: string
  host: string
  port: string
  oper: string
  ch: string
  demo: boolean
}

export const lqDllSchema: Schema & { type: 'object' } = {
  type: 'object',
  properties: {
    id: idSchema,
    type: { type: 'string', enum: ['lq-dll'] },
    library: { type: 'string', minLength: 1 },
    host: { type: 'string', default: '127.0.0.1', minLength: 1 },
    port: { type: 'stringish', default: '7628' },
    oper: { type: 'stringish' },
    ch: { type: 'stringish', default: '-1' },
    demo: { type: 'boolean', default: false },
  },
}
