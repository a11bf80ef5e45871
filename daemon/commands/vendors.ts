import { untilSignal, type Cmd } from './cmd.js'

/** STUB (skeleton): issue 5: simulate lq-vack|guoxin|yantong. */
export const vendorCommands: Record<string, Cmd> = {
  'simulate lq-vack': {
    usage: `Usage: telbridge simulate lq-vack [--host 127.0.0.1] [--port 7627] [--channels 8] [--agents 801,802]
                                [--secret lcall] [--rate 0] [--answer-ms 2000] [--talk-ms 8000]
                                [--cust-url URL] [--ivr-url URL] [--time-zone Asia/Shanghai]

A 小灵呼 LQ-SDK server (seed 000): POST or GET /v/vack with vo_id, answered in gb2312 XML
(_NA_ for empty values, the error attribute for a wrong _secs_, an unknown vo_id or a refused
action). --channels external lines (外线) then one agent channel (内线) per agent. A dial goes
拨号 → 通话 → 空闲 (--answer-ms to answer, --talk-ms to hang up by itself; 0: until hung up);
--rate starts random inbound calls per second. --cust-url / --ivr-url: the mode 1 callbacks
(custURL for each inbound call that reaches an agent, popCRURL after each push2flow), e.g.
--cust-url 'http://127.0.0.1:7701/lq/lqv/cust?'.`,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7627' },
      channels: { type: 'string', default: '8' },
      agents: { type: 'string', default: '801,802' },
      secret: { type: 'string', default: 'lcall' },
      rate: { type: 'string', default: '0' },
      'answer-ms': { type: 'string', default: '2000' },
      'talk-ms': { type: 'string', default: '8000' },
      'cust-url': { type: 'string' },
      'ivr-url': { type: 'string' },
      'time-zone': { type: 'string' },
    },
    async run(v) {
      const { LqVackSimulator, parseVackSimOptions } = await import('../simulate/lq-vack.js')
      const { createLogger } = await import('../log.js')
      const sim = new LqVackSimulator(parseVackSimOptions(v), createLogger('info'))
      await sim.start()
      process.stderr.write(`LQ vack simulator: ${sim.url} (secret ${sim.opts.secret || 'none'}; agents ${sim.opts.agents.join(',')}; ${sim.opts.channels} lines)\n`)
      await untilSignal(sim)
      return 0
    },
  },
  'simulate guoxin': {
    usage: `Usage: telbridge simulate guoxin [--host 127.0.0.1] [--port 12121] [--extensions 8001-8008]
                               [--push http://127.0.0.1:7701/guoxin/gx/push] [--encoding utf-8]
                               [--ring-seconds 3] [--talk-seconds 15] [--calls-per-minute 0]
                               [--supervisors 8008]

A 国信 Guoxin call center (seed 001): /bridge/callctrl?opt=… answered with the documented HTTP
status codes, /bridge/jsoncfg?opt=EXTNUM_STATE, and a push callback (GET on --push) on every state
change. Dial → the agent's phone → the customer rings → talking → idle, each step --ring-seconds
apart; calls last --talk-seconds (0: until hung up). Finished calls appear in CALL_LOG_QUERY and
have a recording at /Oms/FileDownServlet?callid=…. --supervisors may monitor, barge and
force-hang-up (default: the last extension). --calls-per-minute starts random calls.`,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '12121' },
      extensions: { type: 'string', default: '8001-8008' },
      push: { type: 'string' },
      encoding: { type: 'string', default: 'utf-8' },
      'ring-seconds': { type: 'string', default: '3' },
      'talk-seconds': { type: 'string', default: '15' },
      'calls-per-minute': { type: 'string', default: '0' },
      supervisors: { type: 'string' },
    },
    async run(v) {
      const { GuoxinSimulator, parseGuoxinSimOptions } = await import('../simulate/guoxin.js')
      const { createLogger } = await import('../log.js')
      const sim = new GuoxinSimulator(parseGuoxinSimOptions(v), createLogger('info'))
      await sim.start()
      process.stderr.write(`Guoxin simulator: http://${sim.opts.host}:${sim.port} (extensions ${sim.opts.extensions.join(',')}; pushes to ${sim.opts.push ?? 'nowhere'})\n`)
      await untilSignal(sim)
      return 0
    },
  },
  'simulate yantong': {
    usage: `Usage: telbridge simulate yantong [--host 127.0.0.1] [--port 8088] [--path /api] [--staff 8001,8002]
                                [--companyid 8] [--auth yantong-demo] [--rate 0]
                                [--ring-seconds 3] [--talk-seconds 15]

A 言通 Yantong API server (seed 004): errno JSON as PHP writes it, companyid/auth checked, one
extension per staff id with a state machine (SendDial: ringing 8 → talking 1 → idle 0), call
records with increasing ids (GetCDRList with PId), recordings (GetRecord), ExtenSpy, customer and
task data, GetUserInfo. --rate starts random calls per minute (0: only what requests start);
--talk-seconds 0 keeps calls up until HangUp.`,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8088' },
      path: { type: 'string', default: '/api' },
      staff: { type: 'string', default: '8001,8002' },
      companyid: { type: 'string', default: '8' },
      auth: { type: 'string', default: 'yantong-demo' },
      rate: { type: 'string', default: '0' },
      'ring-seconds': { type: 'string', default: '3' },
      'talk-seconds': { type: 'string', default: '15' },
    },
    async run(v) {
      const { YantongSimulator, parseYantongSimOptions } = await import('../simulate/yantong.js')
      const { createLogger } = await import('../log.js')
      const sim = new YantongSimulator(parseYantongSimOptions(v), createLogger('info'))
      await sim.start()
      process.stderr.write(`Yantong simulator: ${sim.url} (companyid ${sim.opts.companyid}, auth ${sim.opts.auth}, staff ${sim.opts.staff.join(',')})\n`)
      await untilSignal(sim)
      return 0
    },
  },
}
