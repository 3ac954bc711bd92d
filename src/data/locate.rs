//! Where the known data sets are looked for.
//!
//! In order: the folder given with `--data-dir` (alone, when given), then `$PIMTL_DATA_DIR`, then
//! the project's `data/` (the current folder's `data/`, then the source tree's the binary was
//! built from), then a per-user data folder (`$XDG_DATA_HOME/pimtl`, else
//! `~/.local/share/pimtl`; `~/Library/Application Support/pimtl` on macOS, `%APPDATA%\pimtl`
//! on Windows). A data set is read from the first folder that holds `<name>.csv`, so a
//! `cargo install`ed binary finds the sets fetched by `PIMTL_DATA_DIR=… scripts/fetch-data.sh`
//! (or into the per-user folder) from any working folder.

use std::path::{Path, PathBuf};

/// One folder of the search path and why it is on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    /// The folder.
    pub path: PathBuf,
    /// Where it came from: `--data-dir`, `PIMTL_DATA_DIR`, `project`, `source tree`, `per-user`.
    pub source: &'static str,
}

/// The search path for known data sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDirs {
    /// Folders in the order they are searched.
    pub dirs: Vec<DataDir>,
}

impl DataDirs {
    /// The search path: `flag` alone when given, otherwise the environment variable, the
    /// project's folders and the per-user folder (duplicates removed).
    pub fn resolve(flag: Option<&Path>) -> Self {
        if let Some(p) = flag {
            return DataDirs::single(p, "--data-dir");
        }
        let mut dirs = Vec::new();
        if let Some(v) = std::env::var_os("PIMTL_DATA_DIR").filter(|v| !v.is_empty()) {
            dirs.push(DataDir {
                path: PathBuf::from(v),
                source: "PIMTL_DATA_DIR",
            });
        }
        dirs.push(DataDir {
            path: PathBuf::from("data"),
            source: "project",
        });
        dirs.push(DataDir {
            path: Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
            source: "source tree",
        });
        if let Some(p) = user_data_dir() {
            dirs.push(DataDir {
                path: p,
                source: "per-user",
            });
        }
        let mut seen: Vec<PathBuf> = Vec::new();
        dirs.retain(|d| {
            let key = std::fs::canonicalize(&d.path).unwrap_or_else(|_| d.path.clone());
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        });
        DataDirs { dirs }
    }

    /// A search path of one folder.
    pub fn single(path: &Path, source: &'static str) -> Self {
        DataDirs {
            dirs: vec![DataDir {
                path: path.to_path_buf(),
                source,
            }],
        }
    }

    /// The first folder's `<name>.csv` that exists.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.path.join(format!("{name}.csv")))
            .find(|p| p.is_file())
    }

    /// The folders that exist.
    pub fn existing(&self) -> Vec<&DataDir> {
        self.dirs.iter().filter(|d| d.path.is_dir()).collect()
    }

    /// The search path as one line, for messages: `a (PIMTL_DATA_DIR), data (project), …`.
    pub fn describe(&self) -> String {
        self.dirs
            .iter()
            .map(|d| format!("{} ({})", d.path.display(), d.source))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The per-user data folder of pimtl on this platform, when the home folder is known.
pub fn user_data_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        return var("APPDATA").map(|p| p.join("pimtl"));
    }
    if cfg!(target_os = "macos") {
        return var("HOME").map(|h| h.join("Library/Application Support/pimtl"));
    }
    var("XDG_DATA_HOME")
        .map(|p| p.join("pimtl"))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/pimtl")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_is_searched_alone() {
        let d = DataDirs::resolve(Some(Path::new("/somewhere")));
        assert_eq!(d.dirs.len(), 1);
        assert_eq!(d.dirs[0].source, "--data-dir");
    }

    #[test]
    fn the_default_path_ends_with_the_project_and_user_folders() {
        let d = DataDirs::resolve(None);
        let sources: Vec<&str> = d.dirs.iter().map(|d| d.source).collect();
        let p = sources.iter().position(|s| *s == "project").unwrap();
        if let Some(e) = sources.iter().position(|s| *s == "PIMTL_DATA_DIR") {
            assert!(e < p, "{sources:?}");
        }
        if let Some(u) = sources.iter().position(|s| *s == "per-user") {
            assert!(u > p, "{sources:?}");
        }
    }

    #[test]
    fn find_takes_the_first_folder_holding_the_set() {
        let root = std::env::temp_dir().join(format!("pimtl-locate-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("x.csv"), "1\n").unwrap();
        let dirs = DataDirs {
            dirs: vec![
                DataDir {
                    path: a.clone(),
                    source: "first",
                },
                DataDir {
                    path: b.clone(),
                    source: "second",
                },
            ],
        };
        assert_eq!(dirs.find("x"), Some(b.join("x.csv")));
        std::fs::write(a.join("x.csv"), "1\n").unwrap();
        assert_eq!(dirs.find("x"), Some(a.join("x.csv")));
        assert_eq!(dirs.find("y"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
