import { isValidTimeZone } from '../../protocols/lq-pop/index.js'

/**
 * A small schema checker for the config file: defaults, ranges, enums, and unknown keys rejected by
 * name. Hand-written because every message must name the key path and what was expected, and the
 * config is small; later sources add their own object schemas.
 */

export class ConfigError extends Error {
  readonly path: string
  constructor(path: string, expected: string, got: unknown) {
    super(`${path || '(root)'}: expected ${expected}, got ${describe(got)}`)
    this.path = path
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v)
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`
  return typeof v // a symbol or a function: no JSON value is either
}

/** Every schema node may carry `doc`: one line for the configuration reference (docs/configuration.md). */
interface Doc {
  doc?: string
}

export type StringSchema = Doc & {
  type: 'string'
  default?: string
  optional?: boolean
  enum?: readonly string[]
  pattern?: RegExp
  patternText?: string
  minLength?: number
  maxLength?: number
  check?: (v: string) => string | null
}
export type NumberSchema = Doc & { type: 'integer' | 'number'; default?: number; optional?: boolean; min?: number; max?: number }
export type BooleanSchema = Doc & { type: 'boolean'; default?: boolean; optional?: boolean }
export type PortSchema = Doc & { type: 'port'; default?: number; optional?: boolean }
export type ObjectSchema = Doc & { type: 'object'; properties: Readonly<Record<string, Schema>>; optional?: boolean; default?: Readonly<Record<string, unknown>> }
export type ArraySchema = Doc & { type: 'array'; items: Schema; optional?: boolean; default?: readonly unknown[]; minItems?: number; maxItems?: number }
export type RecordSchema = Doc & { type: 'record'; values: Schema; optional?: boolean; default?: Readonly<Record<string, unknown>> }
/** a tagged union: the value of `tag` picks the object schema */
export type UnionSchema = Doc & { type: 'union'; tag: string; variants: Readonly<Record<string, ObjectSchema>>; optional?: boolean }
/** string or integer, kept as string (vendor fields like port "7628" or ch -1) */
export type StringishSchema = Doc & { type: 'stringish'; default?: string; optional?: boolean; pattern?: RegExp; patternText?: string }

export type Schema = StringSchema | NumberSchema | BooleanSchema | PortSchema | ObjectSchema | ArraySchema | RecordSchema | UnionSchema | StringishSchema

/**
 * The validated value's type, from a schema declared `as const satisfies Schema`: so each config
 * shape is written once. A key is optional in the type when its schema is `optional` without a
 * `default`; validated values are deeply frozen, hence readonly.
 */
export type Infer<S> = S extends { type: 'string'; enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' | 'stringish' }
    ? string
    : S extends { type: 'integer' | 'number' | 'port' }
      ? number
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'array'; items: infer I }
          ? readonly Infer<I>[]
          : S extends { type: 'record'; values: infer V }
            ? Readonly<Record<string, Infer<V>>>
            : S extends { type: 'union'; variants: infer V }
              ? { [K in keyof V]: Infer<V[K]> }[keyof V]
              : S extends { type: 'object'; properties: infer P }
                ? InferObject<P>
                : never

type OptionalKey<S> = S extends { optional: true } ? (S extends { default: unknown } ? false : true) : false
type InferObject<P> = Simplify<
  { readonly [K in keyof P as OptionalKey<P[K]> extends true ? never : K]: Infer<P[K]> } & {
    readonly [K in keyof P as OptionalKey<P[K]> extends true ? K : never]?: Infer<P[K]>
  }
>
type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** Returns a new, validated, defaulted and deeply frozen value; throws ConfigError naming the path. */
export function validate(schema: Schema, value: unknown, path = ''): unknown {
  return deepFreeze(check(schema, value, path))
}

function check(s: Schema, v: unknown, path: string): unknown {
  if (v === undefined) {
    if ('default' in s && s.default !== undefined) v = structuredClone(s.default)
    else if (s.type === 'object' && !s.optional) v = {}
    else if (s.optional) return undefined
    else throw new ConfigError(path, `a value (${s.type})`, v)
  }
  switch (s.type) {
    case 'string': {
      if (typeof v !== 'string') throw new ConfigError(path, 'a string', v)
      if (s.enum && !s.enum.includes(v)) throw new ConfigError(path, `one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`, v)
      if (s.minLength !== undefined && v.length < s.minLength) throw new ConfigError(path, `a string of at least ${s.minLength} characters`, v)
      if (s.maxLength !== undefined && v.length > s.maxLength) throw new ConfigError(path, `a string of at most ${s.maxLength} characters`, v)
      if (s.pattern && !s.pattern.test(v)) throw new ConfigError(path, s.patternText ?? `a string matching ${s.pattern}`, v)
      const problem = s.check?.(v)
      if (problem) throw new ConfigError(path, problem, v)
      return v
    }
    case 'stringish': {
      if (typeof v === 'number' && Number.isInteger(v)) v = String(v)
      if (typeof v !== 'string') throw new ConfigError(path, 'a string or an integer', v)
      if (s.pattern && !s.pattern.test(v)) throw new ConfigError(path, s.patternText ?? `a value matching ${s.pattern}`, v)
      return v
    }
    case 'integer':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v) || (s.type === 'integer' && !Number.isInteger(v))) {
        throw new ConfigError(path, s.type === 'integer' ? 'an integer' : 'a number', v)
      }
      if ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max)) {
        throw new ConfigError(path, `a ${s.type === 'integer' ? 'whole ' : ''}number from ${s.min ?? '-∞'} to ${s.max ?? '∞'}`, v)
      }
      return v
    }
    case 'port':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new ConfigError(path, 'a TCP port (0–65535)', v)
      return v
    case 'boolean':
      if (typeof v !== 'boolean') throw new ConfigError(path, 'true or false', v)
      return v
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, 'an object', v)
      const out: Record<string, unknown> = {}
      for (const key of Object.keys(v)) {
        if (!Object.hasOwn(s.properties, key)) {
          const known = Object.keys(s.properties).join(', ')
          throw new ConfigError(join(path, key), `no such key (known here: ${known})`, (v as Record<string, unknown>)[key])
        }
      }
      for (const [key, sub] of Object.entries(s.properties)) {
        const r = check(sub, (v as Record<string, unknown>)[key], join(path, key))
        if (r !== undefined) out[key] = r
      }
      return out
    }
    case 'record': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, 'an object', v)
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) {
        // a key such as "__proto__" would set the prototype, and "toString" shadow a method some code calls:
        // every name Object.prototype has is refused, like "prototype"
        if (k in Object.prototype || k === 'prototype')
          throw new ConfigError(join(path, k), 'a key that is not a name of Object.prototype (__proto__, constructor, toString, hasOwnProperty…) or prototype', k)
        out[k] = check(s.values, x, join(path, k))
      }
      return out
    }
    case 'array': {
      if (!Array.isArray(v)) throw new ConfigError(path, 'an array', v)
      if (s.minItems !== undefined && v.length < s.minItems) throw new ConfigError(path, `at least ${s.minItems} item(s)`, v)
      if (s.maxItems !== undefined && v.length > s.maxItems) throw new ConfigError(path, `at most ${s.maxItems} item(s)`, v)
      return v.map((x, i) => check(s.items, x, `${path}[${i}]`))
    }
    case 'union': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, 'an object', v)
      const tag = (v as Record<string, unknown>)[s.tag]
      const variant = typeof tag === 'string' && Object.hasOwn(s.variants, tag) ? s.variants[tag] : undefined
      if (!variant)
        throw new ConfigError(
          join(path, s.tag),
          `one of ${Object.keys(s.variants)
            .map((k) => JSON.stringify(k))
            .join(', ')}`,
          tag,
        )
      return check(variant, v, path)
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
export const idSchema = {
  type: 'string',
  pattern: ID_PATTERN,
  patternText: 'an id of letters, digits, _ . - (at most 64, starting with a letter or digit)',
  doc: 'the source id: names its channels (`<id>:<channel>`), metrics and log lines',
} as const satisfies StringSchema

export function checkTimeZone(tz: string): string | null {
  return isValidTimeZone(tz) ? null : 'an IANA time zone such as "Asia/Shanghai"'
}
