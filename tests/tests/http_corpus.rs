//! The Rust runner of the HTTP-level corpus (`tests/http/*.json`, format in its README): the
//! reference app written directly on core's per-request protocol (`tessera::http`: begin, the
//! app's action, finish), driven request by request with the client's cookie jar kept here.
//!
//! Every scenario runs on a fresh memory store and again on a private `redis-server` (a key
//! prefix per scenario), with a manual clock at 1 700 000 000 000 ms and no background sweeper;
//! its `config` goes through the named options every binding uses (`Builder::options`). All
//! failures are collected and reported together, each naming the scenario, the step index and
//! the request, with what was expected and what came back.
//!
//! There is no HTTP server here: a request is a [`RequestHead`] built from what a browser would
//! send, and a response is the status, the headers core returns and the app's JSON body. The
//! checks read the `Set-Cookie` lines as a browser does ([`SetCookie`]), exactly as the runners
//! that go through a real framework do.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tessera::http::{self, Auth, CsrfCheck, Expiry, Outcome, RequestHead};
use tessera::{Config, Data, Error, ManualClock, SessionManager};
use tessera_tests::corpus;
use tessera_tests::http_scenario::{
    self as spec, CookieArg, CsrfArg, Expect, HttpRequest, Response, Scenario, SetCookie, Step,
};
use tessera_tests::redis_cluster::RedisCluster;
use tessera_tests::redis_server::RedisServer;
use tessera_tests::scenario::START_MS;
use tessera_tests::sqlite_files::SqliteFiles;

/// The corpus must not shrink below this many scenarios unnoticed.
const MIN_SCENARIOS: usize = 45;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("http")
}

#[test]
fn http_corpus() {
    run_corpus("memory", &|_| None);
}

/// The same corpus on the embedded SQLite store: a database file per scenario.
#[test]
fn http_corpus_on_sqlite() {
    let files = SqliteFiles::new("http");
    run_corpus("sqlite", &|name| Some(files.url(name)));
}

/// The same corpus on Redis: each scenario on a key prefix of its own, on a private server.
#[test]
fn http_corpus_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    run_corpus("redis", &|name| Some(server.url(&format!("http-{name}"))));
}

/// The same corpus on a three-master Redis Cluster.
#[test]
fn http_corpus_on_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    run_corpus("redis-cluster", &|name| {
        Some(cluster.url(&format!("http-{name}")))
    });
}

/// The corpus has at least [`MIN_SCENARIOS`] files and each one's `name` is its file name.
#[test]
fn corpus_has_enough_scenarios_named_after_their_files() {
    let dir = corpus_dir();
    let mut files = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("list tests/http") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        files += 1;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(&path).expect("read a scenario");
        let name = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned));
        if name.as_deref() != Some(&*stem) {
            wrong.push(format!("{}: name is {name:?}", path.display()));
        }
    }
    assert!(
        files >= MIN_SCENARIOS,
        "only {files} scenario files in {}; the corpus must have at least {MIN_SCENARIOS}",
        dir.display()
    );
    assert!(wrong.is_empty(), "names differ from file names: {wrong:#?}");
}

fn run_corpus(label: &str, store: &dyn Fn(&str) -> Option<String>) {
    corpus::run_all(
        &corpus_dir(),
        "http corpus",
        label,
        |s: &Scenario| s.steps.len(),
        |s| run(s, store(&s.name)),
    );
}

