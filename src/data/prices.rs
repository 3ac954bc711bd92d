//! Stock-price data for the portfolio experiment (§6.2, §A.1): readers, validation and the
//! [`PriceData`] container of daily price relatives.
//!
//! # Formats
//!
//! Three CSV layouts are read. All are UTF-8 (a leading byte-order mark is ignored), comma
//! separated, with a header row; fields may be double-quoted (`""` inside quotes is a quote, a
//! quoted field cannot span lines); whitespace around fields and blank lines are ignored.
//!
//! * **Undated price path** — the layout of the classic online-portfolio-selection benchmark sets
//!   (NYSE(O), NYSE(N), TSE, DJIA, S&P 500, MSCI; Li & Hoi's OLPS sets) as shipped by the PyPI
//!   package `universal-portfolios` 0.4.17 (MIT) in `universal/data/<name>.csv` and fetched into
//!   `data/` by `scripts/fetch-data.sh`. The header names the assets; each following row holds
//!   every asset's *price normalised to 1.0 on the day before the first row*. The first row is
//!   therefore itself the first price relative, and day `n`'s relative is `row_n / row_{n−1}`.
//!   (Those files do not hold relatives, although the sets are usually described as such: the
//!   values drift up to 90 on NYSE(O). Read this way, Equal CRP ends NYSE(O) at 27.075, the
//!   published figure.) Read by [`read_price_path_csv`] / [`parse_price_path`].
//! * **Relatives** — the same layout, but every row is already a relative `y = v_n / v_{n−1}`.
//!   Only read when asked for explicitly: [`read_relatives_csv`] / [`parse_relatives`].
//! * **Close prices with dates** — a user's own data: a date column, one close-price column per
//!   asset, optional high and low prices, turned into relatives (the first day is dropped because
//!   it has no previous close). Read by [`read_close_csv`] / [`parse_close`]; see
//!   [`CloseOptions`] for the column rules.
//!
//! [`load`] takes what the command line's `--data NAME|PATH` takes and picks the layout by the
//! content rule documented there.
//!
//! # Validation
//!
//! Every defect — an empty file, a header without rows, a ragged row, a missing or empty value, a
//! non-numeric value, NaN or infinity, a zero or negative price or relative, a duplicate or
//! out-of-order date, a high below the close or a low above it, fewer days than a window needs —
//! is an [`Error::Parse`] naming the file, the 1-based line and the column (by its header name,
//! or as `#k`, its 1-based position, when it has none). Nothing here panics on any input; the
//! bytes entry points are fuzzed (`fuzz/fuzz_targets/price_csv.rs`) and property-tested
//! (`tests/data_prices.rs`).

use super::locate::DataDirs;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Daily price relatives of a set of assets, with optional dates and high/low ratios.
///
/// All per-day tables are `[day][asset]`, row-major, `days() × num_assets()` long. Day `d` is the
/// move from one close to the next: `relatives[d][i] = v_{d+1,i} / v_{d,i}` in terms of the price
/// path returned by [`prices`](Self::prices), whose row 0 is the starting price 1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceData {
    /// Asset names, from the header. Control characters in a name (the TSE file's header has
    /// some) are replaced by their `\u{..}` escape so that names print and serialise safely.
    pub assets: Vec<String>,
    /// For each day, the date of the close that *ends* the day's relative (as written in the
    /// file); `None` for the undated formats.
    pub dates: Option<Vec<String>>,
    /// `[day][asset]` price relatives `y = v_n / v_{n−1}`, finite and positive.
    pub relatives: Vec<f64>,
    /// `[day][asset]` ratio `high_n / close_n` of the day's high to the same day's close (≥ 1),
    /// when high prices were given.
    pub high: Option<Vec<f64>>,
    /// `[day][asset]` ratio `low_n / close_n` of the day's low to the same day's close (in (0, 1]),
    /// when low prices were given.
    pub low: Option<Vec<f64>>,
    /// The file the data came from (for error messages); empty when built in code.
    pub source: PathBuf,
    /// For each day, the 1-based line of `source` holding the row that ends the day's relative,
    /// so that later checks can name a line; empty when built in code.
    pub lines: Vec<usize>,
}

impl PriceData {
    /// Builds price data from `[day][asset]` relatives, checking shapes and values.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] without assets, [`Error::ShapeMismatch`] when the length is
    /// not a multiple of the number of assets, [`Error::NonFinite`] or
    /// [`Error::InvalidParameter`] for a non-finite or non-positive relative.
    pub fn new(assets: Vec<String>, relatives: Vec<f64>, source: PathBuf) -> Result<Self> {
        let data = PriceData {
            assets,
            dates: None,
            relatives,
            high: None,
            low: None,
            source,
            lines: Vec::new(),
        };
        data.validate()?;
        Ok(data)
    }

    /// Number of days (rows of relatives).
    pub fn days(&self) -> usize {
        match self.assets.len() {
            0 => 0,
            m => self.relatives.len() / m,
        }
    }

    /// Number of assets (columns).
    pub fn num_assets(&self) -> usize {
        self.assets.len()
    }

    /// Day `day`'s relatives, one per asset, or `None` past the end.
    pub fn day(&self, day: usize) -> Option<&[f64]> {
        let m = self.assets.len();
        self.relatives.get(day * m..(day + 1) * m)
    }

    /// The index of the asset called `name`.
    pub fn asset_index(&self, name: &str) -> Option<usize> {
        self.assets.iter().position(|a| a == name)
    }

