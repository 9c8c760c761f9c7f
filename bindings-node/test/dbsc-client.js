'use strict'
// A scripted DBSC client for the test suites (issue 15, docs/dbsc.md): test-only, never shipped.
//
// It speaks the wire format Chrome 145+ speaks (docs/dbsc.md §1.2-1.6) and can build every
// malformed or hostile variant of docs/dbsc.md Part 3, so the Express tests (and the C example's)
// can drive a server over real HTTP the way a browser, or a thief, would. Node's own crypto only.
//
// - Keys: generate('ES256' | 'RS256'), rsa1024() (weak), p384(); jwk(publicKey) and the hostile
//   jwkWithPrivateD(key), jwkOffCurve(key).
// - Proofs: proof(key, jti, { registration, ...overrides }) -> compact dbsc+jwt JWS.
// - Header parsers: parseRegistration, parseChallenge -- small strict RFC 9651 parsers for exactly
//   the shapes DBSC uses, refusing anything else (a server bug should fail a test, not be
//   tolerated the way a browser would).
// - DbscBrowser: plays Chrome against a base URL over node:http with a cookie jar the test owns.
const crypto = require('node:crypto')
const http = require('node:http')
const https = require('node:https')

// Chrome's header names (docs/dbsc.md §1.2); the legacy Sec-Session-* names are not spoken.
const REGISTRATION = 'Secure-Session-Registration'
const RESPONSE = 'Secure-Session-Response'
const SESSION_ID = 'Sec-Secure-Session-Id'
const CHALLENGE = 'Secure-Session-Challenge'
// Chrome's kMaxChallenges: signed retries per refresh before it gives up (fatal).
const MAX_CHALLENGES = 5
const SUPPORTED_ALGS = ['ES256', 'RS256']

// P-256 domain parameters (SEC 2), only to build a point that is certainly off the curve.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn

/** A DBSC response header that does not have exactly the shape docs/dbsc.md §1.2 gives. */
class HeaderError extends Error {
  constructor (message) {
    super(message)
    this.name = 'HeaderError'
  }
}

// --- base64url and keys ------------------------------------------------------------------------

/** base64url without padding (RFC 7515 §2). */
const b64u = (buf) => Buffer.from(buf).toString('base64url')
/** Decode base64url, padded or not (assertions read the padded variant too). */
const b64uDecode = (text) => Buffer.from(text.replace(/=+$/, ''), 'base64url')

/** A fresh private KeyObject for alg: 'ES256' -> P-256, 'RS256' -> RSA-2048 (e = 65537). */
function generate (alg) {
  if (alg === 'ES256') return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  if (alg === 'RS256') return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  throw new Error(`no key type for alg ${JSON.stringify(alg)}`)
}

/** A weak RSA key (R5: the server must answer weak_key). */
const rsa1024 = () => crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
/** A P-384 key (R12: crv "P-384" is not ES256's curve). */
const p384 = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey

const publicOf = (key) => key.type === 'public' ? key : crypto.createPublicKey(key)
const isEc = (key) => key.asymmetricKeyType === 'ec'
const coordSize = (key) => ({ prime256v1: 32, secp384r1: 48, secp521r1: 66 })[key.asymmetricKeyDetails.namedCurve]
const leftPad = (buf, size) => Buffer.concat([Buffer.alloc(Math.max(0, size - buf.length)), buf])
const minimal = (buf) => { let i = 0; while (i < buf.length - 1 && buf[i] === 0) i++; return buf.subarray(i) }

/**
 * The public JWK Chrome puts in a registration header (ConvertPkeySpkiToJwk): EC
 * {kty, crv, x, y} with fixed-size coordinates, RSA {kty, n, e} minimal big-endian, base64url
 * without padding. Accepts a public or a private KeyObject (only the public part is used).
 */
function jwk (key) {
  const pub = publicOf(key)
  const j = pub.export({ format: 'jwk' })
  if (isEc(pub)) {
    const size = coordSize(pub)
    return {
      kty: 'EC',
      crv: j.crv,
      x: b64u(leftPad(b64uDecode(j.x), size)),
      y: b64u(leftPad(b64uDecode(j.y), size))
    }
  }
  return { kty: 'RSA', n: b64u(minimal(b64uDecode(j.n))), e: b64u(minimal(b64uDecode(j.e))) }
}

