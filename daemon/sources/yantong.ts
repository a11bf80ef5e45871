import { BaseSource, type SourceContext } from './source.js'
import type { YantongConfig } from './yantong-config.js'

/** STUB (skeleton): replaced by the real adapter. */
export class YantongSource extends BaseSource {
  readonly type = 'yantong'
  constructor(
    readonly cfg: YantongConfig,
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
