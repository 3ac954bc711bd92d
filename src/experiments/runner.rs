//! The experiment runner: result folders that are complete or absent, checkpoints a killed run
//! resumes from, the provenance every `config.json` carries, and seed sweeps split into shards.
//!
//! # Result folders
//! A run never writes into its output folder `OUT` directly. [`ResultFolder::open`] creates a
//! staging folder `.OUT.partial` beside it (checking that it can be created and written before any
//! work), every file is written there, and [`ResultFolder::commit`] writes `manifest.json` last
//! (every file's size and SHA-256) and renames the staging folder to `OUT`. A reader therefore sees
//! either no `OUT` or a complete one; [`verify_manifest`] checks one against its manifest.
//!
//! A non-empty `OUT` is refused unless the run is started with `--force` (the old folder is
//! replaced only when the new one is complete) or `--resume`. A staging folder left by a killed run
//! is continued by `--resume`: its checkpoints (one file per finished unit of work, see
//! [`ResultFolder::checkpoint`]) are read back instead of recomputed, and a checkpoint written
//! under a different configuration is refused with the differing fields named. Because every unit
//! derives its random numbers from the configuration alone, a resumed run ends with the same bytes
//! as an uninterrupted one.
//!
//! # Sweeps
//! [`SeedList`] parses `--seeds 0..5` or `--seeds 1,4,9`; [`Shard`] parses `--shard i/n` and keeps
//! every n-th seed from the i-th, so independent machines can each run a share and `pimtl report`
//! merges the folders afterwards.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The manifest written last into every complete result folder.
pub const MANIFEST: &str = "manifest.json";
/// The configuration file of every result folder.
pub const CONFIG: &str = "config.json";
const CHECKPOINTS: &str = "checkpoints";
const LOCK: &str = ".lock";

/// What to do when the output folder, or a staging folder left by a killed run, already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutMode {
    /// Refuse a non-empty output folder and a leftover staging folder.
    Fresh,
    /// Start over: discard a leftover staging folder, replace a complete folder on success.
    Force,
    /// Continue a leftover staging folder from its checkpoints (start afresh when there is none).
    Resume,
}

impl OutMode {
    /// The mode of the `--force` and `--resume` flags (both at once are refused).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when both are set.
    pub fn from_flags(force: bool, resume: bool) -> Result<Self> {
        match (force, resume) {
            (true, true) => Err(Error::param(
                "resume",
                true,
                "--force starts over and --resume continues: give one of them",
            )),
            (true, false) => Ok(OutMode::Force),
            (false, true) => Ok(OutMode::Resume),
            (false, false) => Ok(OutMode::Fresh),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A serialisation error as [`Error::Format`], naming `path` when the value came from a file and
/// prefixing `what` (may be empty) to serde's message.
fn json_error<'a>(path: Option<&'a Path>, what: &'a str) -> impl FnOnce(serde_json::Error) -> Error + 'a {
    move |e| Error::Format {
        path: path.map(Path::to_path_buf),
        reason: if what.is_empty() {
            e.to_string()
        } else {
            format!("{what}: {e}")
        },
    }
}

/// Reads a JSON file; a file that is not JSON is an [`Error::Format`] naming it.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_slice(&crate::io::read_file(path)?).map_err(json_error(Some(path), "not JSON"))
}

pub(crate) fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: Some(path.to_path_buf()),
        reason: reason.into(),
    }
}

/// The staging folder of `target`: `.NAME.partial` in the same parent folder (same file system,
/// so the final rename is atomic).
pub fn staging_path(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| refuse(target, "an output folder needs a name (not `.`, `..` or `/`)"))?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(parent.join(format!(".{}.partial", name.to_string_lossy())))
}

/// Whether a process with this id is running (Linux: `/proc/PID`; elsewhere assumed not, so a
/// lock is only ever advisory there).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

fn dir_is_empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir).map_err(io_err(dir))?.next().is_none())
}

/// An output folder being written: a staging folder that becomes the result on [`commit`].
///
/// Dropping it without committing keeps the staging folder when it holds checkpoints (so
/// `--resume` can continue) and removes it otherwise.
///
/// [`commit`]: ResultFolder::commit
#[derive(Debug)]
pub struct ResultFolder {
    target: PathBuf,
    staging: PathBuf,
    resumed: bool,
    committed: bool,
}