/// Run one scenario (on the store at `store_url`, else in memory); returns its failures.
fn run(s: &Scenario, store_url: Option<String>) -> Vec<String> {
    let clock = ManualClock::new(START_MS);
    let mut options = s.config.clone();
    if let Some(url) = store_url {
        options.insert("store".to_owned(), Value::String(url));
    }
    let built = SessionManager::builder(Config::default())
        .options(&options)
        .and_then(|b| b.clock(clock.clone()).sweep_interval(None).build());
    let manager = match built {
        Ok(m) => m,
        Err(e) => return vec![format!("{}: building the manager failed: {e}", s.name)],
    };
    let mut client = Client {
        cookie_name: manager.config().cookie_name.clone(),
        manager,
        clock,
        jar: BTreeMap::new(),
        saved: HashMap::new(),
        csrf: HashMap::new(),
        held: HashMap::new(),
    };
    let mut failures = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        let at = format!("{} steps[{i}] ({})", s.name, step.label());
        match client.step(step) {
            Ok(mismatches) => failures.extend(mismatches.into_iter().map(|m| format!("{at}: {m}"))),
            Err(abort) => {
                failures.push(format!("{at}: {abort} (rest of the scenario skipped)"));
                break;
            }
        }
    }
    failures
}

/// A problem with the scenario at run time (a saved name that holds nothing): the rest cannot
/// run meaningfully.
type Abort = String;

/// The browser side: the cookie jar, saved cookies and CSRF tokens, held requests.
struct Client {
    manager: SessionManager,
    clock: ManualClock,
    cookie_name: String,
    /// Every cookie the jar's client holds, by name.
    jar: BTreeMap<String, String>,
    /// Session cookie values saved by `save_cookie`.
    saved: HashMap<String, String>,
    /// CSRF tokens saved by `save_csrf`.
    csrf: HashMap<String, String>,
    /// Requests stopped after the app's action (`hold`), by name.
    held: HashMap<String, InFlight>,
}

/// What a request sent that its checks need.
struct Sent {
    /// The step is the jar's client.
    jar_client: bool,
    /// The session cookie values the `Cookie` header carried.
    session_values: Vec<String>,
}

/// A request between begin and finish.
struct InFlight {
    sent: Sent,
    state: State,
}

enum State {
    /// Begun, the app has acted; finish is due.
    Begun(Box<http::Request>, Handled),
    /// Begin failed: the response is already decided.
    Answered(Response),
}

impl Client {
    fn step(&mut self, step: &Step) -> Result<Vec<String>, Abort> {
        match step {
            Step::Advance(ms) => {
                self.clock.advance_millis(*ms);
                Ok(Vec::new())
            }
            Step::StoreLen(want) => Ok(match self.manager.store_len() {
                Ok(got) if got == *want => Vec::new(),
                Ok(got) => vec![format!("store_len: expected {want}, got {got}")],
                Err(e) => vec![format!("store_len: expected {want}, got the error {e}")],
            }),
            Step::Request(r) => {
                let in_flight = self.start(&r.request)?;
                if let Some(name) = &r.hold {
                    self.held.insert(name.clone(), in_flight);
                    return Ok(Vec::new());
                }
                let (response, notes) = self.complete(in_flight.state);
                self.conclude(
                    &in_flight.sent,
                    response,
                    notes,
                    r.expect.as_ref(),
                    r.save_cookie.as_deref(),
                    r.save_csrf.as_deref(),
                )
            }
            Step::Release(r) => {
                let in_flight = self
                    .held
                    .remove(&r.release)
                    .ok_or_else(|| format!("no request is held as {:?}", r.release))?;
                let (response, notes) = self.complete(in_flight.state);
                self.conclude(
                    &in_flight.sent,
                    response,
                    notes,
                    r.expect.as_ref(),
                    r.save_cookie.as_deref(),
                    None,
                )
            }
        }
    }

