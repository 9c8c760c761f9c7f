'use strict'
// The scripted DBSC client (test/dbsc-client.js) tested on its own, before any server exists:
// every proof checked by an independent verifier (crypto.verify with ieee-p1363 over a key
// imported from the JWK), every hostile variant decoded and compared with the good proof, the two
// header parsers on the exact strings of docs/dbsc.md and on junk, and DbscBrowser against a small
// fake server in this file that answers like docs/dbsc.md §1.3/§1.6 and records what it received.
const { describe, it, before, beforeEach, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const http = require('node:http')
const dc = require('./dbsc-client.js')

const B64U = /^[A-Za-z0-9_-]+$/

// --- an independent verifier -------------------------------------------------------------------

const keyFromJwk = (j) => crypto.createPublicKey({ key: j, format: 'jwk' })

/** Verify a compact JWS the way a server would (raw r‖s for EC); returns { header, payload }
 * or throws. */
function verify (token, pub) {
  const [h, p, s] = token.split('.')
  const sig = Buffer.from(s, 'base64url')
  const data = Buffer.from(`${h}.${p}`)
  let ok
  if (pub.asymmetricKeyType === 'ec') {
    const size = { prime256v1: 32, secp384r1: 48 }[pub.asymmetricKeyDetails.namedCurve]
    if (sig.length !== 2 * size) throw new Error('EC signatures are raw r‖s')
    ok = crypto.verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)
  } else {
    ok = crypto.verify('sha256', data, { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING }, sig)
  }
  if (!ok) throw new Error('invalid signature')
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) }
}

const rawPayload = (token) => Buffer.from(token.split('.')[1], 'base64url').toString()
const pubOf = (key) => crypto.createPublicKey(key)

const keys = {}
before(() => {
  // Key generation (RSA especially) is slow: one set for the file.
  Object.assign(keys, {
    ES256: dc.generate('ES256'),
    RS256: dc.generate('RS256'),
    ES256b: dc.generate('ES256'),
    rsa1024: dc.rsa1024(),
    p384: dc.p384()
  })
})

// --- keys and proofs ---------------------------------------------------------------------------

