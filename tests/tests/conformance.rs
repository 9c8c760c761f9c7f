//! The Rust runner of the conformance corpus (`tests/conformance/*.json`, format in its
//! README): every scenario runs through tessera's public API on a fresh memory store, a manual
//! clock at 1 700 000 000 000 ms and no background sweeper; its `config` goes through the named
//! options every binding uses (`Builder::options`). All failures are collected and reported
//! together, each naming the scenario, the step index, the op and the mismatch.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tessera::{
    Authn, Config, Context, Error, Event, Freshness, ManualClock, Session, SessionId, SessionInfo,
    SessionManager, Validation,
};
use tessera_tests::corpus;
use tessera_tests::redis_cluster::RedisCluster;
use tessera_tests::redis_server::RedisServer;
use tessera_tests::scenario::{self, EventExpect, Expect, Scenario, Step};
use tessera_tests::sqlite_files::SqliteFiles;

/// The corpus must not shrink below this many scenarios unnoticed.
const MIN_SCENARIOS: usize = 30;

#[test]
fn conformance_corpus() {
    run_corpus("memory", &|_| None);
}

/// The same corpus on the embedded SQLite store: a database file per scenario.
#[test]
fn conformance_corpus_on_sqlite() {
    let files = SqliteFiles::new("conf");
    run_corpus("sqlite", &|name| Some(files.url(name)));
}

/// The same corpus on Redis: each scenario on a key prefix of its own, on a private server.
#[test]
fn conformance_corpus_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    run_corpus("redis", &|name| Some(server.url(&format!("conf-{name}"))));
}

/// The same corpus on a three-master Redis Cluster (every key of a prefix in one hash slot).
#[test]
fn conformance_corpus_on_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    run_corpus("redis-cluster", &|name| {
        Some(cluster.url(&format!("conf-{name}")))
    });
}

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

fn run_corpus(label: &str, store: &dyn Fn(&str) -> Option<String>) {
    corpus::run_all(
        &corpus_dir(),
        "conformance",
        label,
        |s: &Scenario| s.steps.len(),
        |s| run(s, store(&s.name)),
    );
}

/// The corpus must not shrink below [`MIN_SCENARIOS`] unnoticed.
#[test]
fn corpus_has_enough_scenarios() {
    let dir = corpus_dir();
    let corpus = scenario::load_corpus(&dir).expect("the corpus directory lists");
    assert!(
        corpus.len() >= MIN_SCENARIOS,
        "only {} scenario files in {}; the corpus must have at least {MIN_SCENARIOS}",
        corpus.len(),
        dir.display()
    );
}

/// Run one scenario (on the store at `store_url`, else in memory); returns its failures.
fn run(s: &Scenario, store_url: Option<String>) -> Vec<String> {
    let clock = ManualClock::new(scenario::START_MS);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    // The scenario's options first, then what the README fixes for every run (the corpus model
    // has already refused `store` and `sweep_interval_ms` in `config`).
    let mut options = s.config.clone();
    if let Some(url) = store_url {
        options.insert("store".to_owned(), Value::String(url));
    }
    let built = SessionManager::builder(Config::default())
        .options(&options)
        .and_then(|b| {
            b.clock(clock.clone())
                .sweep_interval(None)
                .listener(move |e: &Event| {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(e.clone());
                })
                .build()
        });
    let manager = match built {
        Ok(m) if s.config_error.is_none() => m,
        other => return config_outcome(s, other.map(drop)).into_iter().collect(),
    };
    let mut runner = Runner {
        manager,
        clock,
        events,
        tokens: HashMap::new(),
        csrf: HashMap::new(),
    };
    let mut failures = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        let at = format!("{} steps[{i}] ({})", s.name, step.op());
        match runner.step(step) {
            Ok(mismatches) => failures.extend(mismatches.into_iter().map(|m| format!("{at}: {m}"))),
            Err(abort) => {
                failures.push(format!("{at}: {abort} (rest of the scenario skipped)"));
                break;
            }
        }
    }
    failures
}

/// Compare the outcome of building the manager with the scenario's `config_error`.
fn config_outcome(s: &Scenario, built: Result<(), Error>) -> Option<String> {
    let at = format!("{} (building the manager)", s.name);
    match (&s.config_error, built) {
        (Some(want), Ok(())) => Some(format!("{at}: built, expected config_error {want:?}")),
        (Some(want), Err(e)) if e.code() != want => Some(format!(
            "{at}: failed with {e}, expected config_error {want:?}"
        )),
        (None, Err(e)) => Some(format!("{at}: failed with {e}")),
        _ => None,
    }
}