/** R12: the public JWK plus the private member d (a server must refuse private JWKs). */
function jwkWithPrivateD (key) {
  const out = jwk(key)
  const d = b64uDecode(key.export({ format: 'jwk' }).d)
  out.d = b64u(isEc(key) ? leftPad(d, coordSize(key)) : minimal(d))
  return out
}

const toBig = (buf) => BigInt('0x' + (buf.toString('hex') || '0'))
const fromBig = (n, size) => Buffer.from(n.toString(16).padStart(size * 2, '0'), 'hex')
const modPow = (b, e, m) => {
  let r = 1n
  b %= m
  for (; e > 0n; e >>= 1n, b = b * b % m) if (e & 1n) r = r * b % m
  return r
}

/**
 * R12: the P-256 JWK of key with y changed so that (x, y) is not on the curve (checked against
 * the curve equation, so the variant is off the curve by construction).
 */
function jwkOffCurve (key) {
  const out = jwk(key)
  const x = toBig(b64uDecode(out.x))
  let y = toBig(b64uDecode(out.y))
  const rhs = ((modPow(x, 3n, P256_P) - 3n * x + P256_B) % P256_P + P256_P) % P256_P
  do { y = (y + 1n) % P256_P } while (modPow(y, 2n, P256_P) === rhs)
  out.y = b64u(fromBig(y, 32))
  return out
}

/**
 * The JWS alg a key signs with here: every EC key ECDSA-SHA256 ('ES256', a P-384 key too, for
 * R12), every RSA key PKCS#1 v1.5 SHA-256 ('RS256').
 */
const naturalAlg = (key) => isEc(key) ? 'ES256' : 'RS256'

/**
 * A JWS signature over data: EC -> raw r‖s (ieee-p1363, as JWS and Chrome's
 * ConvertEcdsaDerSignatureToRaw give; { der: true } keeps the DER form, R6), RSA -> PKCS#1
 * v1.5 with SHA-256.
 */