describe('keys and proofs', () => {
  it('keys have the requested types and sizes', () => {
    assert.equal(keys.ES256.asymmetricKeyDetails.namedCurve, 'prime256v1')
    assert.equal(keys.RS256.asymmetricKeyDetails.modulusLength, 2048)
    assert.equal(keys.rsa1024.asymmetricKeyDetails.modulusLength, 1024)
    assert.equal(keys.p384.asymmetricKeyDetails.namedCurve, 'secp384r1')
    assert.throws(() => dc.generate('none'))
  })

  it('jwk members are public, unpadded, fixed-size, and round-trip', () => {
    for (const [name, crv, size] of [['ES256', 'P-256', 32], ['p384', 'P-384', 48]]) {
      const j = dc.jwk(keys[name])
      assert.deepEqual(Object.keys(j), ['kty', 'crv', 'x', 'y'])
      assert.equal(j.kty, 'EC')
      assert.equal(j.crv, crv)
      assert.equal(dc.b64uDecode(j.x).length, size)
      assert.equal(dc.b64uDecode(j.y).length, size)
      assert.ok(keyFromJwk(j).equals(pubOf(keys[name])))
    }
    for (const [name, size] of [['RS256', 256], ['rsa1024', 128]]) {
      const j = dc.jwk(pubOf(keys[name]))
      assert.deepEqual(Object.keys(j), ['kty', 'n', 'e'])
      assert.equal(j.e, 'AQAB')
      assert.equal(dc.b64uDecode(j.n).length, size)
      assert.ok(keyFromJwk(j).equals(pubOf(keys[name])))
    }
    for (const j of [dc.jwk(keys.ES256), dc.jwk(keys.RS256)]) {
      for (const [k, v] of Object.entries(j)) if (k !== 'kty' && k !== 'crv') assert.match(v, B64U)
    }
  })

  for (const alg of ['ES256', 'RS256']) {
    it(`${alg} registration proof verifies with the jwk in its header`, () => {
      const token = dc.proof(keys[alg], 'C0', { registration: true })
      const parts = token.split('.')
      assert.equal(parts.length, 3)
      for (const p of parts) assert.match(p, B64U)
      const { header, payload, signature } = dc.decode(token)
      assert.deepEqual(header, { alg, typ: 'dbsc+jwt', jwk: dc.jwk(keys[alg]) })
      assert.deepEqual(Object.keys(header), ['alg', 'typ', 'jwk'])
      assert.deepEqual(payload, { jti: 'C0' })
      assert.equal(signature.length, { ES256: 64, RS256: 256 }[alg])
      assert.deepEqual(verify(token, keyFromJwk(header.jwk)), { header, payload })
    })

    it(`${alg} refresh proof has no jwk and verifies with the key`, () => {
      const token = dc.proof(keys[alg], 'C1', { registration: false })
      assert.deepEqual(verify(token, pubOf(keys[alg])), { header: { alg, typ: 'dbsc+jwt' }, payload: { jti: 'C1' } })
      // Another key's signature does not verify: the verifier is not a rubber stamp.
      const other = dc.proof(keys.ES256b, 'C1', { registration: false })
      assert.throws(() => verify(other, pubOf(keys.ES256)), /invalid signature/)
    })
  }

  it('registration must be said', () => {
    assert.throws(() => dc.proof(keys.ES256, 'C0'), TypeError)
  })

  it('typ "jwt" changes only typ', () => {
    const token = dc.proof(keys.ES256, 'C0', { registration: true, typ: 'jwt' })
    assert.deepEqual(verify(token, pubOf(keys.ES256)), {
      header: { alg: 'ES256', typ: 'jwt', jwk: dc.jwk(keys.ES256) },
      payload: { jti: 'C0' }
    })
  })

  it('alg none has an empty signature and no jwk', () => {
    const token = dc.proof(keys.ES256, 'C0', { registration: true, alg: 'none' })
    assert.ok(token.endsWith('.'))
    const { header, payload, signature } = dc.decode(token)
    assert.deepEqual([header, payload, signature.length], [{ alg: 'none', typ: 'dbsc+jwt' }, { jti: 'C0' }, 0])
    assert.equal(dc.proof(null, 'C0', { registration: true, alg: 'none' }), token)
  })

  it('ES256 header over an RSA jwk and signature', () => {
    const token = dc.proof(keys.RS256, 'C0', { registration: true, alg: 'ES256' })
    const { header, signature } = dc.decode(token)
    assert.equal(header.alg, 'ES256')
    assert.equal(header.jwk.kty, 'RSA')
    assert.equal(signature.length, 256)
    const [h, p] = token.split('.')
    assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), pubOf(keys.RS256), signature))
  })

  it('RS256 header over an EC signature', () => {
    const token = dc.proof(keys.ES256, 'C1', { registration: false, alg: 'RS256' })
    const { header, signature } = dc.decode(token)
    assert.deepEqual(header, { alg: 'RS256', typ: 'dbsc+jwt' })
    assert.equal(signature.length, 64)
    verify(token, pubOf(keys.ES256))
  })

  it('DER signature is DER and verifies only as DER', () => {
    const token = dc.proof(keys.ES256, 'C0', { registration: true, derSignature: true })
    const [h, p, s] = token.split('.')
    const sig = Buffer.from(s, 'base64url')
    assert.equal(sig[0], 0x30)
    assert.ok(sig.length >= 70 && sig.length <= 72, String(sig.length))
    assert.equal(sig[1], sig.length - 2)
    assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: pubOf(keys.ES256), dsaEncoding: 'der' }, sig))
    assert.throws(() => verify(token, pubOf(keys.ES256)), /raw/)
  })

  it('a flipped bit differs from the good proof in exactly that bit', () => {
    // RS256 is deterministic: the good and the bad proof can be compared bit for bit.
    const good = dc.proof(keys.RS256, 'C0', { registration: true })
    const bad = dc.proof(keys.RS256, 'C0', { registration: true, flipBit: 77 })
    assert.equal(good.slice(0, good.lastIndexOf('.')), bad.slice(0, bad.lastIndexOf('.')))
    const g = dc.decode(good).signature
    const b = dc.decode(bad).signature
    const diff = []
    for (let i = 0; i < g.length * 8; i++) if ((g[i >> 3] ^ b[i >> 3]) & (0x80 >> (i & 7))) diff.push(i)
    assert.deepEqual(diff, [77])
    assert.throws(() => verify(bad, pubOf(keys.RS256)), /invalid signature/)
    // ES256 signatures are randomised: flip the bit back and the signature verifies.
    const badEc = dc.proof(keys.ES256, 'C0', { registration: true, flipBit: 0 })
    assert.throws(() => verify(badEc, pubOf(keys.ES256)), /invalid signature/)
    const [h, p, s] = badEc.split('.')
    const restored = Buffer.from(s, 'base64url')
    restored[0] ^= 0x80
    verify(`${h}.${p}.${dc.b64u(restored)}`, pubOf(keys.ES256))
  })

  it('jwk with the private d', () => {
    for (const name of ['ES256', 'RS256']) {
      const j = dc.jwkWithPrivateD(keys[name])
      const { d, ...pub } = j
      assert.deepEqual(pub, dc.jwk(keys[name]))
      assert.equal(toBigHex(dc.b64uDecode(d)), toBigHex(dc.b64uDecode(keys[name].export({ format: 'jwk' }).d)))
      const token = dc.proof(keys[name], 'C0', { registration: true, jwk: j })
      assert.deepEqual(verify(token, pubOf(keys[name])).header.jwk, j)
      // an EC jwk with d is a whole private key: it really is this one
      if (name === 'ES256') assert.ok(crypto.createPrivateKey({ key: j, format: 'jwk' }).equals(keys[name]))
    }
  })

  it('a P-384 jwk with ES256', () => {
    const token = dc.proof(keys.p384, 'C0', { registration: true })
    const { header, signature } = dc.decode(token)
    assert.equal(header.alg, 'ES256')
    assert.equal(header.jwk.crv, 'P-384')
    assert.equal(signature.length, 96)
    verify(token, keyFromJwk(header.jwk))
  })

  it('an off-curve jwk is off the curve', () => {
    const j = dc.jwkOffCurve(keys.ES256)
    const good = dc.jwk(keys.ES256)
    assert.equal(j.x, good.x)
    assert.notEqual(j.y, good.y)
    assert.equal(dc.b64uDecode(j.y).length, 32)
    assert.throws(() => keyFromJwk(j))
    assert.deepEqual(dc.decode(dc.proof(keys.ES256, 'C0', { registration: true, jwk: j })).header.jwk, j)
  })

  it('crit in the header, aud and iat in the payload', () => {
    let token = dc.proof(keys.ES256, 'C0', { registration: true, headerExtra: { crit: ['exp'] } })
    let v = verify(token, pubOf(keys.ES256))
    assert.deepEqual(v.header.crit, ['exp'])
    assert.deepEqual(v.payload, { jti: 'C0' })
    token = dc.proof(keys.ES256, 'C1', { registration: false, claims: { aud: 'https://a.example', iat: 17 } })
    v = verify(token, pubOf(keys.ES256))
    assert.deepEqual(v, { header: { alg: 'ES256', typ: 'dbsc+jwt' }, payload: { jti: 'C1', aud: 'https://a.example', iat: 17 } })
  })

  it('a padded header has padding only there', () => {
    for (const key of [keys.ES256, keys.RS256, keys.p384]) {
      for (const registration of [true, false]) {
        const token = dc.proof(key, 'C0', { registration, paddedHeader: true })
        const [h, p, s] = token.split('.')
        assert.ok(h.endsWith('='), h)
        assert.ok(!(p + s).includes('='))
        assert.match(h, /^[A-Za-z0-9_-]+=+$/)
        const v = verify(token, pubOf(key))
        assert.equal(v.header.typ, 'dbsc+jwt')
        assert.deepEqual(v.payload, { jti: 'C0' })
      }
    }
  })

  it('a duplicate jti is in the payload text', () => {
    let token = dc.proof(keys.ES256, 'C0', { registration: true, duplicateJti: 'other' })
    assert.equal(rawPayload(token), '{"jti":"C0","jti":"other"}')
    verify(token, pubOf(keys.ES256))
    token = dc.proof(keys.ES256, 'C0', { registration: true, duplicateJti: 'C0', claims: { iat: 1 } })
    assert.equal(rawPayload(token), '{"jti":"C0","jti":"C0","iat":1}')
  })

  it('a jwk in a refresh header, and none on a registration', () => {
    const other = dc.jwk(keys.ES256b)
    const token = dc.proof(keys.ES256b, 'C1', { registration: false, jwk: other })
    assert.deepEqual(verify(token, pubOf(keys.ES256b)).header, { alg: 'ES256', typ: 'dbsc+jwt', jwk: other })
    assert.throws(() => verify(token, pubOf(keys.ES256)), /invalid signature/)
    assert.ok(!('jwk' in dc.decode(dc.proof(keys.ES256, 'C0', { registration: true, jwk: null })).header))
  })
})