    /// Checks every invariant documented on the fields: shapes agree, relatives finite and
    /// positive, high ratios ≥ 1, low ratios in (0, 1], dates and lines one per day when present.
    ///
    /// # Errors
    /// The first violated invariant, as [`Error::InvalidParameter`], [`Error::ShapeMismatch`] or
    /// [`Error::NonFinite`].
    pub fn validate(&self) -> Result<()> {
        let m = self.assets.len();
        if m == 0 {
            return Err(Error::param("assets", 0, "price data needs at least one asset"));
        }
        if !self.relatives.len().is_multiple_of(m) {
            return Err(Error::shape(
                "relatives (days × assets)",
                self.relatives.len() / m * m,
                self.relatives.len(),
            ));
        }
        crate::error::check_finite("relatives", &self.relatives)?;
        if let Some(i) = self.relatives.iter().position(|&y| y <= 0.0) {
            return Err(Error::param(
                "relatives",
                self.relatives[i],
                format!(
                    "price relatives must be positive (day {}, asset {})",
                    i / m,
                    i % m
                ),
            ));
        }
        let n = self.relatives.len();
        for (what, table, high) in [
            ("high ratios", &self.high, true),
            ("low ratios", &self.low, false),
        ] {
            if let Some(t) = table {
                if t.len() != n {
                    return Err(Error::shape(what, n, t.len()));
                }
                crate::error::check_finite(what, t)?;
                let bad = |r: f64| if high { r < 1.0 } else { r <= 0.0 || r > 1.0 };
                if let Some(i) = t.iter().position(|&r| bad(r)) {
                    return Err(Error::param(
                        what,
                        t[i],
                        if high {
                            "high/close must be ≥ 1"
                        } else {
                            "low/close must be in (0, 1]"
                        },
                    ));
                }
            }
        }
        if let Some(d) = &self.dates {
            if d.len() != self.days() {
                return Err(Error::shape("dates", self.days(), d.len()));
            }
        }
        if !self.lines.is_empty() && self.lines.len() != self.days() {
            return Err(Error::shape("lines", self.days(), self.lines.len()));
        }
        Ok(())
    }

    /// The sub-universe of the assets at `indices`, in that order (a task's assets).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `indices` is empty, has an index out of range, or repeats
    /// an index.
    pub fn select_assets(&self, indices: &[usize]) -> Result<PriceData> {
        let m = self.assets.len();
        if indices.is_empty() {
            return Err(Error::param("assets", "[]", "select at least one asset"));
        }
        let mut seen = vec![false; m];
        for &i in indices {
            if i >= m {
                return Err(Error::param("asset index", i, format!("the data has {m} assets")));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::param("asset index", i, "selected twice"));
            }
        }
        let gather = |t: &[f64]| -> Vec<f64> {
            t.chunks_exact(m)
                .flat_map(|row| indices.iter().map(move |&i| row[i]))
                .collect()
        };
        Ok(PriceData {
            assets: indices.iter().map(|&i| self.assets[i].clone()).collect(),
            dates: self.dates.clone(),
            relatives: gather(&self.relatives),
            high: self.high.as_deref().map(gather),
            low: self.low.as_deref().map(gather),
            source: self.source.clone(),
            lines: self.lines.clone(),
        })
    }

    /// Splits into days `0..n` and days `n..days()` (e.g. a training and a test range).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `n > days()`.
    pub fn split_at_day(&self, n: usize) -> Result<(PriceData, PriceData)> {
        let days = self.days();
        if n > days {
            return Err(Error::param("split day", n, format!("the data has {days} days")));
        }
        let k = n * self.assets.len();
        let part = |range: std::ops::Range<usize>, days: std::ops::Range<usize>| PriceData {
            assets: self.assets.clone(),
            dates: self.dates.as_ref().map(|d| d[days.clone()].to_vec()),
            relatives: self.relatives[range.clone()].to_vec(),
            high: self.high.as_ref().map(|t| t[range.clone()].to_vec()),
            low: self.low.as_ref().map(|t| t[range.clone()].to_vec()),
            source: self.source.clone(),
            lines: if self.lines.is_empty() {
                Vec::new()
            } else {
                self.lines[days].to_vec()
            },
        };
        Ok((part(0..k, 0..n), part(k..self.relatives.len(), n..days)))
    }

    /// The price path implied by the relatives: `(days() + 1) × num_assets()`, row-major, row 0
    /// all 1.0 and row `n + 1` = row `n` × day `n`'s relatives (cumulative product).
    pub fn prices(&self) -> Vec<f64> {
        let m = self.assets.len();
        let mut out = Vec::with_capacity(self.relatives.len() + m);
        out.resize(m, 1.0);
        for (d, row) in self.relatives.chunks_exact(m.max(1)).enumerate() {
            for (i, &y) in row.iter().enumerate() {
                let v = out[d * m + i] * y;
                out.push(v);
            }
        }
        out
    }
}

/// Options for [`read_close_csv`].
///
/// Column rules for close-price files (names compared case-insensitively where stated):
/// * the date column is the one named by `date_column`, or else the first column; dates are ISO
///   `YYYY-MM-DD`, optionally followed by a space or `T` and `HH:MM` or `HH:MM:SS`, and must be
///   strictly increasing (a duplicate is an error);
/// * a column named `<asset>_high` or `<asset>_low` (suffix case-insensitive) holds that asset's
///   high or low; `<asset>_close` is the asset's close; `<asset>_open` and `<asset>_volume` are
///   ignored; every other column is the close of an asset of that name;
/// * high and low may instead come from separate files (`high`, `low`) with the same layout: the
///   same date column, dates and asset names (in any order);
/// * either every asset has a high (a low) or none has; `high ≥ close ≥ low` on every row; all
///   prices finite and positive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseOptions {
    /// The date column's name, when it is not the first column.
    pub date_column: Option<String>,
    /// A separate file of high prices.
    pub high: Option<PathBuf>,
    /// A separate file of low prices.
    pub low: Option<PathBuf>,
}

/// A CSV file's bytes together with the path that error messages name.
#[derive(Debug, Clone, Copy)]
pub struct CsvBytes<'a> {
    /// The file's content.
    pub bytes: &'a [u8],
    /// The path to name in errors (need not exist).
    pub path: &'a Path,
}

/// One of the classic benchmark sets that `scripts/fetch-data.sh` puts in `data/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KnownSet {
    /// The name used on the command line and as the file stem (`data/<name>.csv`).
    pub name: &'static str,
    /// A human-readable title.
    pub title: &'static str,
    /// Number of assets.
    pub assets: usize,
    /// Number of trading days (price relatives).
    pub days: usize,
    /// First trading day, as published by Li & Hoi (the files carry no dates).
    pub first_date: &'static str,
    /// Last trading day, as published by Li & Hoi.
    pub last_date: &'static str,
}