    /// Send the request: begin, then the app's action.
    fn start(&self, request: &HttpRequest) -> Result<InFlight, Abort> {
        let header = self.cookie_header(&request.cookie)?;
        let sent = Sent {
            jar_client: request.cookie.is_jar(),
            session_values: header
                .as_deref()
                .map(|h| session_values(h, &self.cookie_name))
                .unwrap_or_default(),
        };
        let candidate = match &request.csrf {
            None => None,
            Some(CsrfArg::Raw(raw)) => Some(raw.clone()),
            Some(CsrfArg::Saved(name)) => Some(
                self.csrf
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("csrf {name:?} holds no token"))?,
            ),
        };
        let user_agent = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
            .map_or("tessera-http-corpus", |(_, v)| v.as_str());
        let head = RequestHead {
            cookie_header: header.as_deref(),
            https: request.https,
            method: &request.method,
            user_agent: Some(user_agent),
            csrf_candidate: candidate.as_deref(),
        };
        let state = match http::begin(&self.manager, &head) {
            Ok(mut begun) => {
                let body = request.body.clone().unwrap_or(Value::Null);
                let handled = app(
                    &self.manager,
                    &mut begun,
                    &request.method,
                    &request.path,
                    &body,
                );
                State::Begun(Box::new(begun), handled)
            }
            Err(e) => State::Answered(error_response(&e)),
        };
        Ok(InFlight { sent, state })
    }

    /// Finish the request: the headers from `finish`, or from `prepare` when the app sends them
    /// before it is done (`/early`, `/stream`). Also returns what went wrong on the way that no
    /// expectation can see (finish failing after the headers went out, prepare and finish
    /// disagreeing).
    fn complete(&self, state: State) -> (Response, Vec<String>) {
        let (mut request, handled) = match state {
            State::Begun(request, handled) => (request, handled),
            State::Answered(response) => return (response, Vec::new()),
        };
        let m = &self.manager;
        let mut notes = Vec::new();
        let early = if handled.early {
            match request.prepare(m, &handled.outcome) {
                Ok(headers) => Some(headers),
                Err(e) => return (error_response(&e), notes),
            }
        } else {
            None
        };
        let finished = request.finish(m, handled.outcome);
        let response = match (early, finished) {
            (None, Ok(headers)) => respond(handled.status, &headers, handled.body),
            (None, Err(e)) => {
                // The error response still carries the headers finish decided (a rotated token).
                let (error, headers) = e.into_parts();
                let body = Some(json!({"error": error.code()}));
                respond(error_status(&error), &headers, body)
            }
            (Some(sent), finished) => {
                match &finished {
                    Ok(done) if done.set_cookie != sent.set_cookie => notes.push(format!(
                        "the Set-Cookie sent early ({}) differs from the one finish decided ({})",
                        redact(sent.set_cookie.as_deref()),
                        redact(done.set_cookie.as_deref())
                    )),
                    Ok(_) => {}
                    Err(e) => notes.push(format!(
                        "finish failed after the headers were sent: {} ({e})",
                        e.error().code()
                    )),
                }
                respond(handled.status, &sent, handled.body)
            }
        };
        (response, notes)
    }

    /// Check the response, then update the jar and the saved names.
    fn conclude(
        &mut self,
        sent: &Sent,
        response: Response,
        mut notes: Vec<String>,
        expect: Option<&Expect>,
        save_cookie: Option<&str>,
        save_csrf: Option<&str>,
    ) -> Result<Vec<String>, Abort> {
        notes.extend(response.invariant_violations(&self.cookie_name));
        if let Some(expect) = expect {
            notes.extend(expect.mismatches(&response, &self.cookie_name, &sent.session_values));
        }
        let session = response.session_cookie(&self.cookie_name);
        let mut held = match sent.session_values.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        if let Some(c) = &session {
            held = (!c.removes()).then(|| c.value.clone());
        }
        if sent.jar_client {
            for c in response
                .set_cookies
                .iter()
                .filter_map(|l| SetCookie::parse(l))
            {
                if c.removes() {
                    self.jar.remove(&c.name);
                } else {
                    self.jar.insert(c.name.clone(), c.value.clone());
                }
            }
        }
        if let Some(name) = save_cookie {
            match held {
                Some(value) => self.saved.insert(name.to_owned(), value),
                None => self.saved.remove(name),
            };
        }
        if let Some(name) = save_csrf {
            match response
                .body
                .as_ref()
                .and_then(|b| b.get("csrf"))
                .and_then(Value::as_str)
            {
                Some(token) => {
                    self.csrf.insert(name.to_owned(), token.to_owned());
                }
                None => {
                    self.csrf.remove(name);
                    notes.push(format!(
                        "save_csrf: the response body has no csrf string (body: {})",
                        response
                            .body
                            .as_ref()
                            .map_or("not JSON".to_owned(), Value::to_string)
                    ));
                }
            }
        }
        Ok(notes)
    }

    /// The `Cookie` header a step sends (`None`: no header).
    fn cookie_header(&self, arg: &CookieArg) -> Result<Option<String>, Abort> {
        let others = || {
            self.jar
                .iter()
                .filter(|(name, _)| **name != self.cookie_name)
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
        };
        let saved = |name: &str| {
            self.saved
                .get(name)
                .cloned()
                .ok_or_else(|| format!("cookie {name:?} holds no cookie (its client had none)"))
        };
        let pairs = match arg {
            CookieArg::Jar => self
                .jar
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            CookieArg::NoSession => others(),
            CookieArg::Saved(name) => {
                let mut pairs = others();
                pairs.push(format!("{}={}", self.cookie_name, saved(name)?));
                pairs
            }
            CookieArg::Raw(raw) => vec![raw.clone()],
            CookieArg::Template(t) => vec![spec::fill_template(t, |n| saved(n).ok())?],
        };
        let header = pairs.join("; ");
        Ok((!header.is_empty()).then_some(header))
    }
}

