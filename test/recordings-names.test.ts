import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { fileStem } from '../daemon/core/recordings/record.js'
import { boxUpload, MAC, wav } from './helpers/boxes.js'
import { getJson } from './helpers/sse.js'
import { listFiles } from './helpers/recordings.js'

/** Issue 9 item 5: callids Windows cannot use as file names are stored under safe names; the API keeps the real callid. */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

t.test('fileStem: device names and a final dot are percent-encoded, everything else unchanged', async (t) => {
  const cases: [string, string][] = [
    ['CON', '%43ON'],
    ['con', '%63on'],
    ['con.txt', '%63on.txt'],
    ['Com1.wav', '%43om1.wav'],
    ['LPT9', '%4CPT9'],
    ['nul.tar.gz', '%6Eul.tar.gz'],
    ['aux~2', '%61ux~2'],
    ['PRN~17', '%50RN~17'],
    ['abc.', 'abc%2E'],
    ['abc.~3', 'abc%2E~3'],
    ['CON.', '%43ON%2E'],
    // not device names: unchanged, like every callid before
    ['CONSOLE', 'CONSOLE'],
    ['COM10', 'COM10'],
    ['xcon', 'xcon'],
    ['_CON', '_CON'],
    ['7687658987667780097', '7687658987667780097'],
    ['a.b-c_d', 'a.b-c_d'],
    ['abc~2', 'abc~2'],
  ]
  for (const [id, stem] of cases) t.equal(fileStem(id), stem, id)
  t.equal(new Set(cases.map(([id]) => fileStem(id))).size, cases.length, 'no two callids share a name')
  // an encoded name contains %, which no callid does: it never equals another callid's name
  for (const [id] of cases)
    if (fileStem(id) !== id)
      t.notOk(
        cases.some(([other]) => other === fileStem(id)),
        `${id}: its name is no callid`,
      )
})

async function daemonOn(dir: string): Promise<{ daemon: Daemon; api: string; ingest: string }> {
  const config = parseConfig({ api: { port: 0 }, ingest: { host: '127.0.0.1', port: 0 }, dataDir: dir, boxes: { allow: [MAC] } })
  const daemon = new Daemon(config, { log: pino({ level: process.env.TB_TEST_LOG ?? 'silent' }) })
  const { apiUrl, ingestUrl } = await daemon.start()
  return { daemon, api: apiUrl, ingest: ingestUrl! }
}