impl ResultFolder {
    /// Prepares `target` for a run: refuses what `mode` does not allow, creates (or, resuming,
    /// reopens) the staging folder, takes its lock and checks that a file can be written there.
    ///
    /// # Errors
    /// [`Error::Format`] naming the folder when it is not empty (and `mode` is
    /// [`OutMode::Fresh`]), when another live process holds the staging folder, or when a killed
    /// run's staging folder exists and neither `--resume` nor `--force` was given;
    /// [`Error::Io`] when the folder cannot be created or written.
    pub fn open(target: &Path, mode: OutMode) -> Result<Self> {
        let staging = staging_path(target)?;
        if target.exists() {
            if !target.is_dir() {
                return Err(refuse(target, "exists and is not a folder"));
            }
            let complete = target.join(MANIFEST).is_file();
            if !dir_is_empty(target)? {
                match mode {
                    OutMode::Fresh => {
                        return Err(refuse(
                            target,
                            if complete {
                                "holds a complete result; pass --force to replace it (only once the new one is complete) or choose another --out"
                            } else {
                                "exists and is not empty; pass --force to replace it or choose another --out"
                            },
                        ))
                    }
                    OutMode::Resume if complete => {
                        return Err(refuse(
                            target,
                            "is already complete: nothing to resume (pass --force to redo it)",
                        ))
                    }
                    OutMode::Resume => {
                        return Err(refuse(
                            target,
                            "exists, is not empty and is not a pimtl result; choose another --out",
                        ))
                    }
                    OutMode::Force => {}
                }
            }
        }
        let mut resumed = false;
        if staging.exists() {
            let lock = staging.join(LOCK);
            if let Ok(text) = std::fs::read_to_string(&lock) {
                if let Ok(pid) = text.trim().parse::<u32>() {
                    if pid != std::process::id() && alive(pid) {
                        return Err(refuse(
                            &staging,
                            format!("another pimtl run (process {pid}) is writing this folder"),
                        ));
                    }
                }
            }
            match mode {
                OutMode::Fresh => {
                    return Err(refuse(
                        &staging,
                        format!(
                            "a run into {} was interrupted and left this staging folder; pass --resume to continue it or --force to start over",
                            target.display()
                        ),
                    ))
                }
                OutMode::Force => {
                    std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
                }
                OutMode::Resume => resumed = true,
            }
        }
        std::fs::create_dir_all(staging.join(CHECKPOINTS)).map_err(io_err(&staging))?;
        if resumed {
            remove_stale_temporaries(&staging)?;
        }
        let folder = ResultFolder {
            target: target.to_path_buf(),
            staging,
            resumed,
            committed: false,
        };
        // The lock doubles as the check that the folder is writable, before any work.
        crate::io::write_atomic(
            &folder.staging.join(LOCK),
            std::process::id().to_string().as_bytes(),
        )?;
        Ok(folder)
    }

    /// The staging folder every output file is written into.
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// The folder the result will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Whether this run continues a staging folder left by an interrupted run.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Writes the run's `config.json` (see [`RunRecord`]) first, or, when resuming, checks that
    /// the recorded configuration and data are the ones given now.
    ///
    /// # Errors
    /// [`Error::Format`] naming every field whose value differs from the interrupted run's.
    pub fn start(&self, record: &RunRecord) -> Result<()> {
        let path = self.staging.join(CONFIG);
        let now = serde_json::to_value(record).map_err(|e| refuse(&path, e.to_string()))?;
        if path.exists() {
            let old = read_json(&path)?;
            let diffs: Vec<String> = ["experiment", "config", "data"]
                .iter()
                .flat_map(|key| crate::io::json_differences(key, &old[*key], &now[*key]))
                .collect();
            if !diffs.is_empty() {
                return Err(refuse(
                    &path,
                    format!(
                        "the interrupted run used a different configuration; differing fields: {} (pass --force to start over)",
                        diffs.join(", ")
                    ),
                ));
            }
        }
        write_json(&path, &now)
    }