/// The sets shipped by `universal-portfolios` 0.4.17 (Li & Hoi's OLPS benchmark sets); shapes as
/// measured on the fetched files, periods as published in Li & Hoi's survey of online portfolio
/// selection (ACM Computing Surveys, 2014) and the OLPS toolbox (JMLR, 2016).
pub const KNOWN_SETS: &[KnownSet] = &[
    KnownSet {
        name: "djia",
        title: "Dow Jones Industrial Average",
        assets: 30,
        days: 507,
        first_date: "2001-01-14",
        last_date: "2003-01-14",
    },
    KnownSet {
        name: "msci",
        title: "MSCI World Index constituents",
        assets: 24,
        days: 1043,
        first_date: "2006-04-01",
        last_date: "2010-03-31",
    },
    KnownSet {
        name: "nyse_n",
        title: "New York Stock Exchange, new (NYSE(N))",
        assets: 23,
        days: 6431,
        first_date: "1985-01-01",
        last_date: "2010-06-30",
    },
    KnownSet {
        name: "nyse_o",
        title: "New York Stock Exchange, old (NYSE(O))",
        assets: 36,
        days: 5651,
        first_date: "1962-07-03",
        last_date: "1984-12-31",
    },
    KnownSet {
        name: "sp500",
        title: "S&P 500 constituents",
        assets: 25,
        days: 1276,
        first_date: "1998-01-02",
        last_date: "2003-01-31",
    },
    KnownSet {
        name: "tse",
        title: "Toronto Stock Exchange (TSE)",
        assets: 88,
        days: 1259,
        first_date: "1994-01-04",
        last_date: "1998-12-31",
    },
];

/// What `pimtl data` prints about one data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSetInfo {
    /// The name to pass to `--data` (the file stem).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Title of a known set.
    pub title: Option<String>,
    /// Number of assets.
    pub assets: usize,
    /// Number of days of price relatives.
    pub days: usize,
    /// First day's date: from the file, or the published one for a known set.
    pub first_date: Option<String>,
    /// Last day's date: from the file, or the published one for a known set.
    pub last_date: Option<String>,
    /// Whether high and low ratios are present.
    pub high_low: bool,
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Reads a file in the undated price-path layout of the benchmark sets (see the module docs).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] for any defect.
pub fn read_price_path_csv(path: &Path) -> Result<PriceData> {
    parse_price_path(&crate::io::read_file(path)?, path)
}

/// Parses the undated price-path layout from bytes; `path` is only used in errors and stored as
/// [`PriceData::source`].
///
/// # Errors
/// [`Error::Parse`] for any defect.
pub fn parse_price_path(bytes: &[u8], path: &Path) -> Result<PriceData> {
    let records = records(bytes, path)?;
    parse_undated(&records, path, Undated::PricePath)
}

/// Reads a file whose rows are price relatives `v_n / v_{n−1}` (same layout as the benchmark sets).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] for any defect.
pub fn read_relatives_csv(path: &Path) -> Result<PriceData> {
    parse_relatives(&crate::io::read_file(path)?, path)
}

/// Parses the relatives layout from bytes; `path` is only used in errors.
///
/// # Errors
/// [`Error::Parse`] for any defect.
pub fn parse_relatives(bytes: &[u8], path: &Path) -> Result<PriceData> {
    let records = records(bytes, path)?;
    parse_undated(&records, path, Undated::Relatives)
}

