/**
 * Where a JSON text stops being JSON: V8 names a position for some syntax errors and not for others
 * ("Unexpected token '}', … is not valid JSON"), so a config file's mistake is located by this small
 * scanner instead, as a 1-based line and column a person can go to.
 */
export interface JsonSyntaxError {
  line: number
  column: number
  /** what the scanner expected there */
  expected: string
}

/** The first syntax error of `text`, or null when it is JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | null {
  let i = 0
  const fail = (expected: string): never => {
    throw new Located(i, expected)
  }
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail('a value (a string, number, object, array, true, false or null)')
  }
  const string = () => {
    if (text[i] !== '"') fail('a double-quoted string')
    i++
    for (;;) {
      if (i >= text.length) fail('the closing " of the string')
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) fail('no control character inside a string (write \\n, \\t …)')
      if (c === 0x5c) {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('four hex digits after \\u')
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
        else fail('an escape such as \\" \\\\ \\n or \\uXXXX')
      } else i++
    }
  }
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (!m) fail('a number')
    i += m![0].length
  }
  const value = (depth: number): void => {
    if (depth > 512) fail('less nesting')
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail(text[i] === '}' ? 'another key (no comma before })' : 'a double-quoted key')
        string()
        ws()
        if (text[i] !== ':') fail('a colon after the key')
        i++
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return
        }
        fail('a comma or }')
      }
    }
    if (c === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] === ']') fail('another value (no comma before ])')
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return
        }
        fail('a comma or ]')
      }
    }
    if (c === '"') return string()
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number()
    if (c === 't') return literal('true')
    if (c === 'f') return literal('false')
    if (c === 'n') return literal('null')
    fail(i >= text.length ? 'a value, but the file ended' : 'a value (a string, number, object, array, true, false or null)')
  }
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1 // a BOM, as Windows editors write it
    value(0)
    ws()
    if (i < text.length) fail('the end of the file after the value')
    return null
  } catch (err) {
    if (!(err instanceof Located)) throw err
    const before = text.slice(0, err.at)
    const line = before.split('\n').length
    return { line, column: err.at - before.lastIndexOf('\n'), expected: err.expected }
  }
}

class Located extends Error {
  constructor(
    readonly at: number,
    readonly expected: string,
  ) {
    super(expected)
  }
}