struct Runner {
    manager: SessionManager,
    clock: ManualClock,
    events: Arc<Mutex<Vec<Event>>>,
    /// Session token names → token text.
    tokens: HashMap<String, String>,
    /// CSRF token names → token text.
    csrf: HashMap<String, String>,
}

/// What one step produced.
enum Outcome {
    /// A session (`rotated`: whether it came with a new token).
    Session(Box<Session>, bool),
    /// The op was refused: a rejection reason or an error code.
    Failed(&'static str),
    /// `logout`, `revoke`.
    Ended(bool),
    /// `revoke_user*`, `revoke_all`, `sweep`, `store_len`.
    Count(usize),
    /// `list_user`.
    List(Vec<SessionInfo>),
    /// `verify_csrf`.
    Valid(bool),
    /// `events`.
    Events(Vec<Event>),
    /// `require_recent`.
    Fresh(Freshness),
    /// Done, nothing to report.
    Done,
}

impl Outcome {
    fn code(&self) -> &'static str {
        match self {
            Outcome::Failed(code) => code,
            _ => "ok",
        }
    }

    fn from_validation(v: Result<Validation, Error>) -> Outcome {
        match v {
            Ok(Validation::Valid(s)) => {
                let rotated = s.new_token().is_some();
                Outcome::Session(Box::new(s), rotated)
            }
            Ok(Validation::Rejected(reason)) => Outcome::Failed(reason.code()),
            Err(e) => Outcome::Failed(e.code()),
        }
    }

    fn from_result<T>(r: Result<T, Error>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
        r.map_or_else(|e| Outcome::Failed(e.code()), ok)
    }
}

fn ctx(https: bool, user_agent: &Option<String>) -> Context<'_> {
    Context {
        https,
        user_agent: user_agent.as_deref(),
        ..Context::default()
    }
}

fn authn(level: Option<u8>, amr: &Option<Vec<String>>) -> Result<Authn, Error> {
    Authn::new(level.unwrap_or(1), amr.iter().flatten())
}

/// A problem with the scenario itself (a name never bound): the rest cannot run meaningfully.
type Abort = String;

impl Runner {
    fn token(&self, name: &Option<String>, raw: &Option<String>) -> Result<String, Abort> {
        match (name, raw) {
            (Some(name), _) => self.named(name),
            (None, Some(raw)) => Ok(raw.clone()),
            (None, None) => Err("no token given".to_owned()),
        }
    }

    fn named(&self, name: &str) -> Result<String, Abort> {
        self.tokens
            .get(name)
            .cloned()
            .ok_or_else(|| format!("token name {name:?} is not bound by an earlier `as`"))
    }

    fn id_of(&self, name: &str) -> Result<SessionId, Abort> {
        let token = self.named(name)?;
        self.manager
            .id_of(&token)
            .map_err(|r| format!("token {name:?} has no id: {r}"))
    }

    /// Bind `name` to the token the client holds after a session result: the new one if the
    /// op issued one, else the one it sent. Without a session the name is unbound, so a later
    /// step using it stops the scenario instead of quietly reusing an old token.
    fn bind(&mut self, name: &Option<String>, outcome: &Outcome, sent: Option<&str>) {
        let Some(name) = name else { return };
        let held = match outcome {
            Outcome::Session(s, _) => s
                .new_token()
                .map(|t| t.expose())
                .or_else(|| sent.map(str::to_owned)),
            _ => None,
        };
        match held {
            Some(token) => self.tokens.insert(name.clone(), token),
            None => self.tokens.remove(name),
        };
    }