    /// The checkpoint `key` when an interrupted run already computed it, otherwise `compute()`'s
    /// value, saved before it is returned. Keys name a unit of work (`"run-3"`); they must be
    /// unique within a run and made of letters, digits, `-` and `_`.
    ///
    /// # Errors
    /// The error of `compute`, a checkpoint that cannot be written, or a corrupt checkpoint
    /// (named).
    pub fn checkpoint<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some(v) = self.saved(key)? {
            return Ok(v);
        }
        let value = compute()?;
        self.save(key, &value)?;
        Ok(value)
    }

    /// The checkpoint `key` an interrupted run saved, if any.
    ///
    /// # Errors
    /// A bad key, or a corrupt checkpoint (named).
    pub fn saved<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let path = self.checkpoint_path(key)?;
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = crate::io::read_file(&path)?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            refuse(
                &path,
                format!("corrupt checkpoint: {e} (pass --force to start over)"),
            )
        })
    }

    /// Saves the checkpoint `key` (atomically).
    ///
    /// # Errors
    /// A bad key, or a checkpoint that cannot be written.
    pub fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let path = self.checkpoint_path(key)?;
        let bytes = serde_json::to_vec(value).map_err(|e| refuse(&path, e.to_string()))?;
        crate::io::write_atomic(&path, &bytes)
    }

    fn checkpoint_path(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::param(
                "checkpoint key",
                key,
                "letters, digits, - and _ only",
            ));
        }
        Ok(self.staging.join(CHECKPOINTS).join(format!("{key}.json")))
    }

    /// Writes a result file (relative to the folder) atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::io::write_atomic(&self.staging.join(name), bytes)
    }

    /// Makes the result visible: removes the checkpoints and the lock, writes the manifest last,
    /// and renames the staging folder to the target (replacing an old one only now).
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder that could not be written or renamed; the staging folder
    /// is then left in place for `--resume`.
    pub fn commit(mut self) -> Result<PathBuf> {
        let checkpoints = self.staging.join(CHECKPOINTS);
        if checkpoints.exists() {
            std::fs::remove_dir_all(&checkpoints).map_err(io_err(&checkpoints))?;
        }
        let lock = self.staging.join(LOCK);
        remove_stale_temporaries(&self.staging)?;
        let manifest = build_manifest(&self.staging, &[LOCK])?;
        write_json(&self.staging.join(MANIFEST), &manifest)?;
        let _ = std::fs::remove_file(&lock);
        if self.target.exists() {
            let old = self.staging.with_file_name(format!(
                ".{}.old-{}",
                file_name(&self.target),
                std::process::id()
            ));
            std::fs::rename(&self.target, &old).map_err(io_err(&self.target))?;
            if let Err(e) = std::fs::rename(&self.staging, &self.target) {
                let _ = std::fs::rename(&old, &self.target);
                return Err(io_err(&self.target)(e));
            }
            std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
        } else {
            std::fs::rename(&self.staging, &self.target).map_err(io_err(&self.target))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for ResultFolder {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let has_checkpoints = std::fs::read_dir(self.staging.join(CHECKPOINTS))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_checkpoints {
            let _ = std::fs::remove_file(self.staging.join(LOCK));
        } else {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes the `.NAME.tmp-PID` files of [`crate::io::write_atomic`] a killed process left.
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    for entry in walk(dir)? {
        let name = file_name(&entry);
        if name.starts_with('.') && name.contains(".tmp-") {
            std::fs::remove_file(&entry).map_err(io_err(&entry))?;
        }
    }
    Ok(())
}

/// Every file under `dir`, recursively, sorted.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let path = entry.map_err(io_err(&d))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| refuse(path, e.to_string()))?;
    bytes.push(b'\n');
    crate::io::write_atomic(path, &bytes)
}

/// One file of a manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path relative to the result folder, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lower-case hex.
    pub sha256: String,
}

/// The last file of a complete result folder: what it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The crate version that wrote it.
    pub version: String,
    /// Every other file of the folder.
    pub files: Vec<ManifestEntry>,
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 and size of a file.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn file_digest(path: &Path) -> Result<(u64, String)> {
    let bytes = crate::io::read_file(path)?;
    Ok((bytes.len() as u64, sha256_hex(&bytes)))
}

fn build_manifest(dir: &Path, skip: &[&str]) -> Result<Manifest> {
    let mut files = Vec::new();
    for path in walk(dir)? {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if rel == MANIFEST || skip.contains(&rel.as_str()) {
            continue;
        }
        let (bytes, sha256) = file_digest(&path)?;
        files.push(ManifestEntry {
            path: rel,
            bytes,
            sha256,
        });
    }
    Ok(Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        files,
    })
}

