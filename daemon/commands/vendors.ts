import type { Cmd } from './cmd.js'

/** STUB (skeleton): issue 5: simulate lq-vack|guoxin|yantong. */
export const vendorCommands: Record<string, Cmd> = {}