    /// Run one step; `Ok` holds the mismatches with its expectation.
    fn step(&mut self, step: &Step) -> Result<Vec<String>, Abort> {
        let m = &self.manager;
        let outcome = match step {
            Step::Create {
                user,
                data,
                https,
                user_agent,
                bind,
                ..
            } => {
                let r = m.create(user.as_deref(), data.clone(), &ctx(*https, user_agent));
                let outcome = Outcome::from_result(r, |s| Outcome::Session(Box::new(s), true));
                self.bind(&Some(bind.clone()), &outcome, None);
                outcome
            }
            Step::Validate {
                token,
                raw,
                https,
                bind,
                ..
            } => {
                let sent = self.token(token, raw)?;
                let outcome = Outcome::from_validation(m.validate(&sent, &ctx(*https, &None)));
                self.bind(bind, &outcome, Some(&sent));
                outcome
            }
            Step::Rotate {
                token,
                raw,
                https,
                bind,
                ..
            } => {
                let sent = self.token(token, raw)?;
                let outcome = Outcome::from_validation(m.rotate(&sent, &ctx(*https, &None)));
                self.bind(bind, &outcome, None);
                outcome
            }
            Step::Login {
                token,
                raw,
                user,
                level,
                amr,
                https,
                user_agent,
                bind,
                ..
            } => {
                let sent = match (token, raw) {
                    (None, None) => None,
                    _ => Some(self.token(token, raw)?),
                };
                let r = authn(*level, amr).and_then(|a| {
                    m.login_with(sent.as_deref(), user, &a, &ctx(*https, user_agent))
                });
                let outcome = Outcome::from_result(r, |s| Outcome::Session(Box::new(s), true));
                self.bind(bind, &outcome, None);
                outcome
            }
            Step::Reauthenticate {
                token,
                raw,
                level,
                amr,
                https,
                bind,
                ..
            } => {
                let sent = self.token(token, raw)?;
                let r = authn(Some(*level), amr)
                    .and_then(|a| m.reauthenticate(&sent, &a, &ctx(*https, &None)));
                let outcome = Outcome::from_validation(r);
                self.bind(bind, &outcome, None);
                outcome
            }
            Step::RequireRecent {
                token,
                raw,
                max_age_ms,
                min_level,
                https,
                ..
            } => {
                let sent = self.token(token, raw)?;
                let r = m.require_recent(&sent, *max_age_ms, *min_level, &ctx(*https, &None));
                Outcome::from_result(r, Outcome::Fresh)
            }
            Step::Logout { token, raw, .. } => {
                Outcome::from_result(m.logout(&self.token(token, raw)?), Outcome::Ended)
            }
            Step::Revoke { id_of, raw_id, .. } => {
                let id = match (id_of, raw_id) {
                    (Some(name), _) => Ok(self.id_of(name)?),
                    (None, Some(hex)) => SessionId::parse_hex(hex),
                    (None, None) => return Err("no id given".to_owned()),
                };
                Outcome::from_result(id.and_then(|id| m.revoke(&id)), Outcome::Ended)
            }
            Step::RevokeUser { user, .. } => {
                Outcome::from_result(m.revoke_user(user), Outcome::Count)
            }
            Step::RevokeUserExcept {
                user, token, raw, ..
            } => Outcome::from_result(
                m.revoke_user_except(user, &self.token(token, raw)?),
                Outcome::Count,
            ),
            Step::RevokeAll { .. } => Outcome::from_result(m.revoke_all(), Outcome::Count),
            Step::ListUser { user, .. } => Outcome::from_result(m.list_user(user), Outcome::List),
            Step::Set {
                token, key, value, ..
            } => Outcome::from_result(m.set(&self.id_of(token)?, key, value.clone()), |()| {
                Outcome::Done
            }),
            Step::RemoveKey { token, key, .. } => {
                Outcome::from_result(m.remove_key(&self.id_of(token)?, key), |()| Outcome::Done)
            }
            Step::ReplaceData { token, data, .. } => {
                Outcome::from_result(m.replace_data(&self.id_of(token)?, data.clone()), |()| {
                    Outcome::Done
                })
            }
            Step::CsrfToken {
                token, raw, bind, ..
            } => {
                let r = m.csrf_token(&self.token(token, raw)?);
                if let Some(name) = bind {
                    match &r {
                        Ok(csrf) => self.csrf.insert(name.clone(), csrf.clone()),
                        Err(_) => self.csrf.remove(name),
                    };
                }
                Outcome::from_result(r, |_| Outcome::Done)
            }
            Step::VerifyCsrf {
                token,
                raw,
                csrf,
                raw_csrf,
                ..
            } => {
                let candidate = match (csrf, raw_csrf) {
                    (Some(name), _) => self.csrf.get(name).cloned().ok_or_else(|| {
                        format!("csrf name {name:?} is not bound by an earlier `as`")
                    })?,
                    (None, Some(raw)) => raw.clone(),
                    (None, None) => return Err("no csrf token given".to_owned()),
                };
                let r = m.verify_csrf(&self.token(token, raw)?, &candidate);
                Outcome::from_result(r, Outcome::Valid)
            }
            Step::Advance { ms } => {
                self.clock.advance_millis(*ms);
                Outcome::Done
            }
            Step::Sweep { .. } => Outcome::from_result(m.sweep(), Outcome::Count),
            Step::StoreLen { .. } => Outcome::from_result(m.store_len(), Outcome::Count),
            Step::Events { .. } => Outcome::Events(std::mem::take(
                &mut *self.events.lock().unwrap_or_else(PoisonError::into_inner),
            )),
        };
        match step.expect() {
            Some(expect) => self.check(expect, &outcome),
            None => Ok(Vec::new()),
        }
    }