function toBigHex (buf) {
  return buf.toString('hex').replace(/^0+/, '')
}

// --- header parsers ----------------------------------------------------------------------------

describe('header parsers', () => {
  it('the documented offer', () => {
    assert.deepEqual(dc.parseRegistration('(ES256 RS256);path="/_tessera/dbsc/register";challenge="cv"'), [
      { algs: ['ES256', 'RS256'], path: '/_tessera/dbsc/register', challenge: 'cv', authorization: null }
    ])
  })

  it('several offers, escapes, spacing, authorization, unknown parameters', () => {
    const value = ' ( ES256 );path="/a";challenge="x\\"y\\\\z" ,\t(RS256  ES256 );' +
      ' challenge="c2"; path="https://app.example/reg";authorization="tok";provider_key="k" '
    assert.deepEqual(dc.parseRegistration(value), [
      { algs: ['ES256'], path: '/a', challenge: 'x"y\\z', authorization: null },
      { algs: ['RS256', 'ES256'], path: 'https://app.example/reg', challenge: 'c2', authorization: 'tok' }
    ])
  })

  const junkOffers = [
    '',
    '   ',
    'ES256;path="/r";challenge="c"', // bare item, not an inner list
    '();path="/r";challenge="c"', // no algorithm
    '(ES256 RS256);path="/r"', // no challenge
    '(ES256);challenge="c"', // no path
    '(ES256,RS256);path="/r";challenge="c"',
    '(ES256);path=/r;challenge="c"', // unquoted value
    '(ES256);path="/r";challenge="c";path="/s"', // duplicate parameter
    '(ES256);Path="/r";challenge="c"', // keys are lower case
    '(ES256);path="/r";challenge="c",', // trailing comma
    '(ES256);path="/r";challenge="c" (RS256);path="/r";challenge="d"', // no comma
    '(ES256);path="/r";challenge="c\\n"', // bad escape
    '(ES256);path="/r";challenge="c', // unterminated
    '(ES256);path="/r";challenge="c\x01"',
    '(ES256);path="/r";challenge="é"',
    '(ES256;a="b");path="/r";challenge="c"', // item parameters: not this shape
    '(1ES256);path="/r";challenge="c"',
    '(ES256);path="/r";challenge', // boolean parameter
    '(ES256) ;path="/r";challenge="c"' // no space before parameters
  ]
  for (const value of junkOffers) {
    it(`refuses the offer ${JSON.stringify(value)}`, () => {
      assert.throws(() => dc.parseRegistration(value), dc.HeaderError)
    })
  }

  it('challenges: the documented one and several', () => {
    assert.deepEqual(dc.parseChallenge('"C1";id="BID"'), [['C1', 'BID']])
    assert.deepEqual(dc.parseChallenge('"a\\"b";id="X", "c";id="Y",\t"d";id="Z"'), [['a"b', 'X'], ['c', 'Y'], ['d', 'Z']])
  })

  const junkChallenges = ['', '"C1"', 'C1;id="BID"', '"C1";id=BID', '"C1";id="BID",', '"C1";id="BID" "C2";id="B"',
    '"C1";id="BID";id="X"', '("C1");id="BID"', '"C1\\x";id="BID"', '"C1" ;id="BID"']
  for (const value of junkChallenges) {
    it(`refuses the challenge ${JSON.stringify(value)}`, () => {
      assert.throws(() => dc.parseChallenge(value), dc.HeaderError)
    })
  }
})