function sign (key, data, { der = false } = {}) {
  if (isEc(key)) return crypto.sign('sha256', data, { key, dsaEncoding: der ? 'der' : 'ieee-p1363' })
  return crypto.sign('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PADDING })
}

// --- proofs ------------------------------------------------------------------------------------

/**
 * The compact JWS Chrome sends in Secure-Session-Response (docs/dbsc.md §1.5): header
 * {"alg", "typ": "dbsc+jwt"[, "jwk"]} (jwk = the public key, only when registration), payload
 * {"jti": jti}, signed by key over the ASCII b64u(header) "." b64u(payload).
 *
 * Overrides, each changing exactly one thing (docs/dbsc.md Part 3):
 * - alg: the header's alg (default naturalAlg(key)); the signature still follows the key's
 *   type, so alg 'ES256' with an RSA key is R4, 'RS256' with a P-256 key F5. alg 'none' (R3):
 *   empty signature, no jwk by default (key may be null).
 * - typ: e.g. 'jwt' (R2).
 * - jwk: an object (jwkWithPrivateD, jwkOffCurve, another key's jwk), or null for no member;
 *   at refresh an object puts a jwk in a refresh header (F9). undefined = the default.
 * - headerExtra: more header members, e.g. { crit: ['exp'] } (R13).
 * - claims: more payload members, e.g. { aud, iat } (must be ignored by the server).
 * - duplicateJti: hand-built payload text with a second "jti" member (R13).
 * - derSignature: an ES256 signature in DER (R6). flipBit: flip that bit of the signature,
 *   0 = the first byte's top bit (R7). signature: these bytes verbatim.
 * - paddedHeader: the header's base64url with '=' padding (R13); the header text gets one
 *   trailing space when its length would need none, so the padding is always there.
 */
function proof (key, jti, {
  registration, alg, typ = 'dbsc+jwt', jwk: jwkOverride, headerExtra, claims, duplicateJti,
  derSignature = false, flipBit, paddedHeader = false, signature
} = {}) {
  if (typeof registration !== 'boolean') throw new TypeError('proof: registration must be true or false')
  if (alg === undefined) {
    if (!key) throw new Error('a proof without a key needs an explicit alg')
    alg = naturalAlg(key)
  }
  const header = { alg, typ }
  if (jwkOverride === undefined) {
    if (registration && alg !== 'none') {
      if (!key) throw new Error('a registration proof needs a key for its jwk')
      header.jwk = jwk(key)
    }
  } else if (jwkOverride !== null) {
    header.jwk = jwkOverride
  }
  Object.assign(header, headerExtra)
  let headerText = JSON.stringify(header)

  let payloadText
  if (duplicateJti !== undefined) {
    const rest = Object.entries(claims || {}).filter(([k]) => k !== 'jti')
      .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')
    payloadText = `{"jti":${JSON.stringify(jti)},"jti":${JSON.stringify(duplicateJti)}${rest}}`
  } else {
    payloadText = JSON.stringify({ jti, ...claims })
  }

  let headerB64
  if (paddedHeader) {
    if (Buffer.byteLength(headerText) % 3 === 0) headerText += ' '
    headerB64 = Buffer.from(headerText).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
  } else {
    headerB64 = b64u(Buffer.from(headerText))
  }
  const signingInput = `${headerB64}.${b64u(Buffer.from(payloadText))}`

  let sig
  if (signature !== undefined) sig = Buffer.from(signature)
  else if (alg === 'none') sig = Buffer.alloc(0)
  else {
    if (!key) throw new Error('a signed proof needs a key')
    sig = sign(key, Buffer.from(signingInput, 'ascii'), { der: derSignature })
  }
  if (flipBit !== undefined) {
    sig = Buffer.from(sig)
    sig[flipBit >> 3] ^= 0x80 >> (flipBit & 7)
  }
  return `${signingInput}.${b64u(sig)}`
}

/**
 * { header, payload, signature } of a compact JWS, for assertions (no verification; a duplicate
 * member keeps the last value, as JSON.parse does).
 */
function decode (token) {
  const [h, p, s] = token.split('.')
  return {
    header: JSON.parse(b64uDecode(h).toString()),
    payload: JSON.parse(b64uDecode(p).toString()),
    signature: b64uDecode(s)
  }
}

// --- RFC 9651 parsers for the two DBSC response headers (test-only, strict) ----------------------

const KEY = /[a-z*][a-z0-9_\-.*]*/y
const TOKEN = /[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*/y

/** A position in one header value; every method refuses what the grammar does not allow. */
class Cursor {
  constructor (text) {
    if (typeof text !== 'string') throw new HeaderError('header value must be a string')
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(text)) throw new HeaderError('non-ASCII header value')
    this.text = text.replace(/^ +| +$/g, '')
    this.pos = 0
  }

  done () { return this.pos >= this.text.length }
  peek () { return this.text[this.pos] || '' }

  expect (char) {
    if (this.peek() !== char) throw new HeaderError(`expected ${JSON.stringify(char)} at ${this.pos}`)
    this.pos++
  }

  skip (chars) { while (this.peek() && chars.includes(this.peek())) this.pos++ }

  match (re, what) {
    re.lastIndex = this.pos
    const m = re.exec(this.text)
    if (!m) throw new HeaderError(`expected a ${what} at ${this.pos}`)
    this.pos = re.lastIndex
    return m[0]
  }

  /** sf-string: DQUOTE *( %x20-21 / %x23-5B / %x5D-7E / "\" ( DQUOTE / "\" ) ) DQUOTE */
  string () {
    this.expect('"')
    let out = ''
    for (;;) {
      const c = this.peek()
      if (c === '') throw new HeaderError('unterminated string')
      this.pos++
      if (c === '"') return out
      if (c === '\\') {
        const next = this.peek()
        if (next !== '"' && next !== '\\') throw new HeaderError(`bad escape at ${this.pos}`)
        out += next
        this.pos++
      } else if (c >= ' ' && c <= '~') {
        out += c
      } else {
        throw new HeaderError(`control character in string at ${this.pos}`)
      }
    }
  }

  /**
   * *( ";" *SP key "=" sf-string ): every value must be a string here (the DBSC parameters all
   * are); a duplicate key is refused rather than last-wins.
   */
  params () {
    const out = new Map()
    while (this.peek() === ';') {
      this.pos++
      this.skip(' ')
      const key = this.match(KEY, 'key')
      if (out.has(key)) throw new HeaderError(`duplicate parameter ${key}`)
      this.expect('=')
      out.set(key, this.string())
    }
    return out
  }

  /** After a member: end of input (false), or OWS "," OWS before another (true). */
  listSeparator () {
    this.skip(' \t')
    if (this.done()) return false
    this.expect(',')
    this.skip(' \t')
    if (this.done()) throw new HeaderError('trailing comma')
    return true
  }
}

/**
 * Secure-Session-Registration: an RFC 9651 List of inner lists of tokens with string parameters,
 * e.g. (ES256 RS256);path="/_tessera/dbsc/register";challenge="cv" -> [{ algs, path, challenge,
 * authorization }] (authorization null when absent). path and challenge are required (Chromium
 * drops an entry without a challenge; a test should fail on one); unknown parameters are
 * allowed (federation ones), bare items are not. Several header lines: join them with ', '.
 */
function parseRegistration (value) {
  const cur = new Cursor(value)
  if (cur.done()) throw new HeaderError('empty Secure-Session-Registration')
  const out = []
  for (;;) {
    cur.expect('(')
    const algs = []
    cur.skip(' ')
    while (cur.peek() !== ')') {
      if (algs.length) {
        if (cur.peek() !== ' ') throw new HeaderError(`expected a space between tokens at ${cur.pos}`)
        cur.skip(' ')
        if (cur.peek() === ')') break
      }
      algs.push(cur.match(TOKEN, 'token'))
    }
    cur.expect(')')
    if (!algs.length) throw new HeaderError('an offer without algorithms')
    const params = cur.params()
    if (!params.has('path') || !params.has('challenge')) throw new HeaderError('an offer needs path and challenge')
    out.push({
      algs,
      path: params.get('path'),
      challenge: params.get('challenge'),
      authorization: params.has('authorization') ? params.get('authorization') : null
    })
    if (!cur.listSeparator()) return out
  }
}

/**
 * Secure-Session-Challenge: an RFC 9651 List of sf-strings, each with the string parameter id,
 * e.g. "C1";id="BID" -> [['C1', 'BID']]. An entry without id is refused (Chrome would drop it;
 * a Tessera server must always send it).
 */
function parseChallenge (value) {
  const cur = new Cursor(value)
  if (cur.done()) throw new HeaderError('empty Secure-Session-Challenge')
  const out = []
  for (;;) {
    const challenge = cur.string()
    const params = cur.params()
    if (!params.has('id')) throw new HeaderError('a challenge without id')
    out.push([challenge, params.get('id')])
    if (!cur.listSeparator()) return out
  }
}

// --- the browser -------------------------------------------------------------------------------

/** One HTTP exchange as the browser saw it: what it sent and what came back. */
class Response {
  constructor (method, path, sent, status, headers, body) {
    this.method = method
    this.path = path
    this.sent = sent // { name: value } as sent
    this.status = status
    this.headers = headers // [[name, value], ...] in order, repeated names kept
    this.body = body // Buffer
  }

  /** All lines of name joined with ', ' (RFC 9110 §5.3), or null if absent. */
  header (name) {
    const values = this.headerAll(name)
    return values.length ? values.join(', ') : null
  }

  headerAll (name) {
    const lower = name.toLowerCase()
    return this.headers.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v)
  }

  get setCookies () { return this.headerAll('Set-Cookie') }
  get text () { return this.body.toString() }
  json () { return JSON.parse(this.text) }
}

