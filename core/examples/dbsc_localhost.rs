//! Try device-bound sessions (DBSC) with a real Chromium: a tiny site on loopback.
//!
//! Chromium 156 (Debian) registers only from an HTTPS response with a certificate it trusts: it
//! ignores `Secure-Session-Registration` on `http://localhost`, although it sets the `Secure`
//! cookies there. So put TLS in front (any local proxy to `127.0.0.1:<port>`), pass its origin,
//! and make Chromium trust the certificate (`--ignore-certificate-errors-spki-list`):
//!
//! ```text
//! cargo run -p tessera-core --example dbsc_localhost -- 8137 https://localhost:8443
//! # [--enforce-grace-ms <ms>]: the bound cookie's enforcement grace (default 10 s); port 0: any
//! chromium --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list=<spki sha256> \
//!   --enable-features=DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting \
//!   https://localhost:8443/
//! ```
//!
//! (`DeviceBoundSessions` is off by default in Debian's build; Linux has no key store for DBSC, so
//! the second feature gives Chromium an unprotected software key: for testing only.)
//!
//! Sign in on `/`; the sign-in response offers a binding (`Secure-Session-Registration`), the
//! browser registers a key at `/_tessera/dbsc/register`, and from then on `/account` shows
//! `proof: fresh` (`pending` for its first 10 s) only while the request carries the short-lived
//! bound cookie, which only `/_tessera/dbsc/refresh` renews after a fresh proof; `/offer` offers
//! a binding again. Each request is logged on stderr with its DBSC headers (never a cookie
//! value, a proof or a challenge).
//!
//! The site tells Tessera every request is HTTPS: it listens on loopback only, behind the TLS
//! proxy or for a browser on the same machine (`http://localhost` is a secure context, and
//! Chromium keeps `Secure` and `__Host-` cookies there). Never do that for a request that did
//! not arrive over loopback or TLS. One request per connection (`Connection: close`), one
//! thread each.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tessera::config::Dbsc;
use tessera::dbsc::{self, DbscHead};
use tessera::http::{self, Auth, CsrfCheck, Outcome, RequestHead};
use tessera::{Config, SessionManager};

/// Largest request head or body read (the sign-in form is tiny).
const MAX_BYTES: usize = 16 * 1024;