// --- the cookie jar ----------------------------------------------------------------------------

describe('cookie jar', () => {
  it('replaces, deletes on Max-Age=0 or a past Expires, copies', () => {
    const jar = new dc.CookieJar()
    jar.absorb('a=1; Path=/; Secure; HttpOnly; SameSite=Lax')
    jar.absorb('b=2; Max-Age=600; Path=/')
    assert.equal(jar.header(), 'a=1; b=2')
    assert.equal(jar.attributes.get('b')['max-age'], '600')
    assert.ok('httponly' in jar.attributes.get('a'))
    jar.absorb('a=3; Path=/')
    assert.deepEqual(Object.fromEntries(jar.cookies), { a: '3', b: '2' })
    jar.absorb('b=; Max-Age=0; Path=/')
    assert.deepEqual(Object.fromEntries(jar.cookies), { a: '3' })
    jar.absorb('a=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT')
    assert.equal(jar.cookies.size, 0)
    assert.equal(jar.header(), null)
    jar.absorb('a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT')
    jar.absorb('c=2')
    const stolen = jar.copy('a', 'missing')
    assert.deepEqual(Object.fromEntries(stolen.cookies), { a: '1' })
    stolen.cookies.set('a', 'changed')
    assert.deepEqual(Object.fromEntries(jar.cookies), { a: '1', c: '2' })
    assert.deepEqual(jar.copy().cookies, jar.cookies)
    assert.throws(() => jar.absorb('novalue'))
  })
})

