import type { SourceConfig } from './schemas.js'
import { GuoxinSource } from './guoxin.js'
import { LqDllSource } from './lq-dll.js'
import { LqSocketSource } from './lq-socket.js'
import { LqVackSource } from './lq-vack.js'
import type { Source, SourceContext } from './source.js'
import { YantongSource } from './yantong.js'

export function createSource(sc: SourceConfig, ctx: SourceContext): Source {
  switch (sc.type) {
    case 'lq-socket':
      return new LqSocketSource(sc, ctx)
    case 'lq-dll':
      return new LqDllSource(sc, ctx)
    case 'lq-vack':
      return new LqVackSource(sc, ctx)
    case 'guoxin':
      return new GuoxinSource(sc, ctx)
    case 'yantong':
      return new YantongSource(sc, ctx)
  }
}