/// Reads a user's close-price file with a date column, plus high/low files if `opts` names them,
/// and turns it into relatives (see [`CloseOptions`] for the rules).
///
/// # Errors
/// [`Error::Io`] when a file cannot be read; [`Error::Parse`] for any defect, naming the file it
/// is in.
pub fn read_close_csv(path: &Path, opts: &CloseOptions) -> Result<PriceData> {
    fn read(p: Option<&Path>) -> Result<Option<(Vec<u8>, &Path)>> {
        p.map(|p| crate::io::read_file(p).map(|b| (b, p))).transpose()
    }
    fn view<'a>(f: &'a Option<(Vec<u8>, &'a Path)>) -> Option<CsvBytes<'a>> {
        f.as_ref().map(|(b, p)| CsvBytes { bytes: b, path: p })
    }
    let close = crate::io::read_file(path)?;
    let (high, low) = (read(opts.high.as_deref())?, read(opts.low.as_deref())?);
    parse_close(
        CsvBytes { bytes: &close, path },
        view(&high),
        view(&low),
        opts.date_column.as_deref(),
    )
}

/// Parses close prices (and optional separate high/low files) from bytes.
///
/// # Errors
/// [`Error::Parse`] for any defect, naming the file it is in.
pub fn parse_close(
    close: CsvBytes<'_>,
    high: Option<CsvBytes<'_>>,
    low: Option<CsvBytes<'_>>,
    date_column: Option<&str>,
) -> Result<PriceData> {
    let close_records = records(close.bytes, close.path)?;
    let high = match high {
        Some(h) => Some((records(h.bytes, h.path)?, h.path)),
        None => None,
    };
    let low = match low {
        Some(l) => Some((records(l.bytes, l.path)?, l.path)),
        None => None,
    };
    close_from_records(
        &close_records,
        close.path,
        high.as_ref().map(|(r, p)| (r.as_slice(), *p)),
        low.as_ref().map(|(r, p)| (r.as_slice(), *p)),
        date_column,
    )
}

/// Parses a file by the content rule of [`load`]: close prices when the first column is a date
/// column, the undated price-path layout otherwise.
///
/// # Errors
/// [`Error::Parse`] for any defect.
pub fn parse_auto(bytes: &[u8], path: &Path) -> Result<PriceData> {
    let records = records(bytes, path)?;
    if is_dated(&records) {
        close_from_records(&records, path, None, None, None)
    } else {
        parse_undated(&records, path, Undated::PricePath)
    }
}

/// Loads what `--data NAME|PATH` names.
///
/// * an existing **directory**: `close.csv` in it, with `high.csv` and `low.csv` when present
///   (read as by [`read_close_csv`]);
/// * an existing **file**: decided by its content — if the first column is a date column (its
///   header is `date`, `datetime`, `timestamp`, `time` or `day`, any case, or the first data
///   row's first field is an ISO date), it is read as close prices with in-file high/low columns;
///   otherwise as the undated price-path layout of the benchmark sets (a leading column with an
///   empty header, as pandas writes for its index, is ignored). A file of relatives must be read
///   explicitly with [`read_relatives_csv`];
/// * `planted` or `planted:key=value,…`: a generated exchangeable market,
///   [`super::planted::PlantedMarket`] (any other spec starting with `planted` that names no
///   file goes to its parser too, for a clear error);
/// * otherwise a **name**, looked up as `data_dir/<name>.csv` (the known sets are in
///   [`KNOWN_SETS`]).
///
/// # Errors
/// [`Error::Io`] when the file is missing (for a known set, telling to run
/// `scripts/fetch-data.sh`); [`Error::InvalidParameter`] for an empty spec or an unknown name;
/// [`Error::Parse`] for any defect in the file.
pub fn load(spec: &str, data_dir: &Path) -> Result<PriceData> {
    load_from(spec, &DataDirs::single(data_dir, "--data-dir"))
}

/// [`load`] with a search path of folders for named sets (see [`super::locate`]): a name is read
/// from the first folder holding `<name>.csv`.
///
/// # Errors
/// As [`load`]; a missing named set's error lists every folder searched.
pub fn load_from(spec: &str, dirs: &DataDirs) -> Result<PriceData> {
    if spec.trim().is_empty() {
        return Err(Error::param("data", "\"\"", "give a data set name or a path"));
    }
    if super::planted::PlantedMarket::is_spec(spec)
        || spec.starts_with("planted") && !Path::new(spec).exists()
    {
        return super::planted::PlantedMarket::parse(spec)?.generate();
    }
    let p = Path::new(spec);
    if p.is_dir() {
        return load_dir(p);
    }
    if p.is_file() {
        return parse_auto(&crate::io::read_file(p)?, p);
    }
    let looks_like_path = spec.contains('/') || spec.contains('\\') || spec.ends_with(".csv");
    if looks_like_path {
        return Err(not_found(p, "no such file or directory".to_string()));
    }
    if let Some(file) = dirs.find(spec) {
        return parse_auto(&crate::io::read_file(&file)?, &file);
    }
    let first = dirs.dirs.first().map_or_else(
        || PathBuf::from(format!("{spec}.csv")),
        |d| d.path.join(format!("{spec}.csv")),
    );
    if KNOWN_SETS.iter().any(|k| k.name == spec) {
        return Err(not_found(
            &first,
            format!(
                "data set `{spec}` is not in any data folder (searched {}): run `bash scripts/fetch-data.sh` to download the benchmark sets",
                dirs.describe()
            ),
        ));
    }
    Err(Error::param(
        "data",
        spec,
        format!(
            "not a file, a directory, or a data set in {} (known sets: {}; fetch them with `bash scripts/fetch-data.sh`)",
            dirs.describe(),
            KNOWN_SETS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
        ),
    ))
}

/// The files `--data SPEC` reads (for the checksums a run records): the CSV files of a
/// directory, the file itself, the named set's file, or none for a generated market.
pub fn data_files(spec: &str, dirs: &DataDirs) -> Vec<PathBuf> {
    let p = Path::new(spec);
    if p.is_dir() {
        return ["close.csv", "high.csv", "low.csv"]
            .iter()
            .map(|f| p.join(f))
            .filter(|f| f.is_file())
            .collect();
    }
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    if super::planted::PlantedMarket::is_spec(spec) {
        return Vec::new();
    }
    dirs.find(spec).into_iter().collect()
}

/// Lists every `*.csv` data set in `data_dir` (sorted by name) with its shape and date range: from
/// the file's dates, or the published period for a known set.
///
/// # Errors
/// [`Error::Io`] when `data_dir` cannot be read (telling to run `scripts/fetch-data.sh` when it is
/// missing); the first file's [`Error::Parse`] when a file there is defective.
pub fn list_known(data_dir: &Path) -> Result<Vec<DataSetInfo>> {
    let entries = std::fs::read_dir(data_dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            not_found(
                data_dir,
                "no data folder: run `bash scripts/fetch-data.sh` to download the benchmark sets".into(),
            )
        } else {
            Error::Io {
                path: data_dir.to_path_buf(),
                source: e,
            }
        }
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            files.push(path);
        }
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = parse_auto(&crate::io::read_file(&path)?, &path)?;
        let known = KNOWN_SETS.iter().find(|k| k.name == name);
        let (first_date, last_date) = match (&data.dates, known) {
            (Some(d), _) => (d.first().cloned(), d.last().cloned()),
            (None, Some(k)) => (Some(k.first_date.to_string()), Some(k.last_date.to_string())),
            (None, None) => (None, None),
        };
        out.push(DataSetInfo {
            name,
            title: known.map(|k| k.title.to_string()),
            assets: data.num_assets(),
            days: data.days(),
            first_date,
            last_date,
            high_low: data.high.is_some() || data.low.is_some(),
            path,
        });
    }
    Ok(out)
}

/// Checks that `data` has enough days for a state window of `window` days: at least `window + 2`
/// (the window, the day traded, and one day to move to).
///
/// # Errors
/// [`Error::Parse`] naming the data's file and its last line when there are fewer days;
/// [`Error::InvalidParameter`] when `window + 2` overflows.
pub fn check_min_days(data: &PriceData, window: usize) -> Result<()> {
    let need = window
        .checked_add(2)
        .ok_or_else(|| Error::param("window", window, "too large"))?;
    let days = data.days();
    if days >= need {
        return Ok(());
    }
    let column = if data.dates.is_some() {
        "date".to_string()
    } else {
        data.assets.first().cloned().unwrap_or_else(|| "#1".into())
    };
    Err(Error::Parse {
        path: data.source.clone(),
        line: data.lines.last().copied().unwrap_or(0),
        column,
        reason: format!(
            "only {days} days of price relatives, but a window of {window} days needs at least {need} (window + 2)"
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// CSV tokenising
// ---------------------------------------------------------------------------------------------

/// One non-blank line of a CSV file, split into trimmed, unquoted fields.
#[derive(Debug)]
struct Record {
    /// 1-based line number.
    line: usize,
    fields: Vec<String>,
}

fn perr(path: &Path, line: usize, column: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        column: column.into(),
        reason: reason.into(),
    }
}

fn not_found(path: &Path, message: String) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, message),
    }
}

/// A field shortened for an error message.
fn show(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("`{}`", s.escape_debug())
    } else {
        format!("`{}…`", s.chars().take(MAX).collect::<String>().escape_debug())
    }
}

fn records(bytes: &[u8], path: &Path) -> Result<Vec<Record>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|e| {
            let col = raw[..e.valid_up_to()].iter().filter(|&&b| b == b',').count() + 1;
            perr(path, line, format!("#{col}"), "not valid UTF-8")
        })?;
        if text.trim_matches(is_blank).is_empty() {
            continue;
        }
        out.push(Record {
            line,
            fields: split_fields(text, path, line)?,
        });
    }
    Ok(out)
}

