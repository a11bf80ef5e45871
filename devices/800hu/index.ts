import type { ModuleService, VendorModule } from '../../daemon/core/module.js'
import { boxCommands } from './cli.js'
import { boxesSchema, checkBoxesConfig, type BoxesConfig } from './config.js'
import { devicesRoutes } from './devices-api.js'
import { boxEndpoint } from './endpoint.js'
import { BOX_IDS } from './ids.js'
import { BoxHub } from './hub.js'
import { localApiRoutes } from './local-api.js'
import { BoxSimulator } from './simulator.js'

/** What the daemon keeps of the module: the box hub and its routes. */
export interface BoxService extends ModuleService {
  readonly hub: BoxHub
}

/** The demo's two 800hu boxes (allowed in its config; 4 RJ11 ports each). */
export const DEMO_BOXES = ['00:00:00:00:00:01', '00:00:00:00:00:02'] as const

/**
 * 八百呼 800hu recording boxes (seed 003): they post line states and recordings to the ingest
 * listener and long-poll it for commands; each box is a source `800hu-<mac12>` registered at run
 * time. The module owns the top-level `boxes` key, and serves the local 800hu JSON API.
 */
export const box800huModule: VendorModule = {
  name: '800hu',
  summary: '八百呼 800hu recording boxes posting line states and WAV recordings to the ingest listener',
  settings: { boxes: boxesSchema },
  recordingBoxes: BOX_IDS,
  check(config) {
    checkBoxesConfig(config.boxes as BoxesConfig)
  },
  ingestNeeds(config) {
    const boxes = config.boxes as BoxesConfig
    return boxes.allow.length || boxes.autoRegister ? ['boxes: the 800hu boxes post line states and recordings to the ingest listener; set "ingest" so they can reach telbridge'] : []
  },
  service(ctx): BoxService {
    const recordings = ctx.config.recordings as { maxBytes: number }
    const boxes = ctx.config.boxes as BoxesConfig
    const hub = new BoxHub({
      config: boxes,
      log: ctx.log.child({ component: '800hu' }),
      table: ctx.table,
      bus: ctx.bus,
      metrics: ctx.metrics,
      sources: ctx.sources,
      sourceContext: (id) => ctx.sourceContext(id),
      recordings: ctx.recordings,
      maxUploadBytes: recordings.maxBytes,
      ...(ctx.timeZone ? { timeZone: ctx.timeZone } : {}),
    })
    return {
      hub,
      start: () => hub.start(),
      stop: () => hub.stop(),
      // the box endpoint (upload_record paths)
      ingestRoutes: () => boxEndpoint(hub),
      // GET /v1/devices, POST /v1/devices/:mac/commands, the local 800hu JSON API /voip/api/jsondata.html
      apiRoutes: () => {
        const devices = devicesRoutes(hub)
        const local = localApiRoutes(hub)
        return (app) => {
          devices(app)
          local(app)
        }
      },
    }
  },
  commands: boxCommands,
  async demo(ctx) {
    let boxes: BoxSimulator[] = []
    return {
      settings: { boxes: { allow: [...DEMO_BOXES], names: { [DEMO_BOXES[0]]: 'Front desk', [DEMO_BOXES[1]]: 'Sales' } } },
      started(urls) {
        boxes = DEMO_BOXES.map(
          (mac, i) =>
            new BoxSimulator(
              { target: urls.ingestUrl, mac, channels: 4, intervalSeconds: 5, callRate: 4, answerRatio: 0.7, ringSeconds: [2, 8], talkSeconds: [5, 40], ip: `192.168.1.${21 + i}` },
              ctx.log.child({ component: '800hu-simulator', mac }),
            ),
        )
        for (const b of boxes) b.start()
      },
      lines: (urls) => [
        `800hu boxes:    curl -s ${urls.apiUrl}/v1/devices`,
        `Recordings:     curl -s '${urls.apiUrl}/v1/recordings?limit=5'`,
        `Box 1 dials:    curl -s -XPOST ${urls.apiUrl}/v1/devices/${DEMO_BOXES[0]}/commands -H 'content-type: application/json' -d '{"type":"dial","channel":1,"phone":"13800138000"}'`,
        `Two simulated 800hu recording boxes (4 lines each) post to the box listener at ${urls.ingestUrl}.`,
      ],
      async stop() {
        for (const b of boxes) await b.stop()
      },
    }
  },
}
