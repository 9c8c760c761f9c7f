'use strict'
// Test helpers: real servers on 127.0.0.1 (ephemeral ports), Node's fetch, cookies by hand.
const http = require('node:http')

/** Listen on 127.0.0.1:0; returns { url, close }. */
async function serve (app) {
  const server = http.createServer(app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) })
  }
}

/** A browser-like client: keeps cookies by name (host-only, path /), follows no redirects. */
class Client {
  constructor (base) {
    this.base = base
    this.jar = new Map()
  }

  cookieHeader () {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async request (path, { method = 'GET', headers = {}, body, form, json } = {}) {
    const h = { ...headers }
    const cookie = this.cookieHeader()
    if (cookie && h.cookie === undefined) h.cookie = cookie
    if (form) {
      h['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(form).toString()
    }
    if (json) {
      h['content-type'] = 'application/json'
      body = JSON.stringify(json)
    }
    const res = await fetch(this.base + path, { method, headers: h, body, redirect: 'manual' })
    const setCookies = res.headers.getSetCookie()
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      const cleared = attrs.some((a) => /^max-age=0$/i.test(a)) || value === ''
      if (cleared) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    const text = await res.text()
    return { status: res.status, headers: res.headers, setCookies, text, json: () => JSON.parse(text) }
  }

  get (path, opts) { return this.request(path, opts) }
  post (path, opts) { return this.request(path, { ...opts, method: 'POST' }) }
}

/**
 * Barriers a test controls: a route calls `reach(name)` and waits for its promise; the test
 * awaits `arrived(name)` (the request got that far) and calls `release(name)`. Nothing waits on
 * a timer, so the order of events is the test's, under any load.
 */
class Gates {
  constructor () { this.gates = new Map() }

  #gate (name) {
    let g = this.gates.get(name)
    if (!g) {
      g = {}
      g.arrived = new Promise((resolve) => { g.arrive = resolve })
      g.released = new Promise((resolve) => { g.release = resolve })
      this.gates.set(name, g)
    }
    return g
  }

  /** In the app: signal arrival at `name`, resolve when the test releases it. */
  reach (name) {
    const g = this.#gate(name)
    g.arrive()
    return g.released
  }

  arrived (name) { return this.#gate(name).arrived }
  release (name) { this.#gate(name).release() }
}

module.exports = { serve, Client, Gates }
