import type { Cmd } from './cmd.js'

/** STUB (skeleton): issue 4: status, service install|uninstall|start|stop|status. */
export const serviceCommands: Record<string, Cmd> = {}
