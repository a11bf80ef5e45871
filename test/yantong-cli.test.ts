import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { until } from './helpers/sse.js'

// the compiled bin, as users run it (npm test builds first)
const CLI = join(import.meta.dirname, '..', 'dist', 'daemon', 'cli.js')

t.test('telbridge simulate yantong: help, bad options, a real server that stops on SIGTERM', async (t) => {
  const help = spawnSync(process.execPath, [CLI, 'simulate', 'yantong', '--help'], { encoding: 'utf8', timeout: 20000 })
  t.equal(help.status, 0)
  t.match(help.stdout, /Usage: telbridge simulate yantong/)
  const bad = spawnSync(process.execPath, [CLI, 'simulate', 'yantong', '--staff', 'a b'], { encoding: 'utf8', timeout: 20000 })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /--staff must be/)
  const badPort = spawnSync(process.execPath, [CLI, 'simulate', 'yantong', '--port', 'x'], { encoding: 'utf8', timeout: 20000 })
  t.equal(badPort.status, 2)
  t.match(badPort.stderr, /--port must be a whole number/)

  const child = spawn(process.execPath, [CLI, 'simulate', 'yantong', '--port', '0', '--staff', '8001,8002', '--auth', 'k1', '--companyid', '9'], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  const url = await until(() => /Yantong simulator: (\S+)/.exec(err)?.[1], 15000, 'the simulator URL')
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'action=ExtenStatus&companyid=9&auth=k1&staffid=8002' })
  t.same(await res.json(), { errno: '1', message: '成功', data: { Status: 0, Extension: 8002, CallerNum: '' } })
  const denied = await (await fetch(`${url}?action=HangUp&companyid=9&auth=nope&staffid=8001`)).json()
  t.same(denied, { errno: '3', message: '认证失败', data: [] })
  const code = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  child.kill('SIGTERM')
  t.equal(await code, 0)
})