    /// The mismatches between `outcome` and `expect`.
    fn check(&self, expect: &Expect, outcome: &Outcome) -> Result<Vec<String>, Abort> {
        let mut out = Vec::new();
        let code = outcome.code();
        if let Some(want) = &expect.result
            && want != code
        {
            out.push(format!("result: expected {want:?}, got {code:?}"));
        }
        // Every other field needs the op to have succeeded with the matching kind of outcome.
        let missing = |field: &str| {
            format!("{field}: expected, but the op gave result {code:?} and no {field}")
        };
        let session = match outcome {
            Outcome::Session(s, _) => Some(s),
            _ => None,
        };
        let now = self.clock_now();
        if let Some(want) = expect.rotated {
            match outcome {
                Outcome::Session(_, got) if *got != want => {
                    out.push(format!("rotated: expected {want}, got {got}"));
                }
                Outcome::Session(..) => {}
                _ => out.push(missing("rotated")),
            }
        }
        if let Some(want) = &expect.user {
            match session {
                Some(s) if s.user() != want.as_deref() => {
                    out.push(format!("user: expected {want:?}, got {:?}", s.user()))
                }
                Some(_) => {}
                None => out.push(missing("user")),
            }
        }
        if let Some(want) = &expect.data {
            match session {
                Some(s) if s.data() != want => out.push(format!(
                    "data: expected {}, got {}",
                    Value::Object(want.clone()),
                    Value::Object(s.data().clone())
                )),
                Some(_) => {}
                None => out.push(missing("data")),
            }
        }
        if let Some(name) = &expect.same_session_as {
            let want = self.id_of(name)?;
            match session {
                Some(s) if *s.id() != want => out.push(format!(
                    "same_session_as: expected the id of {name:?}, got the {}",
                    self.describe_id(s.id())
                )),
                Some(_) => {}
                None => out.push(missing("same_session_as")),
            }
        }
        if let Some(want) = expect.secure {
            match session {
                Some(s) if s.secure() != want => {
                    out.push(format!("secure: expected {want}, got {}", s.secure()));
                }
                Some(_) => {}
                None => out.push(missing("secure")),
            }
        }
        if let Some(want) = expect.expires_in_ms {
            match session {
                Some(s) if i128::from(s.expires_at()) - now != i128::from(want) => {
                    out.push(format!(
                        "expires_in_ms: expected {want}, got {}",
                        i128::from(s.expires_at()) - now
                    ))
                }
                Some(_) => {}
                None => out.push(missing("expires_in_ms")),
            }
        }
        if let Some(want) = &expect.freshness {
            match outcome {
                Outcome::Fresh(got) if got.code() != want => {
                    out.push(format!(
                        "freshness: expected {want:?}, got {:?}",
                        got.code()
                    ));
                }
                Outcome::Fresh(_) => {}
                _ => out.push(missing("freshness")),
            }
        }
        if let Some(want) = &expect.auth_level {
            let got = session.map(|s| s.authenticated().map(|a| a.level));
            match got {
                Some(got) if got != *want => {
                    out.push(format!("auth_level: expected {want:?}, got {got:?}"));
                }
                Some(_) => {}
                None => out.push(missing("auth_level")),
            }
        }
        if let Some(want) = expect.authenticated_ago_ms {
            match session.map(|s| s.authenticated()) {
                Some(Some(a)) if i128::from(a.at) != now - i128::from(want) => out.push(format!(
                    "authenticated_ago_ms: expected {want}, got {}",
                    now - i128::from(a.at)
                )),
                Some(Some(_)) => {}
                Some(None) => out.push("authenticated_ago_ms: the session is anonymous".into()),
                None => out.push(missing("authenticated_ago_ms")),
            }
        }
        if let Some(want) = expect.absolute_in_ms {
            match session {
                Some(s) if i128::from(s.absolute_deadline()) - now != i128::from(want) => {
                    out.push(format!(
                        "absolute_in_ms: expected {want}, got {}",
                        i128::from(s.absolute_deadline()) - now
                    ))
                }
                Some(_) => {}
                None => out.push(missing("absolute_in_ms")),
            }
        }
        if let Some(want) = expect.ended {
            match outcome {
                Outcome::Ended(got) if *got != want => {
                    out.push(format!("ended: expected {want}, got {got}"));
                }
                Outcome::Ended(_) => {}
                _ => out.push(missing("ended")),
            }
        }
        if let Some(want) = expect.count {
            let got = match outcome {
                Outcome::Count(n) => Some(*n),
                Outcome::List(list) => Some(list.len()),
                _ => None,
            };
            match got {
                Some(got) if got != want => {
                    out.push(format!("count: expected {want}, got {got}"));
                }
                Some(_) => {}
                None => out.push(missing("count")),
            }
        }
        if let Some(names) = &expect.ids_of {
            let want = names
                .iter()
                .map(|n| self.id_of(n))
                .collect::<Result<Vec<_>, _>>()?;
            match outcome {
                Outcome::List(list) => {
                    let got: Vec<SessionId> = list.iter().map(|info| info.id).collect();
                    if got != want {
                        out.push(format!(
                            "ids_of: expected the ids of {names:?} in that order, got {}",
                            self.describe_ids(&got)
                        ));
                    }
                }
                _ => out.push(missing("ids_of")),
            }
        }
        if let Some(want) = expect.valid {
            match outcome {
                Outcome::Valid(got) if *got != want => {
                    out.push(format!("valid: expected {want}, got {got}"));
                }
                Outcome::Valid(_) => {}
                _ => out.push(missing("valid")),
            }
        }
        if let Some(want) = &expect.events {
            match outcome {
                Outcome::Events(got) => out.extend(self.check_events(want, got)?),
                _ => out.push(missing("events")),
            }
        }
        Ok(out)
    }