/**
 * The browser's cookies as a plain Map name -> value the test owns (jar.cookies): host-only,
 * path "/", as Tessera's cookies are. Set-Cookie replaces a value; Max-Age <= 0 or an Expires in
 * the past deletes it. Cookies are never aged by the wall clock: tests move the server's manual
 * clock, and the server, not the jar, judges expiry (a thief's client ignores Max-Age anyway).
 */
class CookieJar {
  constructor (cookies) {
    this.cookies = new Map(cookies instanceof Map ? cookies : Object.entries(cookies || {}))
    // The attributes of the last Set-Cookie per name (lower-case keys), for assertions.
    this.attributes = new Map()
  }

  header () {
    if (!this.cookies.size) return null
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  absorb (setCookie) {
    const [pair, ...attrs] = setCookie.split(';').map((s) => s.trim())
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new Error('Set-Cookie without name=value')
    const name = pair.slice(0, eq)
    const value = pair.slice(eq + 1)
    const parsed = {}
    for (const attr of attrs) {
      const i = attr.indexOf('=')
      const k = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase()
      parsed[k] = i < 0 ? '' : attr.slice(i + 1).trim()
    }
    let remove = false
    if ('max-age' in parsed) remove = Number.parseInt(parsed['max-age'], 10) <= 0
    else if ('expires' in parsed) remove = Date.parse(parsed.expires) <= Date.now()
    if (remove) this.cookies.delete(name)
    else this.cookies.set(name, value)
    this.attributes.set(name, parsed)
  }

  /** A new jar with these cookies (all when none are named): a thief's stolen copy. */
  copy (...names) {
    const keep = names.length ? names : [...this.cookies.keys()]
    return new CookieJar(new Map(keep.filter((k) => this.cookies.has(k)).map((k) => [k, this.cookies.get(k)])))
  }
}

/**
 * The session config in r's body and its (first) cookie credential's name, as { config, name },
 * or null when Chrome would refuse it: not JSON, no session_identifier, no cookie credential
 * (only the fields the browser uses are checked; the framework tests assert the rest).
 */
function configOf (r) {
  let config
  try { config = r.json() } catch { return null }
  if (!config || typeof config !== 'object' || Array.isArray(config)) return null
  const sid = config.session_identifier
  if (typeof sid !== 'string' || !sid || !Array.isArray(config.credentials)) return null
  const cookie = config.credentials.find((c) => c && c.type === 'cookie')
  if (!cookie || typeof cookie.name !== 'string') return null
  return { config, name: cookie.name }
}

/**
 * Chrome's DBSC machinery, scripted, against baseUrl over real HTTP.
 *
 * baseUrl is where to connect (http://127.0.0.1:PORT); origin the Origin the page has (default:
 * baseUrl's origin); extraHeaders go on every request (e.g. { 'X-Forwarded-Proto': 'https' }
 * when the framework is told the request is HTTPS, or a Host); quoted sends
 * Secure-Session-Response and Sec-Secure-Session-Id as sf-strings instead of Chrome's bare values;
 * tls: options for node:https when baseUrl is https (e.g. { ca }).
 *
 * State: jar, key/alg (the DBSC key), sessionIdentifier, refreshUrl, boundCookie (its name),
 * config (the last session config), cachedChallenge, offers (the last Secure-Session-Registration
 * seen), ended (why Chrome would have deleted the DBSC session, or null), lastProof. Every
 * response's Set-Cookie lines update the jar, its Secure-Session-Registration the offers, its
 * challenge for our session the cache. Nothing refreshes on its own: the test calls refresh().
 */
class DbscBrowser {
  constructor (baseUrl, { origin, extraHeaders = {}, quoted = false, jar, tls = {} } = {}) {
    const url = new URL(baseUrl)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) base URL: ${baseUrl}`)
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.url = url
    this.origin = origin || url.origin
    this.extraHeaders = { ...extraHeaders }
    this.quoted = quoted
    this.jar = jar || new CookieJar()
    this.tls = tls
    this.key = null
    this.alg = null
    this.sessionIdentifier = null
    this.refreshUrl = null
    this.boundCookie = null
    this.config = null
    this.cachedChallenge = null
    this.offers = []
    this.ended = null
    // [challenge, proof] of the last signed refresh proof: Chrome re-sends an identical proof
    // for an identical challenge (its signing cache, docs/dbsc.md §1.5).
    this.lastProof = null
  }

  // --- plain HTTP ---

  /** A request target for path (absolute URLs reduced to path + query: the connection always
   * goes to baseUrl). */
  target (path) {
    if (/^https?:/i.test(path)) {
      const u = new URL(path)
      return u.pathname + u.search
    }
    if (!path.startsWith('/')) throw new Error(`not an absolute path: ${path}`)
    return path
  }

  /**
   * One request with the jar's cookies (cookies: false -> none; or pass Cookie in headers to
   * send exactly that); the answer updates the jar and the DBSC state. Resolves to a Response.
   * form / json encode a body with its Content-Type (a sign-in form).
   */
  request (method, path, { headers = {}, body = '', form, json, cookies = true } = {}) {
    const sent = { ...this.extraHeaders }
    if (form !== undefined) {
      sent['Content-Type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(form).toString()
    } else if (json !== undefined) {
      sent['Content-Type'] = 'application/json'
      body = JSON.stringify(json)
    }
    Object.assign(sent, headers)
    const cookie = this.jar.header()
    if (cookies && cookie && !Object.keys(sent).some((k) => k.toLowerCase() === 'cookie')) sent.Cookie = cookie
    const data = Buffer.from(body)
    if (data.length || method === 'POST') sent['Content-Length'] = String(data.length)
    const target = this.target(path)
    const lib = this.url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      const req = lib.request({
        ...this.tls,
        host: this.url.hostname,
        port: this.url.port,
        method,
        path: target,
        headers: sent,
        agent: false
      }, (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const pairs = []
          for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]])
          const out = new Response(method, target, sent, res.statusCode, pairs, Buffer.concat(chunks))
          try {
            this.absorb(out)
            resolve(out)
          } catch (e) {
            reject(e)
          }
        })
      })
      req.on('error', reject)
      req.end(data)
    })
  }

  get (path, opts) { return this.request('GET', path, opts) }
  post (path, opts) { return this.request('POST', path, opts) }

  absorb (r) {
    for (const line of r.setCookies) this.jar.absorb(line)
    const offers = r.header(REGISTRATION)
    if (offers !== null) this.offers = parseRegistration(offers)
    this.cacheChallenge(r)
  }

  /** The last challenge for our session in r becomes the cached one (Chrome drops entries for
   * other sessions; the last one wins). Returns it, or null. */
  cacheChallenge (r) {
    const value = r.header(CHALLENGE)
    if (value === null || this.sessionIdentifier === null) return null
    const mine = parseChallenge(value).filter(([, id]) => id === this.sessionIdentifier)
    if (!mine.length) return null
    this.cachedChallenge = mine[mine.length - 1][0]
    return this.cachedChallenge
  }

  // --- DBSC ---

  sf (value) { return this.quoted ? `"${value}"` : value }

  /**
   * A DBSC request exactly as Chrome's fetcher makes it (docs/dbsc.md §1.2, ConfigureRequest):
   * POST, empty body, cookies, Origin, Sec-Fetch-*, plus Secure-Session-Response /
   * Sec-Secure-Session-Id when given (null/undefined: header absent, for R1/F1/F3). headers add
   * to or override these.
   */
  dbscPost (path, { proof: token = null, sessionId = null, headers = {}, cookies = true } = {}) {
    const sent = {
      Origin: this.origin,
      'Sec-Fetch-Site': 'same-origin',
      'Sec-Fetch-Mode': 'no-cors',
      'Sec-Fetch-Dest': 'empty'
    }
    if (sessionId !== null) sent[SESSION_ID] = this.sf(sessionId)
    if (token !== null) sent[RESPONSE] = this.sf(token)
    return this.request('POST', path, { headers: { ...sent, ...headers }, cookies })
  }

  /**
   * Register offer (default: the first one last seen): pick the offer's first algorithm Chrome
   * supports, make a key (or use key), sign jti = challenge with the public key in the header,
   * POST to the offer's path. A 200 stores the key, the config (sessionIdentifier, refreshUrl,
   * boundCookie) and any challenge for the new session; the bound cookie reaches the jar through
   * Set-Cookie. Other options go to proof() (hostile variants); proofToken is sent verbatim.
   *
   * As Chrome, the session is not stored (ended says why) when the 200's body is not a usable
   * config ('invalid_config') or the response did not set the config's cookie
   * ('bound_cookie_not_set').
   */
  async register (offer, { key, proofToken, ...overrides } = {}) {
    if (!offer) {
      if (!this.offers.length) throw new Error('no Secure-Session-Registration offer seen')
      offer = this.offers[0]
    }
    if (!key) {
      const alg = offer.algs.find((a) => SUPPORTED_ALGS.includes(a))
      if (!alg) throw new Error(`no supported algorithm in ${offer.algs}`)
      key = generate(alg)
    }
    const alg = overrides.alg || naturalAlg(key)
    if (proofToken === undefined) proofToken = proof(key, offer.challenge, { registration: true, ...overrides })
    const headers = offer.authorization !== null && offer.authorization !== undefined ? { Authorization: offer.authorization } : {}
    const r = await this.dbscPost(offer.path, { proof: proofToken, headers })
    if (r.status !== 200) return r
    const found = configOf(r)
    if (!found) {
      this.end('invalid_config')
      return r
    }
    const sets = (line) => { const jar = new CookieJar(); jar.absorb(line); return jar.cookies.has(found.name) }
    if (!r.setCookies.some(sets)) {
      this.end('bound_cookie_not_set')
      return r
    }
    this.key = key
    this.alg = alg
    this.ended = null
    this.cachedChallenge = null
    this.lastProof = null
    this.applyConfig(found, offer.path)
    this.cacheChallenge(r)
    return r
  }

  applyConfig ({ config, name }, defaultRefresh) {
    this.config = config
    this.sessionIdentifier = config.session_identifier
    this.refreshUrl = config.refresh_url || defaultRefresh
    this.boundCookie = name
  }

  /** Chrome deletes its DBSC session and key; cookies stay as the server set them. */
  end (why) {
    this.ended = why
    this.key = null
    this.cachedChallenge = null
    this.lastProof = null
  }

  /**
   * The refresh proof for challenge (no jwk), reusing the last one for the same challenge as
   * Chrome's signing cache does (not when overrides are given; overrides.key signs with another
   * key).
   */
  refreshProof (challenge, overrides = {}) {
    if (Object.keys(overrides).length) {
      const { key = this.key, ...rest } = overrides
      return proof(key, challenge, { registration: false, ...rest })
    }
    if (this.lastProof && this.lastProof[0] === challenge) return this.lastProof[1]
    if (!this.key) throw new Error('no DBSC key: register first')
    const token = proof(this.key, challenge, { registration: false, alg: this.alg })
    this.lastProof = [challenge, token]
    return token
  }

  /**
   * The refresh loop of docs/dbsc.md §1.6: POST refreshUrl with Sec-Secure-Session-Id and, if a
   * challenge is cached, its proof; on 403 take the last Secure-Session-Challenge whose id is
   * ours, sign it, retry -- at most maxChallenges signed retries. Resolves to every response
   * seen. Afterwards ended says whether Chrome would have deleted the DBSC session:
   * 'continue_false', 'invalid_config' (a 200 body that is no config), 'mismatched_session_id', 'invalid_challenge' (403 without one for us),
   * 'too_many_challenges', 'persistent_http_error' (other 3xx/4xx, 401 included); 5xx leaves
   * it (transient). Other options go to every proof (e.g. { key: otherKey }).
   */
  async refresh ({ maxChallenges = MAX_CHALLENGES, ...overrides } = {}) {
    if (this.sessionIdentifier === null || this.refreshUrl === null || this.ended) throw new Error('no live DBSC session to refresh')
    const seen = []
    let retries = 0
    for (;;) {
      const challenge = this.cachedChallenge
      const token = challenge ? this.refreshProof(challenge, { ...overrides }) : null
      const r = await this.dbscPost(this.refreshUrl, { proof: token, sessionId: this.sessionIdentifier })
      seen.push(r)
      if (r.status === 403) {
        // The 403's own challenge header (already absorbed) must name our session.
        if (this.cacheChallenge(r) === null) this.end('invalid_challenge')
        else if (retries >= maxChallenges) this.end('too_many_challenges')
        else {
          retries++
          continue
        }
      } else if (r.status >= 200 && r.status < 300) {
        this.refreshed(r)
      } else if (r.status < 500 && r.status !== 407) {
        this.end('persistent_http_error')
      }
      return seen
    }
  }

  refreshed (r) {
    if (!r.text.trim()) return // empty body: no config change
    let parsed = null
    try { parsed = r.json() } catch {}
    if (parsed && parsed.continue === false) return this.end('continue_false')
    const found = configOf(r)
    if (!found) return this.end('invalid_config')
    if (found.config.session_identifier !== this.sessionIdentifier) return this.end('mismatched_session_id')
    this.applyConfig(found, this.refreshUrl)
    // A new config drops the cached challenge; one sent along with it is cached again.
    this.cachedChallenge = null
    this.cacheChallenge(r)
  }

  /** A second client (the thief of S1/S2) with a copy of these cookies (all when none are
   * named), the same connection settings, and no DBSC key or session. */
  steal (...names) {
    return new DbscBrowser(this.baseUrl, {
      origin: this.origin,
      extraHeaders: this.extraHeaders,
      quoted: this.quoted,
      jar: this.jar.copy(...names),
      tls: this.tls
    })
  }
}

module.exports = {
  REGISTRATION,
  RESPONSE,
  SESSION_ID,
  CHALLENGE,
  MAX_CHALLENGES,
  SUPPORTED_ALGS,
  HeaderError,
  b64u,
  b64uDecode,
  generate,
  rsa1024,
  p384,
  jwk,
  jwkWithPrivateD,
  jwkOffCurve,
  naturalAlg,
  sign,
  proof,
  decode,
  parseRegistration,
  parseChallenge,
  Response,
  CookieJar,
  DbscBrowser
}