/// Space, tab or carriage return: the only characters trimmed around fields. (Not Unicode
/// whitespace: the TSE file's header names one asset U+0085, which `str::trim` would erase.)
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

fn split_fields(text: &str, path: &Path, line: usize) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|&c| is_blank(c)).is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.next_if_eq(&'"').is_some() {
                        field.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    field.push(c);
                }
            }
            let col = format!("#{}", fields.len() + 1);
            if !closed {
                return Err(perr(
                    path,
                    line,
                    col,
                    "unterminated quoted field (a field cannot span lines)",
                ));
            }
            while chars.next_if(|&c| is_blank(c)).is_some() {}
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => {
                    return Err(perr(
                        path,
                        line,
                        col,
                        format!("unexpected {:?} after a closing quote", c),
                    ));
                }
            }
        } else {
            let mut ended = true;
            for c in chars.by_ref() {
                if c == ',' {
                    ended = false;
                    break;
                }
                field.push(c);
            }
            fields.push(field.trim_matches(is_blank).to_string());
            if ended {
                return Ok(fields);
            }
        }
    }
}

/// Column `k`'s name for messages: the header's, or `#k+1`.
fn col(names: &[String], k: usize) -> String {
    match names.get(k) {
        Some(n) if !n.is_empty() => n.clone(),
        _ => format!("#{}", k + 1),
    }
}

/// Replaces control characters by their `\u{..}` escapes.
fn clean_name(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// Cleans the header's names (control characters escaped) and rejects a repeated non-empty name.
fn header_names(header: &Record, path: &Path) -> Result<Vec<String>> {
    let names: Vec<String> = header.fields.iter().map(|f| clean_name(f)).collect();
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    for (k, n) in names.iter().enumerate() {
        if n.is_empty() {
            continue;
        }
        if let Some(j) = seen.insert(n.as_str(), k) {
            return Err(perr(
                path,
                header.line,
                col(&names, k),
                format!("duplicate column name (also column #{})", j + 1),
            ));
        }
    }
    Ok(names)
}

fn require_names(names: &[String], cols: &[usize], path: &Path, line: usize) -> Result<()> {
    for &k in cols {
        if names[k].is_empty() {
            return Err(perr(path, line, col(names, k), "empty column name in the header"));
        }
    }
    Ok(())
}

/// Parses a positive finite number; `what` is "price" or "relative".
fn value(field: &str, path: &Path, line: usize, column: impl Fn() -> String, what: &str) -> Result<f64> {
    if field.is_empty() {
        return Err(perr(path, line, column(), format!("missing {what}")));
    }
    let v: f64 = field
        .parse()
        .map_err(|_| perr(path, line, column(), format!("not a number: {}", show(field))))?;
    if !v.is_finite() {
        return Err(perr(
            path,
            line,
            column(),
            format!("{what} is not finite: {}", show(field)),
        ));
    }
    if v <= 0.0 {
        let kind = if v == 0.0 { "zero" } else { "negative" };
        return Err(perr(
            path,
            line,
            column(),
            format!("{kind} {what}: {}", show(field)),
        ));
    }
    Ok(v)
}

fn check_width(rec: &Record, names: &[String], path: &Path) -> Result<()> {
    let (got, want) = (rec.fields.len(), names.len());
    if got < want {
        return Err(perr(
            path,
            rec.line,
            col(names, got),
            format!("ragged row: {got} fields, the header has {want}"),
        ));
    }
    if got > want {
        return Err(perr(
            path,
            rec.line,
            format!("#{}", want + 1),
            format!("ragged row: {got} fields, the header has {want}"),
        ));
    }
    Ok(())
}

fn empty_file(path: &Path) -> Error {
    perr(
        path,
        1,
        "#1",
        "empty file: expected a header row and at least one row of data",
    )
}

// ---------------------------------------------------------------------------------------------
// Undated layouts
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Undated {
    PricePath,
    Relatives,
}

fn parse_undated(records: &[Record], path: &Path, kind: Undated) -> Result<PriceData> {
    let (header, rows) = records.split_first().ok_or_else(|| empty_file(path))?;
    let names = header_names(header, path)?;
    // A leading column with an empty name is an index column (pandas' `to_csv` default).
    let first = usize::from(names.len() > 1 && names[0].is_empty());
    let cols: Vec<usize> = (first..names.len()).collect();
    require_names(&names, &cols, path, header.line)?;
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        return Err(perr(
            path,
            header.line,
            "#1",
            "the first line must be a header of asset names, but it holds only numbers",
        ));
    }
    if rows.is_empty() {
        return Err(perr(
            path,
            header.line,
            col(&names, first),
            "header but no rows of data",
        ));
    }
    let m = cols.len();
    let what = if kind == Undated::Relatives {
        "relative"
    } else {
        "price"
    };
    let mut relatives = Vec::with_capacity(rows.len() * m);
    let mut prev = vec![1.0; m];
    let mut lines = Vec::with_capacity(rows.len());
    for rec in rows {
        check_width(rec, &names, path)?;
        for (j, &k) in cols.iter().enumerate() {
            let v = value(&rec.fields[k], path, rec.line, || col(&names, k), what)?;
            let y = match kind {
                Undated::Relatives => v,
                Undated::PricePath => {
                    let y = v / prev[j];
                    if !(y.is_finite() && y > 0.0) {
                        return Err(perr(
                            path,
                            rec.line,
                            col(&names, k),
                            format!("price relative {y} to the previous row is not finite and positive"),
                        ));
                    }
                    prev[j] = v;
                    y
                }
            };
            relatives.push(y);
        }
        lines.push(rec.line);
    }
    Ok(PriceData {
        assets: cols.iter().map(|&k| names[k].clone()).collect(),
        dates: None,
        relatives,
        high: None,
        low: None,
        source: path.to_path_buf(),
        lines,
    })
}

// ---------------------------------------------------------------------------------------------
// Dated close prices
// ---------------------------------------------------------------------------------------------

const DATE_NAMES: &[&str] = &["date", "datetime", "timestamp", "time", "day"];