    fn check_events(&self, want: &[EventExpect], got: &[Event]) -> Result<Vec<String>, Abort> {
        let mut out = Vec::new();
        let shown = || {
            got.iter()
                .map(|e| self.describe_event(e))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if want.len() != got.len() {
            out.push(format!(
                "events: expected {} event(s), got {}: [{}]",
                want.len(),
                got.len(),
                shown()
            ));
            return Ok(out);
        }
        for (i, (w, e)) in want.iter().zip(got).enumerate() {
            let mut wrong = Vec::new();
            if w.kind != e.kind.code() {
                wrong.push(format!("kind {:?}", w.kind));
            }
            if let Some(reason) = &w.reason
                && reason.as_deref() != e.reason.map(|r| r.code())
            {
                wrong.push(format!("reason {reason:?}"));
            }
            if let Some(user) = &w.user
                && user.as_deref() != e.user.as_deref()
            {
                wrong.push(format!("user {user:?}"));
            }
            if let Some(name) = &w.same_session_as
                && e.id != Some(self.id_of(name)?)
            {
                wrong.push(format!("the id of {name:?}"));
            }
            if !wrong.is_empty() {
                out.push(format!(
                    "events[{i}]: expected {}, got {} (all events: [{}])",
                    wrong.join(", "),
                    self.describe_event(e),
                    shown()
                ));
            }
        }
        Ok(out)
    }

    fn clock_now(&self) -> i128 {
        i128::from(self.manager.now())
    }

    /// An id, named after the bound token it belongs to when there is one.
    fn describe_id(&self, id: &SessionId) -> String {
        let mut names: Vec<&str> = self
            .tokens
            .iter()
            .filter(|(_, t)| self.manager.id_of(t).is_ok_and(|i| i == *id))
            .map(|(n, _)| n.as_str())
            .collect();
        names.sort_unstable();
        if names.is_empty() {
            format!("id {:.12}… (no bound token)", id.to_string())
        } else {
            format!("id of {}", names.join("/"))
        }
    }

    fn describe_ids(&self, ids: &[SessionId]) -> String {
        let shown: Vec<String> = ids.iter().map(|id| self.describe_id(id)).collect();
        format!("[{}]", shown.join(", "))
    }

    fn describe_event(&self, e: &Event) -> String {
        let mut s = format!("{{kind: {}", e.kind.code());
        if let Some(r) = e.reason {
            let _ = write!(s, ", reason: {}", r.code());
        }
        let _ = write!(s, ", user: {:?}", e.user.as_deref());
        if let Some(id) = &e.id {
            let _ = write!(s, ", {}", self.describe_id(id));
        }
        s.push('}');
        s
    }
}
