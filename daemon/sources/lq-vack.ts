import { BaseSource, type SourceContext } from './source.js'
import type { LqVackConfig } from './lq-vack-config.js'

/** STUB (skeleton): replaced by the real adapter. */
export class LqVackSource extends BaseSource {
  readonly type = 'lq-vack'
  constructor(
    readonly cfg: LqVackConfig,
    ctx: SourceContext,
  ) {
    super(cfg.id, ctx)
  }
  start(): void {
    this.setStatus('failed', 'not implemented yet')
  }
  async stop(): Promise<void> {
    this.setStatus('stopped')
  }
}