t.test('Windows device names through the box endpoint: safe names on disk, real callids in the API, after a restart too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-names-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  let d = await daemonOn(dir)
  t.teardown(() => d.daemon.stop())
  const now = Math.floor(Date.now() / 1000)
  const callids = ['CON', 'con.txt', 'Com1.wav', 'nul', 'LPT1', 'aux.', 'abc.', '_CON', 'ordinary-1']
  const data = new Map<string, Buffer>()
  for (const [i, callid] of callids.entries()) {
    const audio = wav(200, i + 1)
    data.set(callid, audio)
    const r = await boxUpload(`${d.ingest}/voip/api/upload_record`, { cmd: 'upload', satellite: MAC, channel: '1', callid, start_time_secs: String(now - 30), recorded: '1' }, { data: audio })
    t.equal(r.status, 200, callid)
    t.equal(r.body.callid, callid, `${callid}: the box hears its callid back`)
  }
  // the same device name with other content: the ~2 copy is encoded the same way
  const second = wav(300, 99)
  t.equal((await boxUpload(`${d.ingest}/upload_record`, { cmd: 'upload', satellite: MAC, callid: 'CON', start_time_secs: String(now - 30) }, { data: second })).status, 200)

  const names = (await listFiles(join(dir, 'recordings'))).filter((f) => !f.startsWith('.tmp')).map((f) => f.split('/').pop()!)
  const expected = ['%43ON.wav', '%43ON~2.wav', '%63on.txt.wav', '%43om1.wav.wav', '%6Eul.wav', '%4CPT1.wav', '%61ux%2E.wav', 'abc%2E.wav', '_CON.wav', 'ordinary-1.wav']
  t.same(names.filter((n) => !n.endsWith('.json')).sort(), [...expected].sort(), 'audio files under safe names')
  t.same(names.filter((n) => n.endsWith('.json')).sort(), expected.map((n) => `${n}.json`).sort(), 'each with its sidecar')
  const windowsUnsafe = /^(CON|PRN|AUX|NUL|COM\d|LPT\d)(\.|$)|[. ]$/i
  t.same(
    names.filter((n) => windowsUnsafe.test(n)),
    [],
    'no name Windows reserves',
  )

  const check = async (label: string) => {
    for (const callid of callids) {
      const r = await getJson(`${d.api}/v1/recordings/${encodeURIComponent(callid)}`)
      t.equal(r.status, 200, `${label}: /v1/recordings/${callid}`)
      t.equal(r.body.callid, callid, `${label}: the real callid`)
      t.equal(r.body.id, callid)
      t.equal(r.body.file.split('/').pop(), `${fileStem(callid)}.wav`, `${label}: file is the safe name`)
      const a = await fetch(`${d.api}/v1/recordings/${encodeURIComponent(callid)}/audio`)
      t.equal(a.status, 200, `${label}: /audio of ${callid}`)
      t.equal(sha256(new Uint8Array(await a.arrayBuffer())), sha256(data.get(callid)!), `${label}: the bytes of ${callid}`)
    }
    const two = await getJson(`${d.api}/v1/recordings/CON~2`)
    t.equal(two.body.callid, 'CON')
    t.equal(two.body.sha256, sha256(second))
    const list = await getJson(`${d.api}/v1/recordings?callid=CON`)
    t.same(list.body.recordings.map((r: { id: string }) => r.id).sort(), ['CON', 'CON~2'], `${label}: both CON recordings by callid`)
  }
  await check('stored')
  const sidecar = JSON.parse(
    await readFile(
      join(
        dir,
        'recordings',
        (await listFiles(join(dir, 'recordings'))).find((f) => f.endsWith('/%43ON.wav.json'))!,
      ),
      'utf8',
    ),
  )
  t.equal(sidecar.callid, 'CON', 'the sidecar holds the real callid')

  await d.daemon.stop()
  d = await daemonOn(dir)
  t.equal(d.daemon.recordings.size, callids.length + 1, 'the rebuilt index has them all')
  await check('after a restart')
})

t.test('a store written before safe names (CON.wav on Linux) still indexes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tb-names-old-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const day = join(dir, 'recordings', '2024', '05', '01')
  await mkdir(day, { recursive: true })
  const audio = wav(100, 5)
  await writeFile(join(day, 'CON.wav'), audio)
  const md5 = createHash('md5').update(audio).digest('hex')
  const side = {
    format: 'telbridge.recording/1',
    id: 'CON',
    callid: 'CON',
    box: '000000000001',
    receivedAt: '2024-05-01T08:00:00.000Z',
    file: '2024/05/01/CON.wav',
    ext: 'wav',
    size: audio.length,
    md5,
    sha256: sha256(audio),
    fields: { callid: 'CON' },
  }
  await writeFile(join(day, 'CON.wav.json'), JSON.stringify(side))
  // an encoded name without its sidecar (a crash before it) is the store's: moved to orphans like any other
  await writeFile(join(day, '%4EUL.wav'), audio)
  const d = await daemonOn(dir)
  t.teardown(() => d.daemon.stop())
  const r = await getJson(`${d.api}/v1/recordings/CON`)
  t.equal(r.status, 200)
  t.equal(r.body.file, '2024/05/01/CON.wav', 'indexed under the name it has')
  const a = await fetch(`${d.api}/v1/recordings/CON/audio`)
  t.equal(sha256(new Uint8Array(await a.arrayBuffer())), sha256(audio))
  t.same(await listFiles(join(dir, 'recordings', 'orphans')), ['2024/05/01/%4EUL.wav'], 'encoded orphan recognised')
})
