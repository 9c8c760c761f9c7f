// A small app typed against the package's declarations; `tsc --noEmit` must accept it.
import express from 'express'
import session from 'express-session'
import {
  SessionManager, ManualClock, expressSession, csrfProtection, TesseraStore, TesseraError,
  SessionEndedError, Reason, type SessionEvent, type TesseraSession
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

void admin
void other
