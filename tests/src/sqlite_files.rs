//! Database files for runs on the SQLite store: one private directory per test, one file per
//! scenario, removed when the test ends (pass or fail).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A private directory under the system's temporary directory.
pub struct SqliteFiles {
    dir: PathBuf,
}

impl SqliteFiles {
    /// A new, empty directory (named after the process and a counter, so parallel tests and
    /// test binaries never share one).
    ///
    /// # Panics
    /// If the directory cannot be made: the test cannot run without it.
    pub fn new(label: &str) -> SqliteFiles {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tessera-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        SqliteFiles { dir }
    }

    /// The store URL of the database file `name` in this directory.
    pub fn url(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.db"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SqliteFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
