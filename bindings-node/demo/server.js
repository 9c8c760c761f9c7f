'use strict'
// `node demo/server.js --config DEMO_JSON --port N`: the Express demo server on 127.0.0.1:N.
//
// `make demo` (demo/launch.py) writes the configuration the three servers share and starts
// them; run this directly only with such a file. A missing or unknown option is an error,
// never ignored.
const { parseArgs } = require('node:util')
const { load } = require('./config.js')
const { createApp } = require('./app.js')

function main () {
  let values
  try {
    ({ values } = parseArgs({ options: { config: { type: 'string' }, port: { type: 'string' } } }))
    if (!values.config || !values.port) throw new Error('--config and --port are required')
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new Error(`--port ${values.port}: not a port number`)
  } catch (err) {
    console.error(`usage: node demo/server.js --config DEMO_JSON --port N\n${err.message}`)
    process.exit(2)
  }
  const app = createApp(load(values.config))
  const server = app.listen(Number(values.port), '127.0.0.1', () => {
    console.log(`Express demo on http://127.0.0.1:${server.address().port}/`)
  })
  server.on('error', (err) => {
    console.error(`cannot listen on 127.0.0.1:${values.port}: ${err.message}`)
    process.exit(1)
  })
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      server.close(() => process.exit(0))
      server.closeAllConnections() // keep-alive connections would hold the close
    })
  }
}

main()