// --- DbscBrowser against a fake DBSC server (test-only; answers like docs/dbsc.md §1.3, §1.6) ----

const SESSION = '__Host-session'
const BOUND = '__Host-session-bound'
const ATTRS = 'Path=/; Secure; HttpOnly; SameSite=Lax'

/** The fake server's state and scripted behaviour (set by each test). */
class Fake {
  constructor () {
    this.offerAlgs = 'ES256 RS256'
    this.bid = 'BID'
    this.challengeId = null // id put on challenges (default: bid)
    this.always403 = false // refresh: never accept (the 5-challenge limit)
    this.repeatChallenge = false // refresh: the same challenge again
    this.endSession = false // refresh: answer continue:false
    this.piggyback = false // refresh 200 carries the next challenge
    this.registerAnswer = 'ok' // 'ok' | 'no_cookie' (200 without Set-Cookie) | 'junk' body
    this.refreshStatus = null // answer every refresh with this status
    this.refreshBody = null // body of the 200 after a good proof (default: the config)
    this.received = []
    this.key = null
    this.challenge = 'C0'
    this.issued = 0
    this.minted = 0
  }

  config () {
    return {
      session_identifier: this.bid,
      refresh_url: '/_tessera/dbsc/refresh',
      scope: { origin: 'https://app.example', include_site: false, scope_specification: [] },
      credentials: [{ type: 'cookie', name: BOUND, attributes: ATTRS }],
      allowed_refresh_initiators: []
    }
  }

  newChallenge () {
    if (!(this.repeatChallenge && this.issued)) {
      this.issued++
      this.challenge = `C${this.issued}`
    }
    return ['Secure-Session-Challenge', `"${this.challenge}";id="${this.challengeId || this.bid}"`]
  }

  boundCookie () {
    this.minted++
    return ['Set-Cookie', `${BOUND}=B${this.minted}; Max-Age=600; ${ATTRS}`]
  }

  answer (r) {
    const unquote = (v) => v && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v
    const token = unquote(r.headers['secure-session-response'])
    const route = `${r.method} ${r.path}`
    const json = (status, headers, body) => [status, headers, JSON.stringify(body)]
    if (route === 'GET /login') {
      const offer = `(${this.offerAlgs});path="/_tessera/dbsc/register";challenge="C0"`
      return [200, [['Set-Cookie', `${SESSION}=T1; ${ATTRS}`], ['Secure-Session-Registration', offer]], 'in']
    }
    if (route === 'POST /login') return [200, [], `${r.body} ${r.headers['content-type']}`]
    if (route === 'GET /account') return json(200, [], r.cookieLines)
    if (route === 'POST /logout') {
      return [200, [['Set-Cookie', `${SESSION}=; Max-Age=0; ${ATTRS}`], ['Set-Cookie', `${BOUND}=; Max-Age=0; ${ATTRS}`]], '']
    }
    if (route === 'POST /_tessera/dbsc/register') {
      if (token === undefined) return [400, [], '']
      let jwk
      try {
        jwk = JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).jwk
        r.proof = verify(token, keyFromJwk(jwk))
      } catch (e) {
        r.proof = String(e) // recorded for the test to assert on
        return json(403, [], { error: 'bad_signature' })
      }
      if (r.proof.payload.jti !== 'C0' || r.cookieLines.join() !== `${SESSION}=T1`) return json(403, [], { error: 'unknown_challenge' })
      this.key = keyFromJwk(jwk)
      if (this.registerAnswer === 'junk') return [200, [this.boundCookie()], '<html>']
      const headers = [['Content-Type', 'application/json']]
      if (this.registerAnswer !== 'no_cookie') headers.push(this.boundCookie())
      return json(200, headers, this.config())
    }
    if (route === 'POST /_tessera/dbsc/refresh') {
      if (this.refreshStatus !== null) return [this.refreshStatus, [], '']
      if (unquote(r.headers['sec-secure-session-id']) !== this.bid) return json(200, [], { session_identifier: 'x', continue: false })
      if (token !== undefined && this.key && !this.always403) {
        try {
          r.proof = verify(token, this.key)
        } catch (e) {
          r.proof = String(e)
        }
        if (typeof r.proof === 'object' && r.proof.payload.jti === this.challenge) {
          if (this.endSession) return json(200, [], { session_identifier: this.bid, continue: false })
          const headers = [this.boundCookie()]
          if (this.piggyback) headers.push(this.newChallenge())
          if (this.refreshBody !== null) return [200, headers, this.refreshBody]
          return json(200, headers, this.config())
        }
      }
      return [403, [this.newChallenge()], '']
    }
    return [404, [], '']
  }
}