/// Whether a file's first column is a date column (the content rule of [`load`]).
fn is_dated(records: &[Record]) -> bool {
    let Some(header) = records.first() else {
        return false;
    };
    let named = header
        .fields
        .first()
        .is_some_and(|f| DATE_NAMES.iter().any(|d| f.eq_ignore_ascii_case(d)));
    let looks = records
        .get(1)
        .and_then(|r| r.fields.first())
        .is_some_and(|f| iso_date_key(f).is_some());
    named || looks
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// The sort key of an ISO date `YYYY-MM-DD[( |T)HH:MM[:SS]]`, or `None` when `s` is not one:
/// always `YYYY-MM-DD HH:MM:SS`, so two spellings of one instant (`2020-01-10`,
/// `2020-01-10 00:00`, `2020-01-10T00:00:00`) have the same key and are duplicates.
fn iso_date_key(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            part.iter()
                .try_fold(0u32, |a, &d| a.checked_mul(10)?.checked_add(u32::from(d - b'0')))
        } else {
            None
        }
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let date = s.get(..10)?;
    let rest = s.get(10..)?;
    if rest.is_empty() {
        return Some(format!("{date} 00:00:00"));
    }
    if !(rest.starts_with(' ') || rest.starts_with('T')) {
        return None;
    }
    let t = &b[11..];
    let ok = match t.len() {
        5 => t[2] == b':' && num(11..13)? < 24 && num(14..16)? < 60,
        8 => t[2] == b':' && t[5] == b':' && num(11..13)? < 24 && num(14..16)? < 60 && num(17..19)? < 60,
        _ => false,
    };
    let time = s.get(11..).unwrap_or_default();
    ok.then(|| {
        if time.len() == 5 {
            format!("{date} {time}:00")
        } else {
            format!("{date} {time}")
        }
    })
}

/// What a column of a close-price file holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Date,
    Close(usize),
    High(usize),
    Low(usize),
    Ignored,
}

/// Splits `name` into (base, suffix kind) for the `_close`/`_high`/`_low`/`_open`/`_volume` rules.
fn suffix(name: &str) -> Option<(&str, &'static str)> {
    for s in ["close", "high", "low", "open", "volume"] {
        let n = name.len();
        if n > s.len() + 1 {
            let cut = n - s.len() - 1;
            if name.is_char_boundary(cut)
                && name.as_bytes()[cut] == b'_'
                && name[cut + 1..].eq_ignore_ascii_case(s)
            {
                return Some((&name[..cut], s));
            }
        }
    }
    None
}

/// A parsed close-price (or high or low) file: dates, asset names and `[row][asset]` prices.
struct Dated {
    /// Dates as written, one per row.
    dates: Vec<String>,
    /// 1-based line of each row.
    lines: Vec<usize>,
    /// Asset names, in the order of their close columns.
    assets: Vec<String>,
    /// `[row][asset]` close prices.
    close: Vec<f64>,
    /// `[row][asset]` in-file high and low prices, when the file has those columns.
    high: Option<Vec<f64>>,
    low: Option<Vec<f64>>,
    /// Header index of each asset's close, high and low columns (for messages).
    close_cols: Vec<usize>,
    high_cols: Option<Vec<usize>>,
    low_cols: Option<Vec<usize>>,
    /// All header names (cleaned).
    names: Vec<String>,
    /// Header index of the date column.
    date_col: usize,
}

fn parse_dated(records: &[Record], path: &Path, date_column: Option<&str>) -> Result<Dated> {
    let (header, rows) = records.split_first().ok_or_else(|| empty_file(path))?;
    let names = header_names(header, path)?;
    let date_col = match date_column {
        Some(dc) => names
            .iter()
            .position(|n| n == dc)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(dc)))
            .ok_or_else(|| {
                perr(
                    path,
                    header.line,
                    dc,
                    format!("no such date column; the header has {}", names.join(", ")),
                )
            })?,
        None => {
            if !is_dated(records) {
                return Err(perr(
                    path,
                    header.line,
                    col(&names, 0),
                    "the first column is not a date column: name it `date` (or give the date column's name)",
                ));
            }
            0
        }
    };
    // Column roles.
    let mut roles = vec![Role::Ignored; names.len()];
    roles[date_col] = Role::Date;
    let mut assets: Vec<String> = Vec::new();
    let mut close_cols = Vec::new();
    let mut extremes: Vec<(usize, &str, &str)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (k, n) in names.iter().enumerate() {
        if k == date_col {
            continue;
        }
        if n.is_empty() {
            return Err(perr(
                path,
                header.line,
                col(&names, k),
                "empty column name in the header",
            ));
        }
        match suffix(n) {
            Some((_, "open" | "volume")) => {}
            Some((base, kind @ ("high" | "low"))) => extremes.push((k, base, kind)),
            other => {
                let base = other.map_or(n.as_str(), |(b, _)| b);
                if let Some(&j) = index.get(base) {
                    return Err(perr(
                        path,
                        header.line,
                        col(&names, k),
                        format!(
                            "asset `{base}` already has a close column (#{})",
                            close_cols[j] + 1
                        ),
                    ));
                }
                roles[k] = Role::Close(assets.len());
                index.insert(base, assets.len());
                assets.push(base.to_string());
                close_cols.push(k);
            }
        }
    }
    if assets.is_empty() {
        return Err(perr(
            path,
            header.line,
            col(&names, date_col),
            "no price columns besides the date",
        ));
    }
    let m = assets.len();
    let mut high_cols = vec![None; m];
    let mut low_cols = vec![None; m];
    for &(k, base, kind) in &extremes {
        let i = *index.get(base).ok_or_else(|| {
            perr(
                path,
                header.line,
                col(&names, k),
                format!("no close column for asset `{base}`"),
            )
        })?;
        let slot = if kind == "high" {
            &mut high_cols[i]
        } else {
            &mut low_cols[i]
        };
        if slot.replace(k).is_some() {
            return Err(perr(
                path,
                header.line,
                col(&names, k),
                format!("asset `{base}` has two {kind} columns"),
            ));
        }
        roles[k] = if kind == "high" {
            Role::High(i)
        } else {
            Role::Low(i)
        };
    }
    let all_or_none = |cols: &[Option<usize>], kind: &str| -> Result<Option<Vec<usize>>> {
        if cols.iter().all(Option::is_none) {
            return Ok(None);
        }
        match cols.iter().position(Option::is_none) {
            Some(i) => Err(perr(
                path,
                header.line,
                col(&names, close_cols[i]),
                format!(
                    "no `{}_{kind}` column, but other assets have one (give all or none)",
                    assets[i]
                ),
            )),
            None => Ok(Some(cols.iter().flatten().copied().collect())),
        }
    };
    let high_cols = all_or_none(&high_cols, "high")?;
    let low_cols = all_or_none(&low_cols, "low")?;

    if rows.is_empty() {
        return Err(perr(
            path,
            header.line,
            col(&names, date_col),
            "header but no rows of data",
        ));
    }
    let n = rows.len();
    let mut close = vec![0.0; n * m];
    let mut high = high_cols.as_ref().map(|_| vec![0.0; n * m]);
    let mut low = low_cols.as_ref().map(|_| vec![0.0; n * m]);
    let mut dates = Vec::with_capacity(n);
    let mut keys: Vec<String> = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    for (r, rec) in rows.iter().enumerate() {
        check_width(rec, &names, path)?;
        let d = &rec.fields[date_col];
        let dname = || col(&names, date_col);
        if d.is_empty() {
            return Err(perr(path, rec.line, dname(), "missing date"));
        }
        let key = iso_date_key(d).ok_or_else(|| {
            perr(
                path,
                rec.line,
                dname(),
                format!(
                    "not an ISO date (YYYY-MM-DD, optionally ` HH:MM[:SS]`): {}",
                    show(d)
                ),
            )
        })?;
        if let (Some(pk), Some(pl)) = (keys.last(), lines.last()) {
            if key == *pk {
                return Err(perr(
                    path,
                    rec.line,
                    dname(),
                    format!("duplicate date {} (also on line {pl})", show(d)),
                ));
            }
            if key < *pk {
                return Err(perr(
                    path,
                    rec.line,
                    dname(),
                    format!(
                        "date {} is before the previous row's date (line {pl}): dates must increase",
                        show(d)
                    ),
                ));
            }
        }
        for (k, role) in roles.iter().enumerate() {
            let (table, i) = match *role {
                Role::Close(i) => (&mut close, i),
                Role::High(i) => match high.as_mut() {
                    Some(t) => (t, i),
                    None => continue,
                },
                Role::Low(i) => match low.as_mut() {
                    Some(t) => (t, i),
                    None => continue,
                },
                Role::Date | Role::Ignored => continue,
            };
            table[r * m + i] = value(&rec.fields[k], path, rec.line, || col(&names, k), "price")?;
        }
        dates.push(d.clone());
        keys.push(key);
        lines.push(rec.line);
    }
    Ok(Dated {
        dates,
        lines,
        assets,
        close,
        high,
        low,
        close_cols,
        high_cols,
        low_cols,
        names,
        date_col,
    })
}

