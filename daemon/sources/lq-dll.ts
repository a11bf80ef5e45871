import { BaseSource, type SourceContext } from './source.js'
import type { LqDllConfig } from './lq-dll-config.js'

/** STUB (skeleton): replaced by the real adapter. */
export class LqDllSource extends BaseSource {
  readonly type = 'lq-dll'
  constructor(
    readonly cfg: LqDllConfig,
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