/// The values of the cookies called `name` in a `Cookie` header.
fn session_values(header: &str, name: &str) -> Vec<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_owned()
        })
        .collect()
}

/// A `Set-Cookie` line for a failure message: the attributes, never the token.
fn redact(line: Option<&str>) -> String {
    match line.and_then(SetCookie::parse) {
        None => "none".to_owned(),
        Some(c) => {
            let kind = if c.removes() { "a removal" } else { "a value" };
            let attrs: Vec<String> = c
                .attributes
                .iter()
                .map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}")))
                .collect();
            format!("{}=<{kind}>; {}", c.name, attrs.join("; "))
        }
    }
}

fn respond(status: u16, headers: &http::Response, body: Option<Value>) -> Response {
    let mut response = Response {
        status,
        body,
        ..Response::default()
    };
    for (name, value) in headers.headers() {
        if name.eq_ignore_ascii_case("set-cookie") {
            response.set_cookies.push(value.to_owned());
        } else if name.eq_ignore_ascii_case("cache-control") {
            response.cache_control = Some(value.to_owned());
        }
    }
    response
}

/// The status for an error the app did not handle itself (README, "The reference app").
fn error_status(e: &Error) -> u16 {
    match e.code() {
        "invalid_argument" => 400,
        "store_unavailable" | "store_full" => 503,
        _ => 500,
    }
}

fn error_response(e: &Error) -> Response {
    Response {
        status: error_status(e),
        body: Some(json!({"error": e.code()})),
        ..Response::default()
    }
}

// -- the reference app --------------------------------------------------------------------------

/// Where the app keeps the flashes (`/read` leaves it out).
const FLASHES: &str = "_flashes";
/// Where the app keeps the session's expiry as `/expiry` set it, the way Flask keeps
/// `_permanent` and Django `_session_expiry`: finish is told it on every request.
const EXPIRY: &str = "_expiry";

/// What the app did, up to finish.
struct Handled {
    status: u16,
    /// `None`: not JSON (a HEAD response).
    body: Option<Value>,
    outcome: Outcome,
    /// The headers go out before the app is done (`/early`, `/stream`): they come from
    /// `prepare`, and finish only makes the writes.
    early: bool,
}

/// The reference app's routes (README, "The reference app"). Sign-in, sign-out and key cycling
/// take effect at once, as Flask-Login, Django and Passport do; `/error`, `/early` and `/stream`
/// report them in the outcome instead, so finish (or prepare) decides. An error inside a route
/// answers as the README says and is finished as an error response.
fn app(
    manager: &SessionManager,
    request: &mut http::Request,
    method: &str,
    path: &str,
    body: &Value,
) -> Handled {
    match route(manager, request, method, path, body) {
        Ok(handled) => handled,
        Err(e) => Handled {
            status: error_status(&e),
            body: Some(json!({"error": e.code()})),
            outcome: Outcome {
                error: true,
                ..Outcome::default()
            },
            early: false,
        },
    }
}

