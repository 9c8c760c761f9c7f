'use strict'
// A chaos client in Node (tests/src/bin/redis_chaos.rs starts it): 16 concurrent loops validate
// the tokens the run hands over, through the Promise API on the run's Redis, until stdin
// closes; then one JSON line of tallies on stdout. Never prints a token.
//
//   node client.js BINDING_DIR STORE_URL TOKENS_JSON < pipe

const fs = require('node:fs')
const path = require('node:path')

const CONCURRENCY = 16

async function main () {
  const [bindingDir, url, tokensPath] = process.argv.slice(2)
  const { SessionManager } = require(path.resolve(bindingDir))
  const { live, ended } = JSON.parse(fs.readFileSync(tokensPath, 'utf8'))
  const manager = new SessionManager({ store: url, sweepIntervalMs: null })
  const tally = { answers: 0, right: 0, unavailable: 0, wrong: 0, slowest_failure_ms: 0 }
  const wrong = []
  let stop = false
  const note = (kind, began, what) => {
    tally.answers++
    tally[kind]++
    if (kind === 'unavailable') {
      const took = Number(process.hrtime.bigint() - began) / 1e6
      tally.slowest_failure_ms = Math.max(tally.slowest_failure_ms, took)
    }
    if (what && wrong.length < 5) wrong.push(what)
  }
  const loop = async (index) => {
    let n = index
    while (!stop) {
      n += CONCURRENCY
      const began = process.hrtime.bigint()
      const ending = n % 10 === 0
      const [token, user] = ending ? [ended[Math.floor(n / 10) % ended.length], null] : live[n % live.length]
      let result
      try {
        result = await manager.validate(token, { https: true })
      } catch (e) {
        if (e.code === 'store_unavailable') note('unavailable', began)
        else note('wrong', began, `an error other than store_unavailable: ${e.code}`)
        continue
      }
      if (ending) note(result.valid ? 'wrong' : 'right', began, result.valid ? 'a signed-out token validated' : '')
      else if (!result.valid) note('wrong', began, `a live session of ${user} was rejected: ${result.reason}`)
      else if (result.user !== user) note('wrong', began, `a token of ${user} validated as ${result.user}`)
      else note('right', began)
    }
  }
  const loops = Array.from({ length: CONCURRENCY }, (_, i) => loop(i))
  process.stdout.write('ready\n')
  process.stdin.resume()
  process.stdin.on('end', () => { stop = true })
  await Promise.all(loops)
  process.stdout.write(JSON.stringify({ language: 'Node', ...tally, wrong_examples: wrong }) + '\n')
}

main().catch((e) => {
  process.stderr.write(`chaos client: ${e.stack || e}\n`)
  process.exit(1)
})
