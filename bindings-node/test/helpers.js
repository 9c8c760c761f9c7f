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

module.exports = { serve, Client }