/// Reads a separate high or low file and aligns it with the close file: same dates row by row,
/// same assets (any order). Returns the `[row][asset]` table in the close file's asset order and
/// each asset's column name and line per row, for messages.
fn aligned_extreme(
    records: &[Record],
    path: &Path,
    date_column: Option<&str>,
    close: &Dated,
    close_path: &Path,
) -> Result<(Vec<f64>, Vec<String>, Vec<usize>)> {
    let other = parse_dated(records, path, date_column)?;
    let header_line = records.first().map_or(1, |r| r.line);
    if other.high.is_some() || other.low.is_some() {
        return Err(perr(
            path,
            header_line,
            col(
                &other.names,
                other
                    .high_cols
                    .iter()
                    .chain(&other.low_cols)
                    .flatten()
                    .next()
                    .copied()
                    .unwrap_or(0),
            ),
            "a separate high or low file must hold one column per asset, not high/low columns",
        ));
    }
    let m = close.assets.len();
    let mut order = Vec::with_capacity(m);
    let index: std::collections::HashMap<&str, usize> = other
        .assets
        .iter()
        .enumerate()
        .map(|(j, a)| (a.as_str(), j))
        .collect();
    let mut used = vec![false; other.assets.len()];
    for a in &close.assets {
        let j = *index.get(a.as_str()).ok_or_else(|| {
            perr(
                path,
                header_line,
                col(&other.names, other.date_col),
                format!("no column for asset `{a}` of {}", close_path.display()),
            )
        })?;
        used[j] = true;
        order.push(j);
    }
    if let Some(j) = used.iter().position(|u| !u) {
        return Err(perr(
            path,
            header_line,
            col(&other.names, other.close_cols[j]),
            format!("asset `{}` is not in {}", other.assets[j], close_path.display()),
        ));
    }
    let dn = col(&other.names, other.date_col);
    for (r, (d, line)) in other.dates.iter().zip(&other.lines).enumerate() {
        match close.dates.get(r) {
            Some(cd) if iso_date_key(cd) == iso_date_key(d) => {}
            Some(cd) => {
                return Err(perr(
                    path,
                    *line,
                    dn,
                    format!(
                        "date {} differs from {} line {} ({})",
                        show(d),
                        close_path.display(),
                        close.lines[r],
                        show(cd)
                    ),
                ))
            }
            None => {
                return Err(perr(
                    path,
                    *line,
                    dn,
                    format!("more rows than {} ({})", close_path.display(), close.dates.len()),
                ))
            }
        }
    }
    if other.dates.len() < close.dates.len() {
        let r = other.dates.len();
        return Err(perr(
            path,
            other.lines.last().copied().unwrap_or(header_line),
            dn,
            format!(
                "ends after {r} rows, but {} goes on (date {} on line {})",
                close_path.display(),
                show(&close.dates[r]),
                close.lines[r]
            ),
        ));
    }
    let n = other.dates.len();
    let mut table = vec![0.0; n * m];
    for r in 0..n {
        for (i, &j) in order.iter().enumerate() {
            table[r * m + i] = other.close[r * other.assets.len() + j];
        }
    }
    let names = order
        .iter()
        .map(|&j| col(&other.names, other.close_cols[j]))
        .collect();
    Ok((table, names, other.lines))
}