describe('DbscBrowser over HTTP', () => {
  let fake, server, base
  beforeEach(async () => {
    fake = new Fake()
    server = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const cookieLines = []
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          if (req.rawHeaders[i].toLowerCase() === 'cookie') cookieLines.push(req.rawHeaders[i + 1])
        }
        const r = { method: req.method, path: req.url, headers: req.headers, cookieLines, body: Buffer.concat(chunks), proof: null }
        fake.received.push(r)
        const [status, headers, body] = fake.answer(r)
        res.statusCode = status
        const grouped = new Map()
        for (const [k, v] of headers) grouped.set(k, [...(grouped.get(k) || []), v])
        for (const [k, v] of grouped) res.setHeader(k, v.length === 1 ? v[0] : v)
        res.end(body)
      })
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${server.address().port}`
  })
  afterEach(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))

  async function signedIn (opts = {}) {
    const b = new dc.DbscBrowser(base, { origin: 'https://app.example', ...opts })
    assert.equal((await b.get('/login')).status, 200)
    return b
  }
  const statuses = (seen) => seen.map((r) => r.status)
  const jarOf = (b) => Object.fromEntries(b.jar.cookies)

  for (const [algs, alg] of [['ES256 RS256', 'ES256'], ['RS256 ES256', 'RS256']]) {
    it(`registers and refreshes like Chrome (${algs})`, async () => {
      fake.offerAlgs = algs
      const b = await signedIn({ extraHeaders: { 'X-Forwarded-Proto': 'https' } })
      assert.deepEqual(b.offers, [{ algs: algs.split(' '), path: '/_tessera/dbsc/register', challenge: 'C0', authorization: null }])
      assert.deepEqual(jarOf(b), { [SESSION]: 'T1' })

      const r = await b.register()
      assert.equal(r.status, 200, r.text)
      const reg = fake.received.at(-1)
      assert.deepEqual([reg.method, reg.path, reg.body.length], ['POST', '/_tessera/dbsc/register', 0])
      assert.equal(reg.headers['content-length'], '0')
      assert.deepEqual(reg.cookieLines, [`${SESSION}=T1`])
      assert.equal(reg.headers.origin, 'https://app.example')
      assert.equal(reg.headers['sec-fetch-site'], 'same-origin')
      assert.equal(reg.headers['sec-fetch-mode'], 'no-cors')
      assert.equal(reg.headers['sec-fetch-dest'], 'empty')
      assert.equal(reg.headers['x-forwarded-proto'], 'https')
      assert.ok(!('sec-secure-session-id' in reg.headers) && !('authorization' in reg.headers))
      assert.ok(!reg.headers['secure-session-response'].startsWith('"'), 'bare, as Chrome sends it')
      assert.equal(reg.proof.header.alg, alg)
      assert.deepEqual(reg.proof.payload, { jti: 'C0' })
      assert.deepEqual(reg.proof.header.jwk, dc.jwk(b.key))
      assert.deepEqual([b.sessionIdentifier, b.refreshUrl, b.boundCookie, b.alg], ['BID', '/_tessera/dbsc/refresh', BOUND, alg])
      assert.deepEqual(jarOf(b), { [SESSION]: 'T1', [BOUND]: 'B1' })
      assert.equal(b.jar.attributes.get(BOUND)['max-age'], '600')

      let seen = await b.refresh()
      assert.deepEqual(statuses(seen), [403, 200])
      const [first, second] = fake.received.slice(-2)
      assert.equal(first.headers['sec-secure-session-id'], 'BID')
      assert.ok(!('secure-session-response' in first.headers))
      assert.deepEqual(first.cookieLines, [`${SESSION}=T1; ${BOUND}=B1`])
      assert.equal(second.headers['sec-secure-session-id'], 'BID')
      // verified by the fake with the key registered, not one in the header; jti = the challenge
      assert.deepEqual(second.proof, { header: { alg, typ: 'dbsc+jwt' }, payload: { jti: 'C1' } })
      assert.deepEqual(jarOf(b), { [SESSION]: 'T1', [BOUND]: 'B2' })
      // a new config drops the cached challenge (docs/dbsc.md §2.6 step 5)
      assert.equal(b.ended, null)
      assert.equal(b.cachedChallenge, null)

      seen = await b.refresh()
      assert.deepEqual(statuses(seen), [403, 200])
      assert.ok(!('secure-session-response' in fake.received.at(-2).headers))
      assert.deepEqual(fake.received.at(-1).proof, { header: { alg, typ: 'dbsc+jwt' }, payload: { jti: 'C2' } })
      assert.equal(b.jar.cookies.get(BOUND), 'B3')
    })
  }

  it('sends the two headers as sf-strings when asked', async () => {
    const b = await signedIn({ quoted: true })
    assert.equal((await b.register()).status, 200)
    const value = fake.received.at(-1).headers['secure-session-response']
    assert.match(value, /^"[A-Za-z0-9_.-]+"$/)
    assert.deepEqual(statuses(await b.refresh()), [403, 200])
    assert.equal(fake.received.at(-1).headers['sec-secure-session-id'], '"BID"')
  })

  it('caches a piggy-backed challenge and uses it first', async () => {
    fake.piggyback = true
    const b = await signedIn()
    await b.register()
    assert.deepEqual(statuses(await b.refresh()), [403, 200])
    assert.equal(b.cachedChallenge, 'C2')
    assert.deepEqual(statuses(await b.refresh()), [200])
    assert.deepEqual(fake.received.at(-1).proof.payload, { jti: 'C2' })
  })

  it('re-sends the identical proof for the same challenge', async () => {
    fake.repeatChallenge = true
    const b = await signedIn()
    await b.register() // ES256: signatures are randomised, so equal proofs mean a cached proof
    await b.refresh()
    await b.refresh()
    const proofs = fake.received.slice(-4).map((r) => r.headers['secure-session-response'])
    assert.equal(proofs[0], undefined)
    assert.equal(proofs[2], undefined)
    assert.ok(proofs[1])
    assert.equal(proofs[1], proofs[3])
  })

  it('gives up after five challenges', async () => {
    fake.always403 = true
    const b = await signedIn()
    await b.register()
    const seen = await b.refresh()
    assert.deepEqual(statuses(seen), [403, 403, 403, 403, 403, 403])
    const sent = fake.received.slice(-5).map((r) => dc.decode(r.headers['secure-session-response']).payload.jti)
    assert.deepEqual(sent, ['C1', 'C2', 'C3', 'C4', 'C5'])
    assert.equal(b.ended, 'too_many_challenges')
    assert.equal(b.key, null)
    await assert.rejects(b.refresh(), /no live DBSC session/)
  })

  it('continue:false and a challenge for another session end the DBSC session', async () => {
    fake.endSession = true
    let b = await signedIn()
    await b.register()
    assert.deepEqual(statuses(await b.refresh()), [403, 200])
    assert.equal(b.ended, 'continue_false')
    assert.equal(b.key, null)
    assert.deepEqual(jarOf(b), { [SESSION]: 'T1', [BOUND]: 'B1' }) // cookies stay as the server left them

    fake.endSession = false
    fake.challengeId = 'OTHER'
    b = await signedIn()
    await b.register()
    assert.deepEqual(statuses(await b.refresh()), [403])
    assert.equal(b.ended, 'invalid_challenge')
  })

  it('refresh with another key, and raw DBSC posts', async () => {
    const b = await signedIn()
    await b.register(undefined, { key: keys.ES256 })
    const seen = await b.refresh({ key: keys.ES256b }) // F4: the fake never accepts it
    assert.deepEqual(statuses(seen), [403, 403, 403, 403, 403, 403])
    for (const r of fake.received.slice(-5)) assert.match(r.proof, /invalid signature/)
    // F1 / F2 / R1 shapes: a DBSC POST with exactly the headers asked for
    let r = await b.dbscPost('/_tessera/dbsc/refresh', { proof: null })
    assert.equal(r.status, 200)
    assert.ok(!('sec-secure-session-id' in fake.received.at(-1).headers))
    r = await b.dbscPost('/_tessera/dbsc/refresh', { proof: null, sessionId: 'wrongid' })
    assert.equal(fake.received.at(-1).headers['sec-secure-session-id'], 'wrongid')
    assert.equal((await b.dbscPost('/_tessera/dbsc/register', { proof: null })).status, 400)
  })

  it('sends a hostile registration as built', async () => {
    const b = await signedIn()
    const r = await b.register(undefined, { key: keys.ES256, flipBit: 3 })
    assert.equal(r.status, 403)
    assert.match(fake.received.at(-1).proof, /invalid signature/)
    assert.equal(b.key, null)
    assert.equal(b.sessionIdentifier, null)
    const token = dc.proof(keys.ES256, 'C0', { registration: true, typ: 'jwt' })
    await b.register(undefined, { proofToken: token })
    assert.equal(fake.received.at(-1).headers['secure-session-response'], token)
  })

  it('thieves hold copies of the jar', async () => {
    const b = await signedIn()
    await b.register()
    const s1 = b.steal(SESSION) // S1: only the long-lived cookie
    const s2 = b.steal() // S2: both
    assert.deepEqual((await s1.get('/account')).json(), [`${SESSION}=T1`])
    assert.deepEqual((await s2.get('/account')).json(), [`${SESSION}=T1; ${BOUND}=B1`])
    assert.equal(s1.key, null)
    assert.equal(s2.sessionIdentifier, null)
    await assert.rejects(s2.refresh())
    // the owner's later cookies do not reach the thief, and the thief's edits not the owner
    await b.refresh()
    s2.jar.cookies.set(BOUND, 'forged')
    assert.equal(b.jar.cookies.get(BOUND), 'B2')
    assert.equal(s2.jar.cookies.get(BOUND), 'forged')
    // an explicit Cookie header is sent verbatim (S4's duplicate cookie)
    await s2.get('/account', { headers: { Cookie: `${SESSION}=T1; ${BOUND}=B1; ${BOUND}=B1` } })
    assert.deepEqual(fake.received.at(-1).cookieLines, [`${SESSION}=T1; ${BOUND}=B1; ${BOUND}=B1`])
    // Max-Age=0 from the server deletes both
    await b.post('/logout')
    assert.equal(b.jar.cookies.size, 0)
    assert.equal((await b.get('/account')).text, '[]')
  })

  it('registration answers Chrome would not store', async () => {
    for (const [answer, why] of [['no_cookie', 'bound_cookie_not_set'], ['junk', 'invalid_config']]) {
      fake.registerAnswer = answer
      const b = await signedIn()
      assert.equal((await b.register()).status, 200)
      assert.deepEqual([b.ended, b.key, b.sessionIdentifier], [why, null, null])
      await assert.rejects(b.refresh(), /no live DBSC session/)
    }
  })

  const cases = [
    [401, null, 'persistent_http_error', 'B1'],
    [302, null, 'persistent_http_error', 'B1'],
    [500, null, null, 'B1'], // transient: the session stays
    [503, null, null, 'B1'],
    [null, '', null, 'B2'], // empty body: refreshed, config unchanged
    [null, 'not json', 'invalid_config', 'B2'],
    [null, '{"session_identifier":"BID"}', 'invalid_config', 'B2'],
    [null, JSON.stringify({ ...new Fake().config(), session_identifier: 'NEW' }), 'mismatched_session_id', 'B2']
  ]
  for (const [status, body, ended, bound] of cases) {
    it(`reads a refresh answer as Chrome does (${status} ${JSON.stringify(body)})`, async () => {
      const b = await signedIn()
      await b.register()
      const config = b.config
      fake.refreshStatus = status
      fake.refreshBody = body
      const seen = await b.refresh()
      assert.deepEqual(statuses(seen), status ? [status] : [403, 200])
      assert.equal(b.ended, ended)
      assert.equal(b.jar.cookies.get(BOUND), bound)
      assert.equal(b.key === null, ended !== null)
      if (ended === null) {
        assert.equal(b.config, config)
        assert.equal(b.sessionIdentifier, 'BID')
      }
    })
  }

  it('form and JSON bodies', async () => {
    const b = new dc.DbscBrowser(base)
    assert.equal((await b.post('/login', { form: { user: 'alice', password: 'a b' } })).text,
      'user=alice&password=a+b application/x-www-form-urlencoded')
    assert.equal((await b.post('/login', { json: { u: 1 } })).text, '{"u":1} application/json')
  })
})
