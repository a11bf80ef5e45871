import type { Cmd } from './cmd.js'

/** STUB (skeleton): issue 3: simulate 800hu. */
export const boxCommands: Record<string, Cmd> = {}
