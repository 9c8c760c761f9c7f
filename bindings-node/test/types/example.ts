// A small app typed against the package's declarations; `tsc --noEmit` must accept it.
import express from 'express'
import session from 'express-session'
import {
  SessionManager, ManualClock, expressSession, csrfProtection, TesseraStore, TesseraError,
  SessionEndedError, Reason, requireBound, requireRecent, type SessionEvent, type TesseraSession,
  type Freshness, type Binding, type DbscResponse, type SessionListing
} from 'tessera'

const clock = new ManualClock()
const manager = new SessionManager({ clock, cookieName: 'sid', cookieSecure: false, rotationIntervalMs: null })
manager.onEvent((e: SessionEvent) => { if (e.kind === 'rejected') console.log(e.reason) })

const app = express()
app.use(expressSession({ manager }))
app.use(express.urlencoded({ extended: false }))
app.use(csrfProtection({ header: 'x-csrf-token' }))
app.get('/', (req, res) => {
  const s = req.session as unknown as TesseraSession
  const visits = typeof s.visits === 'number' ? s.visits : 0
  s.visits = visits + 1
  s.cookie.maxAge = 10 * 60 * 1000
  res.json({ id: s.id, csrf: req.csrfToken?.(), user: req.tessera?.user ?? null })
})
app.post('/login', (req, res) => {
  req.tessera!.login(String(req.body.user))
  res.json({ csrf: req.tessera!.csrfToken() })
})
app.post('/logout', async (req, res) => {
  await req.tessera!.logout()
  res.json({ ok: true })
})

async function admin (): Promise<number> {
  const s = manager.createSync('alice', { theme: 'dark' }, { https: true })
  const v = await manager.validate(s.newToken!, { https: true })
  if (!v.valid && v.reason === Reason.EXPIRED_IDLE) return 0
  try {
    await manager.set(s.id!, 'k', { nested: [1, 2] })
  } catch (err) {
    if (err instanceof SessionEndedError) return -1
    if (err instanceof TesseraError && err.code === 'store_unavailable') return -2
  }
  clock.advance(1000)
  return manager.revokeUser('alice')
}

const store = new TesseraStore({ cookieName: 'sid', cookieSecure: false })
const other = express()
other.use(session({ store, genid: store.genid, secret: 'x', resave: false, saveUninitialized: false }))

// Device-bound sessions and step-up.
const bound = new SessionManager({ clock, dbsc: true, dbscAlgorithms: ['ES256'], dbscCookieTtlMs: 600000, dbscOrigin: null })
const site = express()
site.use(expressSession({ manager: bound }))
site.get('/account', requireBound({ loginUrl: '/login' }), (req, res) => {
  const s = req.session as unknown as TesseraSession
  const b: Binding | null = s.binding
  res.json({ binding: b, reason: req.tessera?.reason ?? null, at: req.tessera?.authenticated?.at ?? null })
})
site.post('/password', requireRecent({ maxAgeMs: 300000, minLevel: 2, reauthUrl: '/reauth' }), (req, res) => {
  const verdict: Freshness = req.tessera!.requireRecent(300000, 2)
  res.json({ verdict })
})
site.post('/reauth', async (req, res) => {
  const s = req.session as unknown as TesseraSession
  await s.reauthenticate({ level: 2, amr: ['pwd', 'otp'] })
  const offered: boolean = await s.offerBinding()
  req.tessera!.authn = { level: 2 }
  req.tessera!.login('alice', { level: 1, amr: ['pwd'] })
  res.json({ offered })
})

async function devices (): Promise<boolean> {
  const list: SessionListing[] = await bound.listUser('alice')
  const r: DbscResponse = await bound.dbscRefresh({ method: 'POST', https: true, sessionId: 'x', cookieHeader: undefined })
  const head: Array<[string, string]> = r.headers
  const fresh = await bound.requireRecent('t', 1000, 2, { https: true, boundCookie: 'b' })
  await bound.reauthenticate('t', { level: 2, amr: ['otp'] })
  await bound.login(null, 'alice', { https: true }, { level: 2 })
  return list.some((i) => i.bound && i.keyThumbprint !== null && (i.authenticated?.level ?? 0) > 1) &&
    head.length > 0 && fresh === 'allowed' && (await bound.unbind(list[0].id))
}

void admin
void other
void devices
