//! What both corpora (`tests/conformance/`, `tests/http/`) share: reading a directory of
//! scenario files, each parsed strictly and checked before anything runs, and the serde helpers
//! their models use.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// A scenario model: parsed from a file's text, then checked for what serde cannot see.
pub trait Scenario: Sized {
    /// Parse one file's text.
    ///
    /// # Errors
    /// Why it is not a scenario of this corpus.
    fn parse(text: &str) -> Result<Self, String>;

    /// Problems a runner would trip over (unknown names, a `name` that is not the file's).
    fn problems(&self, file_stem: &str) -> Vec<String>;
}

/// One file of a corpus, parsed and checked.
#[derive(Debug)]
pub struct Loaded<S> {
    /// Where it was read from.
    pub path: PathBuf,
    /// The file name without `.json`.
    pub stem: String,
    /// The scenario, or why it cannot be run.
    pub scenario: Result<S, String>,
}

/// Read every `*.json` of `dir`, sorted by file name.
///
/// # Errors
/// If the directory cannot be listed. Files that cannot be read or parsed, or that have
/// [`Scenario::problems`], are returned with an `Err` scenario.
pub fn load<S: Scenario>(dir: &Path) -> io::Result<Vec<Loaded<S>>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let scenario = fs::read_to_string(&path)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|text| S::parse(&text))
                .and_then(|s| {
                    let problems = s.problems(&stem);
                    if problems.is_empty() {
                        Ok(s)
                    } else {
                        Err(problems.join("; "))
                    }
                });
            Loaded {
                path,
                stem,
                scenario,
            }
        })
        .collect())
}

/// A field that may be absent (outer `None`) or `null` (`Some(None)`).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Run every scenario of `dir` with `run` (which returns a scenario's failures), print one
/// summary line (`<what> (<label>): N of M scenarios and K steps ran, F failure(s)`) and panic
/// with every failure listed if there is any. `steps` counts a scenario's steps.
///
/// # Panics
/// On any failure, a scenario that cannot be run, or a directory that cannot be listed.
pub fn run_all<S: Scenario>(
    dir: &Path,
    what: &str,
    label: &str,
    steps: impl Fn(&S) -> usize,
    run: impl Fn(&S) -> Vec<String>,
) {
    use std::fmt::Write as _;
    use std::io::Write as _;

    let corpus: Vec<Loaded<S>> =
        load(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut failures = Vec::new();
    let (mut scenarios, mut ran) = (0, 0);
    for loaded in &corpus {
        match &loaded.scenario {
            Ok(s) => {
                scenarios += 1;
                ran += steps(s);
                failures.extend(run(s));
            }
            Err(why) => failures.push(format!("{}: cannot be run: {why}", loaded.stem)),
        }
    }
    let summary = format!(
        "{what} ({label}): {scenarios} of {} scenarios and {ran} steps ran, {} failure(s)",
        corpus.len(),
        failures.len()
    );
    // Straight to stderr rather than through the captured `eprintln!`, so every run shows it.
    let _ = writeln!(std::io::stderr(), "{summary}");
    if !failures.is_empty() {
        let mut report = summary;
        for f in &failures {
            let _ = write!(report, "\n  - {f}");
        }
        panic!("{report}");
    }
}