fn close_from_records(
    records: &[Record],
    path: &Path,
    high_file: Option<(&[Record], &Path)>,
    low_file: Option<(&[Record], &Path)>,
    date_column: Option<&str>,
) -> Result<PriceData> {
    let mut dated = parse_dated(records, path, date_column)?;
    let m = dated.assets.len();
    let n = dated.dates.len();
    // (table, file, column names per asset, line per row) for high and low.
    type Extreme<'a> = (Vec<f64>, &'a Path, Vec<String>, Vec<usize>);
    let mut extremes: [Option<Extreme<'_>>; 2] = [None, None];
    let in_file = [
        (dated.high.take(), dated.high_cols.take()),
        (dated.low.take(), dated.low_cols.take()),
    ];
    for (e, ((file, kind), (table, cols))) in extremes
        .iter_mut()
        .zip([(high_file, "high"), (low_file, "low")].into_iter().zip(in_file))
    {
        *e = match (file, table, cols) {
            (Some((recs, p)), Some(_), Some(cols)) => {
                let hl = recs.first().map_or(1, |r| r.line);
                return Err(perr(
                    p,
                    hl,
                    "#1",
                    format!(
                        "{kind} prices are given twice: as this file and as columns of {} (e.g. `{}`)",
                        path.display(),
                        col(&dated.names, cols.first().copied().unwrap_or(0))
                    ),
                ));
            }
            (Some((recs, p)), _, _) => {
                let (t, names, lines) = aligned_extreme(recs, p, date_column, &dated, path)?;
                Some((t, p, names, lines))
            }
            (None, Some(t), Some(cols)) => Some((
                t,
                path,
                cols.iter().map(|&k| col(&dated.names, k)).collect(),
                dated.lines.clone(),
            )),
            _ => None,
        };
    }
    if n < 2 {
        return Err(perr(
            path,
            dated.lines.first().copied().unwrap_or(1),
            col(&dated.names, dated.date_col),
            "only one row of prices: at least two are needed to form a price relative",
        ));
    }
    // high ≥ close ≥ low.
    for (e, is_high) in extremes.iter().zip([true, false]) {
        if let Some((t, p, names, lines)) = e {
            for r in 0..n {
                for i in 0..m {
                    let (x, c) = (t[r * m + i], dated.close[r * m + i]);
                    let bad = if is_high { x < c } else { x > c };
                    if bad {
                        let (rel, kind) = if is_high {
                            ("below", "high")
                        } else {
                            ("above", "low")
                        };
                        return Err(perr(
                            p,
                            lines[r],
                            names[i].clone(),
                            format!("{kind} {x} is {rel} the close {c} of `{}`", dated.assets[i]),
                        ));
                    }
                }
            }
        }
    }
    let mut relatives = Vec::with_capacity((n - 1) * m);
    for r in 1..n {
        for i in 0..m {
            let y = dated.close[r * m + i] / dated.close[(r - 1) * m + i];
            if !(y.is_finite() && y > 0.0) {
                return Err(perr(
                    path,
                    dated.lines[r],
                    col(&dated.names, dated.close_cols[i]),
                    format!("price relative {y} to the previous row is not finite and positive"),
                ));
            }
            relatives.push(y);
        }
    }
    let ratios = |e: &Option<Extreme<'_>>| {
        e.as_ref()
            .map(|(t, ..)| (m..n * m).map(|k| t[k] / dated.close[k]).collect::<Vec<f64>>())
    };
    let (high, low) = (ratios(&extremes[0]), ratios(&extremes[1]));
    // Ratios of in-range finite positive numbers with high ≥ close ≥ low cannot leave [1, ∞) or
    // (0, 1] except by overflow or underflow; reject those too rather than store them.
    for (t, e, kind) in [(&high, &extremes[0], "high"), (&low, &extremes[1], "low")] {
        if let (Some(t), Some((_, p, names, lines))) = (t, e) {
            if let Some(k) = t.iter().position(|r| !(r.is_finite() && *r > 0.0)) {
                return Err(perr(
                    p,
                    lines[k / m + 1],
                    names[k % m].clone(),
                    format!("{kind}/close ratio {} is not finite and positive", t[k]),
                ));
            }
        }
    }
    Ok(PriceData {
        assets: dated.assets,
        dates: Some(dated.dates[1..].to_vec()),
        relatives,
        high,
        low,
        source: path.to_path_buf(),
        lines: dated.lines[1..].to_vec(),
    })
}

fn load_dir(dir: &Path) -> Result<PriceData> {
    let close = dir.join("close.csv");
    if !close.is_file() {
        return Err(not_found(
            &close,
            "a data directory must hold close.csv (and optionally high.csv and low.csv)".into(),
        ));
    }
    let opt = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    let opts = CloseOptions {
        date_column: None,
        high: opt("high.csv"),
        low: opt("low.csv"),
    };
    read_close_csv(&close, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_date_are_a_duplicate_named_by_line() {
        let csv = "date,A,B\n2020-01-09,1,2\n2020-01-10,1.1,2.1\n2020-01-10 00:00,1.2,2.2\n";
        let e = parse_auto(csv.as_bytes(), Path::new("p.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.csv:4") && e.contains("duplicate date") && e.contains("line 3"),
            "{e}"
        );
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date_key("2020-02-29").as_deref(), Some("2020-02-29 00:00:00"));
        // Two spellings of one instant are one key (a duplicate when both appear).
        assert_eq!(iso_date_key("2020-01-10"), iso_date_key("2020-01-10 00:00"));
        assert_eq!(iso_date_key("2020-01-10"), iso_date_key("2020-01-10T00:00:00"));
        assert_ne!(iso_date_key("2020-01-10"), iso_date_key("2020-01-10 00:01"));
        assert!(iso_date_key("2019-02-29").is_none());
        assert!(iso_date_key("2020-13-01").is_none());
        assert!(iso_date_key("2020-1-01").is_none());
        assert_eq!(
            iso_date_key("2020-01-01T09:30").as_deref(),
            Some("2020-01-01 09:30:00")
        );
        assert_eq!(
            iso_date_key("2020-01-01 09:30:59").as_deref(),
            Some("2020-01-01 09:30:59")
        );
        assert!(iso_date_key("2020-01-01 24:00").is_none());
        assert!(iso_date_key("2020-01-01x").is_none());
        assert!(iso_date_key("2020-01-01 é9:30").is_none());
    }

    #[test]
    fn quoted_fields() {
        let p = Path::new("q.csv");
        assert_eq!(
            split_fields(r#" "a,b" , "c""d",e "#, p, 1).unwrap(),
            vec!["a,b", "c\"d", "e"]
        );
        assert!(split_fields(r#""abc"#, p, 1).is_err());
        assert!(split_fields(r#""a"b"#, p, 1).is_err());
        assert_eq!(split_fields("a,", p, 1).unwrap(), vec!["a", ""]);
    }

    #[test]
    fn suffixes() {
        assert_eq!(suffix("AAPL_High"), Some(("AAPL", "high")));
        assert_eq!(suffix("_high"), None);
        assert_eq!(suffix("x_closé"), None);
        assert_eq!(suffix("é_low"), Some(("é", "low")));
    }
}