struct Req {
    method: String,
    path: String,
    /// Lowercase names; repeated headers joined (`; ` for cookies, `, ` otherwise).
    headers: HashMap<String, String>,
    body: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn html(status: u16, body: String) -> Reply {
        let headers = vec![("Content-Type".into(), "text/html; charset=utf-8".into())];
        Reply {
            status,
            headers,
            body,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut dbsc = Dbsc::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--enforce-grace-ms" {
            // A test that must not wait out the 10 s grace (tests/browser/dbsc.test.mjs) sets 0.
            let ms = args.next().ok_or("--enforce-grace-ms needs a value")?;
            dbsc.enforce_grace = Duration::from_millis(ms.parse()?);
        } else {
            positional.push(arg);
        }
    }
    let mut positional = positional.into_iter();
    // Port 0 takes a free one: the first log line names the port bound.
    let port: u16 = positional.next().map_or(Ok(8137), |p| p.parse())?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    let port = listener.local_addr()?.port();
    // The origin the browser sees (the TLS proxy's), for the session config's scope.
    let origin: Arc<str> = positional
        .next()
        .unwrap_or(format!("http://localhost:{port}"))
        .into();
    let config = Config {
        dbsc: Some(dbsc),
        ..Config::default()
    };
    let manager = SessionManager::builder(config)
        .listener(|e| {
            let detail = e.detail.map(|d| format!(" ({d})")).unwrap_or_default();
            eprintln!("  event {}{detail}", e.kind);
        })
        .build()?;
    let manager = Arc::new(manager);
    eprintln!("dbsc_localhost: 127.0.0.1:{port}, browser origin {origin}");
    for stream in listener.incoming() {
        let (manager, origin) = (Arc::clone(&manager), Arc::clone(&origin));
        // A thread per connection: browsers open idle sockets ahead of use.
        std::thread::spawn(move || {
            if let Err(e) = stream.and_then(|s| serve(&manager, &origin, s)) {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}

fn serve(manager: &SessionManager, origin: &str, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(req) = read_request(&stream)? else {
        return Ok(());
    };
    log_request(&req);
    let reply = route(manager, origin, &req).unwrap_or_else(|e| {
        eprintln!("  error: {e}");
        let status = if e.code() == "store_unavailable" {
            503
        } else {
            500
        };
        Reply::html(status, "<p>Server error.</p>".into())
    });
    log_reply(&reply);
    write_reply(&mut stream, reply)
}

fn route(manager: &SessionManager, origin: &str, req: &Req) -> tessera::Result<Reply> {
    let prefix = "/_tessera/dbsc/";
    if let Some(endpoint) = req.path.strip_prefix(prefix) {
        let head = DbscHead {
            cookie_header: req.header("cookie"),
            https: true, // loopback: see the module docs
            method: &req.method,
            origin: Some(origin),
            session_id: req.header("sec-secure-session-id"),
            proof: req.header("secure-session-response"),
        };
        let answer = match endpoint {
            "register" => dbsc::register(manager, &head)?,
            "refresh" => dbsc::refresh(manager, &head)?,
            _ => return Ok(Reply::html(404, "<p>Not found.</p>".into())),
        };
        let headers = answer
            .headers
            .into_iter()
            .map(|(n, v)| (n.into(), v))
            .collect();
        return Ok(Reply {
            status: answer.status,
            headers,
            body: answer.body,
        });
    }
    let form = parse_form(&req.body);
    let head = RequestHead {
        cookie_header: req.header("cookie"),
        https: true, // loopback: see the module docs
        method: &req.method,
        user_agent: req.header("user-agent"),
        csrf_candidate: form.get("csrf").map(String::as_str),
    };
    let mut request = http::begin(manager, &head)?;
    let mut outcome = Outcome::default();
    let mut reply = page(manager, req, &form, &mut request, &mut outcome).unwrap_or_else(|e| {
        eprintln!("  error: {e}");
        Reply::html(503, "<p>Try again.</p>".into())
    });
    outcome.error = reply.status >= 500;
    let response = match request.finish(manager, outcome) {
        Ok(response) => response,
        Err(e) => {
            // The headers still go out: a token rotated by `begin` must reach the browser.
            let (error, response) = e.into_parts();
            eprintln!("  error: {error}");
            reply = Reply::html(503, "<p>Try again.</p>".into());
            response
        }
    };
    for (name, value) in response.headers() {
        reply.headers.push((name.into(), value.into()));
    }
    Ok(reply)
}

/// The site's pages: what the app does between `begin` and `finish`.
fn page(
    manager: &SessionManager,
    req: &Req,
    form: &HashMap<String, String>,
    request: &mut http::Request,
    outcome: &mut Outcome,
) -> tessera::Result<Reply> {
    let who = |r: &http::Request| {
        let proof = r.proof().map_or("none", |p| p.code());
        let reason = r
            .reason()
            .map(|r| format!(" (no session: {r})"))
            .unwrap_or_default();
        format!(
            "<p>user: <b>{}</b>, proof: <b>{proof}</b>{reason}</p>",
            escape(r.user().unwrap_or("-"))
        )
    };
    let reply = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => {
            let csrf = request.csrf_token(manager)?;
            Reply::html(
                200,
                format!(
                    "<h1>Tessera DBSC on localhost</h1>{}<form method=post action=/>\
                 <input type=hidden name=csrf value=\"{csrf}\"><input name=user value=alice>\
                 <button id=signin>Sign in</button></form><p><a href=/account>/account</a></p>",
                    who(request),
                ),
            )
        }
        ("POST", "/") => match (request.csrf(), form.get("user")) {
            (CsrfCheck::Valid, Some(user)) if !user.is_empty() => {
                outcome.auth = Auth::LoggedIn(user.clone());
                Reply::html(
                    200,
                    format!(
                        "<h1>Signed in as {}</h1><p>This response offers a device binding.</p>\
                     <p><a href=/account>/account</a></p>",
                        escape(user)
                    ),
                )
            }
            _ => Reply::html(403, "<p>Bad sign-in form (CSRF or user).</p>".into()),
        },
        ("GET", "/account") => match request.user() {
            Some(_) => Reply::html(200, format!("<h1>Account</h1>{}", who(request))),
            None => Reply::html(401, format!("<h1>Not signed in</h1>{}", who(request))),
        },
        // A new offer for a signed-in, unbound session (it replaces the sign-in's): for a
        // browser that missed that one, or to try registration from a `fetch()`.
        ("GET", "/offer") => match request.offer_binding(manager)? {
            true => Reply::html(200, "<p>This response offers a device binding.</p>".into()),
            false => Reply::html(409, format!("<p>Nothing to offer.</p>{}", who(request))),
        },
        _ => Reply::html(404, "<p>Not found.</p>".into()),
    };
    Ok(reply)
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Req>> {
    let mut reader = BufReader::new(stream.take(2 * MAX_BYTES as u64));
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None); // a preconnected socket closed unused
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut size = line.len();
    loop {
        line.clear();
        size += reader.read_line(&mut line)?;
        let text = line.trim_end();
        if text.is_empty() || size > MAX_BYTES {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let sep = if name == "cookie" { "; " } else { ", " };
        headers
            .entry(name)
            .and_modify(|v| *v = format!("{v}{sep}{}", value.trim()))
            .or_insert_with(|| value.trim().to_owned());
    }
    let length = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; length.min(MAX_BYTES)];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    Ok(Some(Req {
        method,
        path,
        headers,
        body,
    }))
}

fn write_reply(stream: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        reply.status,
        reason_phrase(reply.status)
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    out.push_str(&reply.body);
    stream.write_all(out.as_bytes())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The request line and what DBSC sent: cookie names (never values), the binding id, the proof's
/// size (never the proof), `Secure-Session-Skipped`.
fn log_request(req: &Req) {
    let cookies: Vec<&str> = req
        .header("cookie")
        .map(|c| {
            c.split(';')
                .filter_map(|p| p.split_once('='))
                .map(|(n, _)| n.trim())
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} {} cookies=[{}]",
        req.method,
        req.path,
        cookies.join(" ")
    );
    if let Some(id) = req.header("sec-secure-session-id") {
        line.push_str(&format!(" Sec-Secure-Session-Id={id}"));
    }
    if let Some(proof) = req.header("secure-session-response") {
        line.push_str(&format!(" Secure-Session-Response=<{} bytes>", proof.len()));
    }
    if let Some(skipped) = req.header("secure-session-skipped") {
        line.push_str(&format!(" Secure-Session-Skipped={skipped}"));
    }
    eprintln!("{line}");
}

/// The status and the DBSC headers of the answer, challenges masked; cookie names only.
fn log_reply(reply: &Reply) {
    let mut line = format!("  -> {}", reply.status);
    for (name, value) in &reply.headers {
        match name.as_str() {
            "Set-Cookie" => {
                let cookie = value.split('=').next().unwrap_or("");
                let cleared = if value.contains("Max-Age=0") {
                    " (cleared)"
                } else {
                    ""
                };
                line.push_str(&format!(" Set-Cookie={cookie}{cleared}"));
            }
            "Secure-Session-Registration" | "Secure-Session-Challenge" => {
                line.push_str(&format!(" {name}={}", mask_challenge(value)));
            }
            _ => {}
        }
    }
    if reply
        .headers
        .iter()
        .any(|(n, v)| n == "Content-Type" && v.starts_with("application/json"))
    {
        line.push_str(&format!(" body={}", reply.body));
    }
    eprintln!("{line}");
}

/// `…challenge="<C>"…` and `"<C>";id=…` with every quoted challenge replaced by `"…"`.
fn mask_challenge(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('"') {
        let Some(len) = rest[start + 1..].find('"') else {
            break;
        };
        let before = &rest[..start];
        let keep = before.ends_with("path=") || before.ends_with("id=");
        let quoted = &rest[start..start + len + 2];
        out.push_str(before);
        out.push_str(if keep { quoted } else { "\"…\"" });
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
