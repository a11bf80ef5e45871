import t from 'tap'
import iconv from 'iconv-lite'
import { decodePairs, decodeText, encodePairs, encodeText, percentBytes, percentDecode, percentEncode, type PercentStyle } from '../protocols/text/percent.js'
import { prng } from '../protocols/testing/chunks.js'

const ALPHABET = ['a', 'Z', '0', ' ', '+', '%', '&', '=', '*', '-', '.', '_', '~', '!', '/', '?', '#', '\n', '中', '文', '镕', '王', '芳', '·', 'é', '€']

function randomText(rnd: () => number, max = 12): string {
  let s = ''
  for (let n = Math.floor(rnd() * max); n > 0; n--) s += ALPHABET[Math.floor(rnd() * ALPHABET.length)]
  return s
}

t.test('encode → decode, every charset and style', async (t) => {
  const rnd = prng(5)
  for (const charset of ['utf-8', 'gbk', 'gb18030']) {
    for (const style of ['form', 'uri'] as PercentStyle[]) {
      for (let n = 0; n < 300; n++) {
        // € is not in GBK: text GBK can carry only
        const s = randomText(rnd).replace(/€/g, charset === 'gbk' ? '' : '€')
        const enc = percentEncode(s, charset, style)
        if (!/^[A-Za-z0-9*\-._~+%]*$/.test(enc)) return t.fail(`${charset}/${style}: ${JSON.stringify(s)} → ${enc}`)
        if (percentDecode(enc, charset) !== s) return t.equal(percentDecode(enc, charset), s, `${charset}/${style} ${JSON.stringify(s)}`)
        const pairs: [string, string][] = [
          [randomText(rnd, 4) || 'k', s],
          ['x', randomText(rnd).replace(/€/g, '')],
        ]
        if (JSON.stringify(decodePairs(encodePairs(pairs, charset, style), charset)) !== JSON.stringify(pairs)) return t.same(decodePairs(encodePairs(pairs, charset, style), charset), pairs)
      }
      t.pass(`${charset} ${style}: 300 round trips`)
    }
  }
})

t.test('form style in UTF-8 is what URLSearchParams writes; uri style keeps ~ and writes %20', async (t) => {
  const rnd = prng(6)
  for (let n = 0; n < 500; n++) {
    const s = randomText(rnd)
    if (percentEncode(s, 'utf-8', 'form') !== new URLSearchParams({ x: s }).toString().slice(2)) return t.fail(JSON.stringify(s))
  }
  t.equal(percentEncode('a b~*', 'utf-8', 'uri'), 'a%20b~%2A')
  t.equal(percentEncode('a b~*', 'utf-8', 'form'), 'a+b%7E*')
  t.equal(percentEncode('王芳 A', 'gbk'), '%CD%F5%B7%BC+A')
  t.equal(percentEncode('王芳 A', 'utf-8'), '%E7%8E%8B%E8%8A%B3+A')
})

t.test('decoding: + is a space, broken escapes stay, raw bytes (latin1) are bytes', async (t) => {
  t.same([...percentBytes('%C4%E3a+')], [0xc4, 0xe3, 0x61, 0x20])
  t.same(decodePairs('a=1&a=2&b&&c=%zz&d=x+y&e=%4', 'utf-8'), [
    ['a', '1'],
    ['a', '2'],
    ['b', ''],
    ['c', '%zz'],
    ['d', 'x y'],
    ['e', '%4'],
  ])
  t.equal(percentDecode('\xc4\xe3', 'gbk'), '你', 'a raw request line gives GBK bytes as latin1 characters')
  t.equal(percentDecode('你', 'utf-8'), '你', 'characters above U+00FF are taken as UTF-8')
  t.equal(percentDecode('%F0%9F%98%80😀', 'utf-8'), '😀😀')
  t.same(decodePairs('', 'gbk'), [])
})

t.test('encodeText/decodeText follow iconv-lite for every charset', async (t) => {
  for (const cs of ['gbk', 'gb18030', 'utf-8']) {
    t.same(encodeText('中文 a', cs), iconv.encode('中文 a', cs))
    t.equal(decodeText(iconv.encode('中文 a', cs), cs), '中文 a')
  }
  t.same(encodeText('€', 'gbk'), iconv.encode('€', 'gbk'), "a character GBK lacks: iconv-lite's substitute")
})
