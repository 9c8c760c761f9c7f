//! `tessera`: the operator's command for a shared session store.
//!
//! ```text
//! tessera --store redis://127.0.0.1:6379/0 sessions list --user alice [--json]
//! tessera --store ... sessions revoke --user alice      # every session of alice
//! tessera --store ... sessions revoke --id <64 hex>     # one session
//! tessera --store ... stats [--json]
//! tessera --store ... check [--json]                    # at deploy time: is the store ready?
//! ```
//!
//! Exit codes: 0 done; 1 nothing matched (no such session / user had none), or `check` has
//! warnings; 2 usage error;
//! 69 the store is unavailable; 70 internal error; 78 invalid configuration (bad URL/option).

mod output;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};
use tessera::{Config, Error, ErrorKind, SessionId, SessionManager};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "List and revoke sessions in a Tessera store"
)]
struct Cli {
    /// Store URL: redis://[user:password@]host:port/db (rediss:// for TLS), or memory://.
    #[arg(
        long,
        env = "TESSERA_STORE",
        global = true,
        default_value = "redis://127.0.0.1:6379/0"
    )]
    store: String,

    /// A manager option as the apps use it, e.g. idle_timeout_ms=1800000 (repeatable); sessions
    /// are judged live or expired with the same timeouts as the application's.
    #[arg(long = "option", value_name = "NAME=VALUE", global = true)]
    options: Vec<String>,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect or end sessions.
    #[command(subcommand)]
    Sessions(Sessions),
    /// How many sessions the store holds.
    Stats,
    /// Connect and report what the apps should know of the store before they start: its
    /// configuration warnings (a URL without a prefix, a Redis without maxmemory) and how full
    /// it is against max_sessions. An evicting Redis (allkeys-*) is refused as the apps would.
    Check,
}

#[derive(Subcommand)]
enum Sessions {
    /// A user's live sessions, most recently seen first.
    List {
        /// The user id.
        #[arg(long)]
        user: String,
    },
    /// End sessions: every session of a user, or one by id.
    Revoke(Target),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// End every session of this user.
    #[arg(long)]
    user: Option<String>,
    /// End the session with this public id (64 hex digits).
    #[arg(long)]
    id: Option<String>,
}

const EXIT_NOTHING: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::error(&e, cli.json);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// sysexits.h codes, which service managers and scripts understand.
fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::StoreUnavailable => 69,
        ErrorKind::InvalidConfig => 78,
        ErrorKind::InvalidArgument => 2,
        _ => 70,
    }
}

fn manager(cli: &Cli) -> Result<SessionManager, Error> {
    let mut options = Map::new();
    for pair in &cli.options {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Error::invalid_config(format!("--option {pair:?} is not NAME=VALUE")))?;
        // Numbers, booleans and null as JSON; anything else as a string.
        let value = serde_json::from_str::<Value>(value)
            .unwrap_or_else(|_| Value::String(value.to_owned()));
        options.insert(name.to_owned(), value);
    }
    options.insert("store".to_owned(), Value::String(cli.store.clone()));
    options.insert("sweep_interval_ms".to_owned(), Value::Null);
    SessionManager::builder(Config::default())
        .options(&options)?
        .build()
}

fn run(cli: &Cli) -> Result<u8, Error> {
    let m = manager(cli)?;
    match &cli.command {
        Command::Check => {
            // The first call connects, and the connection checks the server.
            let sessions = m.store_len()?;
            let warnings = m.store_warnings();
            output::check(sessions, m.config().max_sessions, &warnings, cli.json);
            Ok(if warnings.is_empty() { 0 } else { EXIT_NOTHING })
        }
        Command::Stats => {
            let sessions = m.store_len()?;
            output::stats(sessions, &cli.store, cli.json);
            Ok(0)
        }
        Command::Sessions(Sessions::List { user }) => {
            let list = m.list_user(user)?;
            output::list(user, &list, m.now(), cli.json);
            Ok(if list.is_empty() { EXIT_NOTHING } else { 0 })
        }
        Command::Sessions(Sessions::Revoke(target)) => {
            let ended = match (&target.user, &target.id) {
                (Some(user), _) => m.revoke_user(user)?,
                (None, Some(id)) => usize::from(m.revoke(&SessionId::parse_hex(id)?)?),
                (None, None) => return Err(Error::invalid_argument("give --user or --id")),
            };
            output::revoked(ended, cli.json);
            Ok(if ended == 0 { EXIT_NOTHING } else { 0 })
        }
    }
}
