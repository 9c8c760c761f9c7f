-- Tessera's SQLite schema, version 2 (docs/sqlite-schema.md). Ids are the public session ids as
-- 64 lowercase hex digits (never tokens); times are Unix milliseconds; data is JSON text.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE sessions (
  id          TEXT PRIMARY KEY,      -- current session id
  user        TEXT,                  -- signed-in user; NULL = anonymous
  user_agent  TEXT,                  -- device label recorded at creation/login
  created_at  INTEGER NOT NULL,      -- creation, or last login
  last_seen   INTEGER NOT NULL,      -- last validation (written lazily, see docs)
  deadline    INTEGER NOT NULL,      -- absolute deadline
  rotated_at  INTEGER NOT NULL,      -- last token change
  secure      INTEGER NOT NULL,      -- 1 if the token only ever travelled over HTTPS
  csrf        TEXT NOT NULL,         -- CSRF secret, 64 hex digits
  data        TEXT,                  -- session data, a JSON object; NULL = empty
  predecessor TEXT,                  -- id of the alias that points here, while it may live
  max_idle_ms INTEGER,               -- the session's own idle timeout; NULL = the configured one
  due         INTEGER NOT NULL,      -- earliest it could expire: min(deadline, last_seen + idle)
  auth        TEXT,                  -- when and how the user signed in (JSON); NULL = not recorded
  binding     TEXT                   -- device binding or its offer (JSON); NULL = none
) WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user) WHERE user IS NOT NULL;
CREATE INDEX sessions_by_due ON sessions (due);

CREATE TABLE aliases (
  id     TEXT PRIMARY KEY,           -- a rotated-away id
  target TEXT NOT NULL,              -- the id it was rotated to
  until  INTEGER NOT NULL            -- it resolves while until > now
) WITHOUT ROWID;

CREATE INDEX aliases_by_until ON aliases (until);

-- The cap on live sessions (max_sessions) counts them here rather than with COUNT(*), which
-- reads a whole index; the triggers keep the count in every process, whatever its version.
-- Added to version 1 files in place (`schema::ensure`): nothing else changes, so older
-- processes sharing a file keep working, and keep the count too.
CREATE TABLE IF NOT EXISTS live (
  one      INTEGER PRIMARY KEY CHECK (one = 1),
  sessions INTEGER NOT NULL
);
INSERT OR IGNORE INTO live (one, sessions) SELECT 1, COUNT(*) FROM sessions;
CREATE TRIGGER IF NOT EXISTS live_insert AFTER INSERT ON sessions
  BEGIN UPDATE live SET sessions = sessions + 1; END;
CREATE TRIGGER IF NOT EXISTS live_delete AFTER DELETE ON sessions
  BEGIN UPDATE live SET sessions = sessions - 1; END;
-- The anonymous sessions, least recently seen first: where the cap evicts.
CREATE INDEX IF NOT EXISTS sessions_anonymous_by_due ON sessions (due) WHERE user IS NULL;
