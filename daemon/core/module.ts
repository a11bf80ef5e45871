import type { Cmd } from './cmd.js'
import type { EventBus } from './events.js'
import type { RoutePlugin } from './http.js'
import type { Logger } from './log.js'
import type { Metrics } from './metrics.js'
import type { PopHub } from './pops.js'
import type { BoxIds } from './recordings/record.js'
import type { RecordingStore } from './recordings/store.js'
import type { ObjectSchema, Schema } from './schema.js'
import type { Source, SourceContext } from './source.js'
import type { ChannelTable } from './table.js'

/**
 * One vendor as the daemon sees it. The registry (daemon/registry.ts) lists every module; the config
 * schema, source creation, API and ingest routes, the CLI's `simulate` commands and the demo loop
 * over it, so a new vendor is one `protocols/<v>`, one module folder, its tests and one registry line
 * (docs/adding-a-vendor.md).
 */
export interface VendorModule {
  /** the module's name: the source `type` when it has `source`, else a name of its own ("800hu") */
  readonly name: string
  /** one line for docs and `--help` */
  readonly summary: string
  /** `sources[]` entries with `"type": name` */
  readonly source?: SourceKind
  /** top-level config keys the module owns (800hu: `boxes`; LQ socket: `lqServer`) with their schemas */
  readonly settings?: Readonly<Record<string, Schema>>
  /** checks across keys once the whole config is valid; throw ConfigError naming the key */
  check?(config: ModuleConfigView): void
  /**
   * What of this module's config needs the ingest listener (vendor callbacks, devices that post), one
   * line each; `check-config` and `run` warn with them when `ingest` is absent.
   */
  ingestNeeds?(config: ModuleConfigView): string[]
  /** started once per daemon, after the sources are created (the 800hu box hub, the LQ legacy server) */
  service?(ctx: ModuleContext): ModuleService | null
  /** routes on the API listener that serve every source of this module (behind the token) */
  apiRoutes?(ctx: ModuleContext): RoutePlugin
  /** how the module's devices are named in the recording store, when they upload recordings (one module at most) */
  readonly recordingBoxes?: BoxIds
  /** `telbridge simulate <kind>` commands, keyed "simulate <kind>" */
  readonly commands?: Readonly<Record<string, Cmd>>
  /** the module's part of `telbridge demo`: its simulators and the config that points at them */
  demo?(ctx: DemoContext): Promise<DemoPart>
}

export interface SourceKind {
  /** schema of one `sources[]` entry (`id` and `type` included) */
  readonly schema: ObjectSchema
  // the validated entry's type is the module's own; the registry only passes it through
  create(config: any, ctx: SourceContext): Source // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The validated config as modules may read it: their own keys, and the shared ones they cross-check. */
export interface ModuleConfigView {
  readonly api: { readonly host: string; readonly port: number }
  readonly sources: readonly { readonly id: string; readonly type: string }[]
  readonly [key: string]: unknown
}

/** The sources of the daemon: modules that create sources at run time (800hu boxes) add them here. */
export interface SourceRegistry {
  get(id: string): Source | undefined
  has(id: string): boolean
  values(): IterableIterator<Source>
  /** add a source created at run time; throws when the id is taken */
  add(source: Source): void
}

/** What the daemon hands a module: the shared services, never the daemon itself. */
export interface ModuleContext {
  readonly config: ModuleConfigView
  readonly log: Logger
  readonly table: ChannelTable
  readonly bus: EventBus
  readonly pops: PopHub
  readonly metrics: Metrics
  readonly recordings: RecordingStore
  readonly sources: SourceRegistry
  /** the context a source of this daemon is created with (its logger a child naming `id`) */
  sourceContext(id: string): SourceContext
  readonly timeZone?: string
}

/** A module's long-lived part beside its sources. */
export interface ModuleService {
  start(): Promise<void> | void
  stop(): Promise<void>
  /** routes on the API listener */
  apiRoutes?(): RoutePlugin
  /** routes on the ingest listener (device-facing) */
  ingestRoutes?(): RoutePlugin
}

export interface DemoContext {
  readonly log: Logger
  /** LQ-Connect simulator port asked for on the command line (0: any) */
  readonly lqPort: number
}

export interface DemoUrls {
  readonly apiUrl: string
  /** the ingest listener the demo always runs */
  readonly ingestUrl: string
}

export interface DemoPart {
  /** `sources[]` entries pointing at the module's simulators */
  readonly sources?: readonly Record<string, unknown>[]
  /** top-level config keys (800hu: `boxes`) */
  readonly settings?: Readonly<Record<string, unknown>>
  /** once the daemon listens: point callbacks at the ingest listener, start devices */
  started?(urls: DemoUrls): Promise<void> | void
  /** lines for the demo's banner, e.g. a curl command that dials through this vendor */
  lines?(urls: DemoUrls): readonly string[]
  /** stops the simulators */
  stop(): Promise<void>
}