fn route(
    manager: &SessionManager,
    request: &mut http::Request,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<Handled, Error> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
    let value = || body.get("value").cloned().unwrap_or(Value::Null);
    let mut data = request.data().clone();
    let mut status = 200;
    let mut reply = None;
    let mut auth = Auth::Unchanged;
    let mut expiry = None;
    let mut early = false;
    match path {
        "/read" => {}
        "/set" => {
            data.insert(text("key").to_owned(), value());
        }
        "/delete" => {
            data.remove(text("key"));
        }
        "/append" => append(&mut data, text("key"), value()),
        "/flash" => append(
            &mut data,
            FLASHES,
            json!([text("category"), text("message")]),
        ),
        "/flashes" => {
            let shown = data.remove(FLASHES).unwrap_or_else(|| json!([]));
            reply = Some(json!({ "flashes": shown }));
        }
        "/login" => {
            request.login(manager, text("user"))?;
            data = request.data().clone();
        }
        "/logout" => {
            request.logout(manager)?;
            data = Data::new();
            if body.get("key").is_some() {
                data.insert(text("key").to_owned(), value());
            }
        }
        "/regenerate" => {
            request.regenerate(manager)?;
        }
        "/expiry" => {
            let chosen = expiry_of(body);
            if chosen == Expiry::Policy {
                data.remove(EXPIRY);
            } else {
                data.insert(EXPIRY.to_owned(), body.clone());
            }
            expiry = Some(chosen);
        }
        "/csrf" => reply = Some(json!({ "csrf": request.csrf_token(manager)? })),
        "/protected" => {
            let refused = request.csrf() == CsrfCheck::Invalid;
            status = if refused { 403 } else { 200 };
            reply = Some(json!({ "ok": !refused }));
        }
        "/error" | "/early" | "/stream" => {
            if let Some(user) = body.get("login").and_then(Value::as_str) {
                auth = Auth::LoggedIn(user.to_owned());
            } else if body.get("logout").is_some() {
                auth = Auth::LoggedOut;
            } else if body.get("key").is_some() {
                data.insert(text("key").to_owned(), value());
            }
            if path == "/error" {
                status = 500;
            } else {
                early = true;
            }
            reply = Some(json!({ "ok": path != "/error" }));
        }
        _ => {
            status = 404;
            reply = Some(json!({ "error": "no such route" }));
        }
    }
    let changed_expiry = expiry.is_some();
    let expiry = expiry.or_else(|| data.get(EXPIRY).map(expiry_of));
    let body = reply.unwrap_or_else(|| {
        let visible: Data = data
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        json!({ "user": request.user(), "data": visible })
    });
    Ok(Handled {
        status,
        body: (method != "HEAD").then_some(body),
        outcome: Outcome {
            data: Some(data),
            auth,
            regenerate: false,
            expiry,
            expiry_changed: changed_expiry,
            error: status >= 500,
            ..Outcome::default()
        },
        early,
    })
}

/// `data[key].append(item)` in place; `[item]` if the key is absent.
fn append(data: &mut Data, key: &str, item: Value) {
    match data.get_mut(key) {
        Some(Value::Array(list)) => list.push(item),
        _ => {
            data.insert(key.to_owned(), json!([item]));
        }
    }
}

/// The expiry an `/expiry` body asks for (README: Django's `set_expiry`, Flask's `permanent`).
fn expiry_of(body: &Value) -> Expiry {
    match (body.get("seconds"), body.get("permanent")) {
        (Some(Value::Null), _) | (_, Some(Value::Bool(false))) => Expiry::Policy,
        (_, Some(Value::Bool(true))) => Expiry::Persistent(None),
        (Some(seconds), _) => match seconds.as_u64() {
            Some(0) => Expiry::BrowserSession,
            Some(n) => Expiry::Idle(Duration::from_secs(n)),
            None => Expiry::Policy,
        },
        (None, _) => Expiry::Policy,
    }
}