/// Checks a result folder against its manifest: every listed file present with its size and
/// SHA-256, no file that is not listed.
///
/// # Errors
/// [`Error::Format`] naming the folder without a manifest (incomplete), or the first file that
/// is missing, extra, or differs.
pub fn verify_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Err(refuse(
            dir,
            "has no manifest.json: not a complete pimtl result (interrupted, or written by hand)",
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&crate::io::read_file(&path)?)
        .map_err(|e| refuse(&path, format!("unreadable manifest: {e}")))?;
    let now = build_manifest(dir, &[])?;
    for e in &manifest.files {
        match now.files.iter().find(|f| f.path == e.path) {
            None => return Err(refuse(&dir.join(&e.path), "listed in the manifest but missing")),
            Some(f) if f != e => {
                return Err(refuse(
                    &dir.join(&e.path),
                    format!(
                        "differs from the manifest ({} bytes, expected {})",
                        f.bytes, e.bytes
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = now
        .files
        .iter()
        .find(|f| !manifest.files.iter().any(|e| e.path == f.path))
    {
        return Err(refuse(&dir.join(&extra.path), "not listed in the manifest"));
    }
    Ok(manifest)
}

/// What every `config.json` records: the experiment, the preset it started from, every resolved
/// setting, the data it read (with checksums) and the machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// The subcommand (`portfolio`, `federated`, …).
    pub experiment: String,
    /// `full` or `quick`: the preset the settings started from (for a run made with
    /// `--config FILE`, the file's); informational, `config` is complete on its own.
    pub preset: String,
    /// Every setting of the run, as `--config FILE` reads it back.
    pub config: Value,
    /// The data files read, with sizes and SHA-256.
    pub data: Vec<DataFile>,
    /// The crate version.
    pub version: String,
    /// The CPU and the instruction-set extensions the kernels could use.
    pub cpu: CpuInfo,
}

impl RunRecord {
    /// The record of a run of `experiment` from `preset` with `config`, reading `data_files`.
    ///
    /// # Errors
    /// A data file that cannot be read, named.
    pub fn new<C: Serialize>(
        experiment: &str,
        preset: &str,
        config: &C,
        data_files: &[PathBuf],
    ) -> Result<Self> {
        let config = serde_json::to_value(config).map_err(json_error(None, "configuration"))?;
        let mut data = Vec::new();
        for p in data_files {
            let (bytes, sha256) = file_digest(p)?;
            data.push(DataFile {
                path: p.display().to_string(),
                bytes,
                sha256,
            });
        }
        Ok(RunRecord {
            experiment: experiment.to_string(),
            preset: preset.to_string(),
            config,
            data,
            version: env!("CARGO_PKG_VERSION").to_string(),
            cpu: CpuInfo::detect(),
        })
    }
}

/// A data file a run read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFile {
    /// The path as given or found.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// The machine a run used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuInfo {
    /// Target architecture (`x86_64`, `aarch64`, …).
    pub arch: String,
    /// CPU model name (from `/proc/cpuinfo` where available).
    pub model: Option<String>,
    /// Instruction-set extensions detected at run time that the kernels know about.
    pub features: Vec<String>,
    /// Logical cores.
    pub cores: usize,
    /// The kernels' instruction-set path ([`Isa::selected`](crate::policy::Isa::selected)); the
    /// results do not depend on it (every path gives the same bits), the speed does.
    #[serde(default)]
    pub kernels: Option<String>,
}

impl CpuInfo {
    /// Detects the running machine.
    pub fn detect() -> Self {
        let mut features = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            for (name, on) in [
                ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
                ("avx", std::arch::is_x86_feature_detected!("avx")),
                ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                ("fma", std::arch::is_x86_feature_detected!("fma")),
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
                ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
                ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
            ] {
                if on {
                    features.push(name.to_string());
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                features.push("neon".to_string());
            }
        }
        let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        });
        CpuInfo {
            arch: std::env::consts::ARCH.to_string(),
            model,
            features,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernels: Some(crate::policy::Isa::selected().name().to_string()),
        }
    }
}

/// An experiment's configuration: one struct that is both the command line (clap, whose
/// `default_value`s are the full preset, the one place defaults are written) and the
/// `config` object of `config.json` (serde).
pub trait ExperimentConfig:
    clap::Args + clap::FromArgMatches + Serialize + DeserializeOwned + Clone + Send + Sync
{
    /// The subcommand's name (`portfolio`, …), also the default output folder's prefix.
    const NAME: &'static str;

    /// The values `--quick` changes, as a JSON object of field → value; every other field keeps
    /// its default.
    fn quick_preset() -> Value;

    /// Checks every setting that can be checked without data.
    ///
    /// # Errors
    /// The first setting out of range, named.
    fn validate(&self) -> Result<()>;

    /// The data files the run reads (their SHA-256 goes into `config.json`).
    fn data_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// The master seed of a configuration: its `seed` setting (every experiment has one).
pub fn seed_of<C: ExperimentConfig>(cfg: &C) -> u64 {
    serde_json::to_value(cfg)
        .ok()
        .and_then(|v| v["seed"].as_u64())
        .unwrap_or(0)
}

/// The configuration with its master seed replaced (a sweep runs one configuration under
/// several seeds).
///
/// # Errors
/// Only if the configuration has no `seed` setting (a bug).
pub fn with_seed<C: ExperimentConfig>(cfg: &C, seed: u64) -> Result<C> {
    let mut v = serde_json::to_value(cfg).map_err(json_error(None, ""))?;
    merge_fields(&mut v, &serde_json::json!({ "seed": seed }), None)?;
    serde_json::from_value(v).map_err(json_error(None, ""))
}

fn args_error(e: clap::Error) -> Error {
    Error::Format {
        path: None,
        reason: format!("arguments: {}", e.to_string().trim()),
    }
}

/// The full preset: every field at its `default_value`.
///
/// # Errors
/// Only if a default does not parse (a bug, caught by each experiment's tests).
pub fn defaults<C: ExperimentConfig>() -> Result<C> {
    let cmd = C::augment_args(clap::Command::new(C::NAME).no_binary_name(true));
    let m = cmd
        .try_get_matches_from(Vec::<String>::new())
        .map_err(args_error)?;
    C::from_arg_matches(&m).map_err(args_error)
}

/// The preset: the full one, with [`ExperimentConfig::quick_preset`] applied when `quick`.
///
/// # Errors
/// As [`defaults`].
pub fn preset<C: ExperimentConfig>(quick: bool) -> Result<C> {
    let mut v = serde_json::to_value(defaults::<C>()?).map_err(json_error(None, ""))?;
    if quick {
        merge_fields(&mut v, &C::quick_preset(), None)?;
    }
    serde_json::from_value(v).map_err(json_error(None, "quick preset"))
}

/// Overwrites `base`'s fields with `over`'s; a field `base` does not have is refused (named,
/// with the file it came from).
fn merge_fields(base: &mut Value, over: &Value, file: Option<&Path>) -> Result<()> {
    let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) else {
        return Err(Error::Format {
            path: file.map(Path::to_path_buf),
            reason: "the configuration must be a JSON object of settings".into(),
        });
    };
    for (k, v) in o {
        match b.get_mut(k) {
            Some(slot) => *slot = v.clone(),
            None => {
                return Err(Error::Format {
                    path: file.map(Path::to_path_buf),
                    reason: format!("unknown setting `{k}` for this experiment"),
                })
            }
        }
    }
    Ok(())
}

/// The configuration of a run: the preset (`quick` or full), then the settings of
/// `--config FILE` (a `config.json` of an earlier run, whose `config` object is read, or a bare
/// object of settings), then every option given on the command line; validated once.
///
/// Returns the configuration and the name of the preset it started from: the `preset` recorded
/// in `FILE` when given (so a rerun writes the same `config.json`), otherwise `quick` or `full`.
///
/// # Errors
/// An unreadable file, an unknown or mistyped setting (named with the file), or the first
/// setting out of range.
pub fn resolve<C: ExperimentConfig>(
    matches: &clap::ArgMatches,
    quick: bool,
    file: Option<&Path>,
) -> Result<(C, String)> {
    let cli = C::from_arg_matches(matches).map_err(args_error)?;
    let cli = serde_json::to_value(&cli).map_err(json_error(None, ""))?;
    let mut v = serde_json::to_value(preset::<C>(quick)?).map_err(json_error(None, ""))?;
    let mut preset_name = if quick { "quick" } else { "full" }.to_string();
    if let Some(f) = file {
        let text = read_json(f)?;
        if let Some(p) = text["preset"].as_str() {
            preset_name = p.to_string();
        }
        let settings = match text.get("config") {
            Some(c) if text.get("experiment").is_some() => {
                let exp = text["experiment"].as_str().unwrap_or("");
                if exp != C::NAME {
                    return Err(Error::Format {
                        path: Some(f.to_path_buf()),
                        reason: format!("is the configuration of a `{exp}` run, not `{}`", C::NAME),
                    });
                }
                c.clone()
            }
            _ => text,
        };
        merge_fields(&mut v, &settings, Some(f))?;
    }
    if let (Some(obj), Some(cli)) = (v.as_object_mut(), cli.as_object()) {
        for (k, slot) in obj.iter_mut() {
            if matches.value_source(k) == Some(clap::parser::ValueSource::CommandLine) {
                if let Some(x) = cli.get(k) {
                    *slot = x.clone();
                }
            }
        }
    }
    let cfg: C = serde_json::from_value(v).map_err(json_error(file, "setting"))?;
    cfg.validate()?;
    Ok((cfg, preset_name))
}

/// Seeds of a sweep: `A..B` (B excluded), `A..=B`, or a comma-separated list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedList(pub Vec<u64>);

impl std::str::FromStr for SeedList {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a seed (a non-negative integer)"))
        };
        let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..=") {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("empty range {s}"));
            }
            (a..=b).collect()
        } else if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            if b <= a {
                return Err(format!("empty range {s} (the end is excluded)"));
            }
            (a..b).collect()
        } else {
            s.split(',').map(num).collect::<std::result::Result<_, _>>()?
        };
        if seeds.len() > 100_000 {
            return Err(format!("{} seeds: at most 100000 per sweep", seeds.len()));
        }
        let mut sorted = seeds.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("seed listed twice in {s}"));
        }
        Ok(SeedList(seeds))
    }
}

/// `--shard i/n`: this machine runs the seeds at positions `i, i + n, i + 2n, …` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0 ≤ index < count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not of the form i/n"))?;
        let (index, count) = (
            i.trim()
                .parse::<usize>()
                .map_err(|_| format!("shard index `{i}` is not an integer"))?,
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("shard count `{n}` is not an integer"))?,
        );
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= i < n"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// This shard's share of `seeds`, in order.
    pub fn select(&self, seeds: &[u64]) -> Vec<u64> {
        seeds
            .iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index)
            .map(|(_, &s)| s)
            .collect()
    }
}

/// The folder of one seed inside a sweep's output folder: `OUT/seed-S`.
pub fn seed_folder(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pimtl-runner-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_folder_appears_only_on_commit_with_a_manifest_that_verifies() {
        let root = tmp("commit");
        let out = root.join("res");
        let f = ResultFolder::open(&out, OutMode::Fresh).unwrap();
        f.write("a.csv", b"x,y\n1,2\n").unwrap();
        assert!(!out.exists(), "nothing at the target before commit");
        f.commit().unwrap();
        let m = verify_manifest(&out).unwrap();
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].sha256, sha256_hex(b"x,y\n1,2\n"));
        assert!(!staging_path(&out).unwrap().exists());
        // Tampering is detected.
        std::fs::write(out.join("a.csv"), b"x,y\n1,3\n").unwrap();
        assert!(verify_manifest(&out).unwrap_err().to_string().contains("a.csv"));
        std::fs::write(out.join("a.csv"), b"x,y\n1,2\n").unwrap();
        std::fs::write(out.join("b.csv"), b"").unwrap();
        assert!(verify_manifest(&out).unwrap_err().to_string().contains("b.csv"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_complete_folder_is_refused_unless_forced_and_replaced_only_on_commit() {
        let root = tmp("force");
        let out = root.join("res");
        let f = ResultFolder::open(&out, OutMode::Fresh).unwrap();
        f.write("a.csv", b"old").unwrap();
        f.commit().unwrap();
        let e = ResultFolder::open(&out, OutMode::Fresh).unwrap_err().to_string();
        assert!(e.contains("complete result") && e.contains("--force"), "{e}");
        let e = ResultFolder::open(&out, OutMode::Resume).unwrap_err().to_string();
        assert!(e.contains("already complete"), "{e}");
        let f = ResultFolder::open(&out, OutMode::Force).unwrap();
        f.write("b.csv", b"new").unwrap();
        assert_eq!(
            std::fs::read(out.join("a.csv")).unwrap(),
            b"old",
            "old kept until commit"
        );
        f.commit().unwrap();
        assert!(!out.join("a.csv").exists());
        verify_manifest(&out).unwrap();
        // A folder with foreign content is refused too.
        let other = root.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("notes.txt"), b"mine").unwrap();
        let e = ResultFolder::open(&other, OutMode::Fresh)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not empty"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_interrupted_run_is_resumed_from_its_checkpoints() {
        let root = tmp("resume");
        let out = root.join("res");
        let rec = RunRecord::new("t", "full", &serde_json::json!({"a": 1, "b": [1, 2]}), &[]).unwrap();
        {
            let f = ResultFolder::open(&out, OutMode::Fresh).unwrap();
            f.start(&rec).unwrap();
            let v: u32 = f.checkpoint("unit-0", || Ok(7)).unwrap();
            assert_eq!(v, 7);
            // Dropped without commit: the staging folder stays because it holds a checkpoint.
        }
        let staging = staging_path(&out).unwrap();
        assert!(staging.join("checkpoints/unit-0.json").is_file());
        std::fs::write(staging.join(".x.tmp-999999"), b"junk").unwrap();
        let e = ResultFolder::open(&out, OutMode::Fresh).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        // A different configuration is refused with the field named.
        let other = RunRecord::new("t", "full", &serde_json::json!({"a": 2, "b": [1, 2]}), &[]).unwrap();
        let f = ResultFolder::open(&out, OutMode::Resume).unwrap();
        let e = f.start(&other).unwrap_err().to_string();
        assert!(e.contains("config.a (1 → 2)"), "{e}");
        f.start(&rec).unwrap();
        assert!(f.resumed());
        assert!(
            !staging.join(".x.tmp-999999").exists(),
            "stale temporaries removed"
        );
        let v: u32 = f.checkpoint("unit-0", || panic!("must be read back")).unwrap();
        assert_eq!(v, 7);
        f.commit().unwrap();
        let m = verify_manifest(&out).unwrap();
        assert!(m.files.iter().all(|e| !e.path.starts_with("checkpoints")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_run_that_fails_before_any_checkpoint_leaves_nothing() {
        let root = tmp("fail");
        let out = root.join("res");
        {
            let f = ResultFolder::open(&out, OutMode::Fresh).unwrap();
            f.write("config.json", b"{}").unwrap();
        }
        assert!(!out.exists() && !staging_path(&out).unwrap().exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_unwritable_out_is_refused_before_any_work() {
        let e = ResultFolder::open(Path::new("/proc/pimtl-cannot-write/res"), OutMode::Fresh)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/pimtl-cannot-write"), "{e}");
        let e = ResultFolder::open(Path::new("/"), OutMode::Fresh)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a name"), "{e}");
    }

    #[test]
    fn seed_lists_and_shards_parse_and_partition() {
        assert_eq!("0..5".parse::<SeedList>().unwrap().0, vec![0, 1, 2, 3, 4]);
        assert_eq!("2..=4".parse::<SeedList>().unwrap().0, vec![2, 3, 4]);
        assert_eq!("7,1,3".parse::<SeedList>().unwrap().0, vec![7, 1, 3]);
        for bad in ["5..5", "a..3", "1,1", "-1", ""] {
            assert!(bad.parse::<SeedList>().is_err(), "{bad}");
        }
        let seeds: Vec<u64> = (10..17).collect();
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        let mut all: Vec<u64> = shards.iter().flat_map(|s| s.select(&seeds)).collect();
        all.sort_unstable();
        assert_eq!(all, seeds, "the shards partition the seeds");
        assert_eq!(shards[1].select(&seeds), vec![11, 14]);
        for bad in ["3/3", "0/0", "1", "a/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
