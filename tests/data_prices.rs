//! Price-data readers (§6.2, §A.1 data): every defect is an error naming file, line and column;
//! close prices → relatives → prices round-trips; arbitrary bytes never panic; the real benchmark
//! sets (when `data/` has been fetched by `scripts/fetch-data.sh`) have their published shapes.

use pimtl::data::prices::{
    check_min_days, list_known, load, parse_auto, parse_close, parse_price_path, parse_relatives,
    read_close_csv, read_price_path_csv, read_relatives_csv, CloseOptions, CsvBytes, PriceData, KNOWN_SETS,
};
use pimtl::Error;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// A fresh temporary directory for one test.
fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pimtl-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts `r` is a parse error at `path`, `line`, `column`, whose reason contains `needle`, and
/// that its message names all three.
#[track_caller]
fn assert_parse_err(r: pimtl::Result<PriceData>, path: &Path, line: usize, column: &str, needle: &str) {
    match r {
        Err(e @ Error::Parse { .. }) => {
            let msg = e.to_string();
            let Error::Parse {
                path: p,
                line: l,
                column: c,
                reason,
            } = e
            else {
                unreachable!()
            };
            assert_eq!((p.as_path(), l, c.as_str()), (path, line, column), "{msg}");
            assert!(reason.contains(needle), "reason `{reason}` lacks `{needle}`");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!(":{line}:")), "{msg}");
            assert!(msg.contains(&format!("`{column}`")), "{msg}");
        }
        Err(e) => panic!("expected a parse error, got {e}"),
        Ok(d) => panic!("expected a parse error, got {} days", d.days()),
    }
}

#[test]
fn undated_defects_name_file_line_and_column() {
    let dir = tmp_dir("undated");
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        ("empty", "", 1, "#1", "empty file"),
        ("blank", "\n  \n\r\n", 1, "#1", "empty file"),
        ("header_only", "A,B\n", 1, "A", "no rows"),
        ("ragged_short", "A,B\n1,2\n3\n", 3, "B", "ragged"),
        ("ragged_long", "A,B\n1,2\n3,4,5\n", 3, "#3", "ragged"),
        ("missing", "A,B\n1,2\n1,\n", 3, "B", "missing"),
        ("non_numeric", "A,B\n1,2\n1,abc\n", 3, "B", "not a number"),
        ("nan", "A,B\n1,2\nNaN,2\n", 3, "A", "not finite"),
        ("inf", "A,B\n1,2\n1,inf\n", 3, "B", "not finite"),
        ("zero", "A,B\n1,2\n0,2\n", 3, "A", "zero"),
        ("negative", "A,B\n1,2\n1,-2\n", 3, "B", "negative"),
        ("dup_header", "A,B,A\n1,2,3\n", 1, "A", "duplicate"),
        ("empty_name", "A,,B\n1,2,3\n", 1, "#2", "empty column name"),
        ("numeric_header", "1.0,2.0\n1,2\n", 1, "#1", "header"),
        ("quote", "A,B\n1,\"2\n", 2, "#2", "unterminated"),
        ("after_quote", "A,B\n1,\"2\"x\n", 2, "#2", "closing quote"),
        ("crlf_missing", "A,B\r\n1,2\r\n1, \r\n", 3, "B", "missing"),
    ];
    for &(name, text, line, column, needle) in cases {
        let p = write(&dir, &format!("{name}.csv"), text);
        assert_parse_err(read_price_path_csv(&p), &p, line, column, needle);
        assert_parse_err(read_relatives_csv(&p), &p, line, column, needle);
        assert_parse_err(load(p.to_str().unwrap(), &dir), &p, line, column, needle);
    }
    let p = dir.join("utf8.csv");
    std::fs::write(&p, b"A,B\n1,\xff\n").unwrap();
    assert_parse_err(read_price_path_csv(&p), &p, 2, "#2", "UTF-8");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn undated_layouts_read_prices_and_relatives() {
    let path = Path::new("mem.csv");
    // Price path: the first row is the first relative (implied 1.0 before it).
    let d = parse_price_path(b"\xEF\xBB\xBFA, \"B\"\n2,0.5\n3,1\n", path).unwrap();
    assert_eq!(d.assets, ["A", "B"]);
    assert_eq!(d.relatives, [2.0, 0.5, 1.5, 2.0]);
    assert_eq!(d.lines, [2, 3]);
    assert_eq!(d.prices(), [1.0, 1.0, 2.0, 0.5, 3.0, 1.0]);
    assert!(d.dates.is_none() && d.high.is_none() && d.low.is_none());
    // Relatives: taken as they are.
    let r = parse_relatives(b"A,B\n2,0.5\n3,1\n", path).unwrap();
    assert_eq!(r.relatives, [2.0, 0.5, 3.0, 1.0]);
    // A pandas index column (empty header) is ignored; control characters in names are escaped.
    let d = parse_price_path(",A,\u{7f}\n0,1,2\n1,2,4\n".as_bytes(), path).unwrap();
    assert_eq!(d.assets, ["A", "\\u{7f}"]);
    assert_eq!(d.relatives, [1.0, 2.0, 2.0, 2.0]);
    // The same through the content rule.
    assert_eq!(
        parse_auto(b"A,B\n2,0.5\n3,1\n", path).unwrap().relatives,
        [2.0, 0.5, 1.5, 2.0]
    );
}

#[test]
fn close_defects_name_file_line_and_column() {
    let dir = tmp_dir("close");
    let opts = CloseOptions::default();
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        ("empty", "", 1, "#1", "empty file"),
        ("header_only", "date,A\n", 1, "date", "no rows"),
        ("one_row", "date,A\n2020-01-02,1\n", 2, "date", "two"),
        (
            "dup_date",
            "date,A\n2020-01-02,1\n2020-01-03,2\n2020-01-03,3\n",
            4,
            "date",
            "duplicate",
        ),
        (
            "unordered",
            "Date,A\n2020-01-02,1\n2020-01-04,2\n2020-01-03,3\n",
            4,
            "Date",
            "before",
        ),
        (
            "bad_date",
            "date,A\n2020-01-02,1\n2020-02-30,2\n",
            3,
            "date",
            "ISO",
        ),
        (
            "missing_date",
            "date,A\n2020-01-02,1\n,2\n",
            3,
            "date",
            "missing date",
        ),
        (
            "missing",
            "date,A,B\n2020-01-02,1,2\n2020-01-03,,2\n",
            3,
            "A",
            "missing",
        ),
        (
            "zero",
            "date,A,B\n2020-01-02,1,2\n2020-01-03,1,0\n",
            3,
            "B",
            "zero",
        ),
        (
            "negative",
            "date,A,B\n2020-01-02,-1,2\n2020-01-03,1,1\n",
            2,
            "A",
            "negative",
        ),
        (
            "nan",
            "date,A,B\n2020-01-02,1,2\n2020-01-03,1,nan\n",
            3,
            "B",
            "not finite",
        ),
        (
            "text",
            "date,A,B\n2020-01-02,1,2\n2020-01-03,1,n/a\n",
            3,
            "B",
            "not a number",
        ),
        (
            "ragged",
            "date,A,B\n2020-01-02,1,2\n2020-01-03,1\n",
            3,
            "B",
            "ragged",
        ),
        ("not_dated", "A,B\n1,2\n", 1, "A", "date column"),
        (
            "high_below",
            "date,A,A_high,A_low\n2020-01-02,10,11,9\n2020-01-03,10,9.5,9\n",
            3,
            "A_high",
            "below the close",
        ),
        (
            "low_above",
            "date,A,A_High,A_LOW\n2020-01-02,10,11,9\n2020-01-03,10,11,10.5\n",
            3,
            "A_LOW",
            "above the close",
        ),
        (
            "orphan_high",
            "date,A,B_high\n2020-01-02,1,2\n",
            1,
            "B_high",
            "no close column",
        ),
        (
            "partial_high",
            "date,A,B,A_high\n2020-01-02,1,2,3\n",
            1,
            "B",
            "all or none",
        ),
        (
            "dup_asset",
            "date,A,A_close\n2020-01-02,1,2\n",
            1,
            "A_close",
            "already",
        ),
        ("only_date", "date\n2020-01-02\n", 1, "date", "no price columns"),
    ];
    for &(name, text, line, column, needle) in cases {
        let p = write(&dir, &format!("{name}.csv"), text);
        assert_parse_err(read_close_csv(&p, &opts), &p, line, column, needle);
        if name != "not_dated" && name != "empty" {
            // The content rule sends dated files to the close reader.
            assert_parse_err(load(p.to_str().unwrap(), &dir), &p, line, column, needle);
        }
    }
    // The date column by name, anywhere.
    let p = write(&dir, "named.csv", "A,when\n1,2020-01-02\n2,2020-01-02\n");
    let named = CloseOptions {
        date_column: Some("when".into()),
        ..CloseOptions::default()
    };
    assert_parse_err(read_close_csv(&p, &named), &p, 3, "when", "duplicate");
    let missing = CloseOptions {
        date_column: Some("day".into()),
        ..CloseOptions::default()
    };
    assert_parse_err(read_close_csv(&p, &missing), &p, 1, "day", "no such date column");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn separate_high_low_files_are_checked_against_the_close_file() {
    let dir = tmp_dir("hl");
    let close = write(
        &dir,
        "close.csv",
        "date,A,B\n2020-01-02,10,20\n2020-01-03,11,19\n2020-01-06,12,21\n",
    );
    let good_high = write(
        &dir,
        "high.csv",
        "date,B,A\n2020-01-02,21,10.5\n2020-01-03,19,11\n2020-01-06,22,12.5\n",
    );
    let good_low = write(
        &dir,
        "low.csv",
        "date,A,B\n2020-01-02,9,20\n2020-01-03,10,18\n2020-01-06,11,20\n",
    );
    let opts = |h: &Path, l: &Path| CloseOptions {
        date_column: None,
        high: Some(h.to_path_buf()),
        low: Some(l.to_path_buf()),
    };
    let d = read_close_csv(&close, &opts(&good_high, &good_low)).unwrap();
    assert_eq!(d.assets, ["A", "B"]);
    assert_eq!(d.days(), 2);
    assert_eq!(d.dates.as_deref().unwrap(), ["2020-01-03", "2020-01-06"]);
    assert_eq!(d.lines, [3, 4]);
    assert_eq!(d.relatives, [11.0 / 10.0, 19.0 / 20.0, 12.0 / 11.0, 21.0 / 19.0]);
    assert_eq!(d.high.as_deref().unwrap(), [1.0, 1.0, 12.5 / 12.0, 22.0 / 21.0]);
    assert_eq!(
        d.low.as_deref().unwrap(),
        [10.0 / 11.0, 18.0 / 19.0, 11.0 / 12.0, 20.0 / 21.0]
    );
    // A directory with close.csv, high.csv and low.csv reads the same.
    assert_eq!(load(dir.to_str().unwrap(), Path::new("unused")).unwrap(), d);

    let bad = |name: &str, text: &str| write(&dir, name, text);
    let h = bad(
        "h1.csv",
        "date,A,B\n2020-01-02,10.5,21\n2020-01-03,10.9,19\n2020-01-06,12.5,22\n",
    );
    assert_parse_err(
        read_close_csv(&close, &opts(&h, &good_low)),
        &h,
        3,
        "A",
        "below the close",
    );
    let l = bad(
        "l1.csv",
        "date,A,B\n2020-01-02,9,20\n2020-01-03,10,18\n2020-01-06,11,21.5\n",
    );
    assert_parse_err(
        read_close_csv(&close, &opts(&good_high, &l)),
        &l,
        4,
        "B",
        "above the close",
    );
    let h = bad(
        "h2.csv",
        "date,A,B\n2020-01-02,10.5,21\n2020-01-04,11,19\n2020-01-06,12.5,22\n",
    );
    assert_parse_err(
        read_close_csv(&close, &opts(&h, &good_low)),
        &h,
        3,
        "date",
        "differs",
    );
    let h = bad(
        "h3.csv",
        "date,A\n2020-01-02,10.5\n2020-01-03,11\n2020-01-06,12.5\n",
    );
    assert_parse_err(read_close_csv(&close, &opts(&h, &good_low)), &h, 1, "date", "`B`");
    let h = bad(
        "h4.csv",
        "date,A,B,C\n2020-01-02,10.5,21,1\n2020-01-03,11,19,1\n2020-01-06,12.5,22,1\n",
    );
    assert_parse_err(read_close_csv(&close, &opts(&h, &good_low)), &h, 1, "C", "not in");
    let h = bad("h5.csv", "date,A,B\n2020-01-02,10.5,21\n2020-01-03,11,19\n");
    assert_parse_err(
        read_close_csv(&close, &opts(&h, &good_low)),
        &h,
        3,
        "date",
        "ends after 2 rows",
    );
    let h = bad(
        "h6.csv",
        "date,A,B\n2020-01-02,10.5,21\n2020-01-03,11,\n2020-01-06,12.5,22\n",
    );
    assert_parse_err(
        read_close_csv(&close, &opts(&h, &good_low)),
        &h,
        3,
        "B",
        "missing",
    );
    // High given twice: in-file columns and a separate file.
    let both = write(
        &dir,
        "both.csv",
        "date,A,A_high\n2020-01-02,1,2\n2020-01-03,1,2\n",
    );
    let h = bad("h7.csv", "date,A\n2020-01-02,2\n2020-01-03,2\n");
    let o = CloseOptions {
        high: Some(h.clone()),
        ..CloseOptions::default()
    };
    assert_parse_err(read_close_csv(&both, &o), &h, 1, "#1", "twice");
    // A missing high file is an I/O error naming it.
    let o = CloseOptions {
        high: Some(dir.join("nope.csv")),
        ..CloseOptions::default()
    };
    let e = read_close_csv(&close, &o).unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("nope.csv"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn in_file_columns_and_datetimes() {
    let text = "Date,A_close,A_open,A_high,A_low,A_volume,B\n\
                2020-01-02 09:30,10,9,11,9,100,5\n\
                2020-01-02T10:00,12,9,12,10,100,5\n\
                2020-01-02 10:30:00,6,9,7,6,100,10\n";
    let p = Path::new("intraday.csv");
    // B has no high/low columns while A has: all or none.
    let e = parse_close(
        CsvBytes {
            bytes: text.as_bytes(),
            path: p,
        },
        None,
        None,
        None,
    );
    assert_parse_err(e, p, 1, "B", "all or none");
    let text = text
        .replace(",B\n", ",B,B_high,B_low\n")
        .replace(",5\n", ",5,5,5\n")
        .replace(",10\n", ",10,10,10\n");
    let d = parse_close(
        CsvBytes {
            bytes: text.as_bytes(),
            path: p,
        },
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(d.assets, ["A", "B"]);
    assert_eq!(d.relatives, [1.2, 1.0, 0.5, 2.0]);
    assert_eq!(d.high.as_deref().unwrap(), [1.0, 1.0, 7.0 / 6.0, 1.0]);
    assert_eq!(d.low.as_deref().unwrap(), [10.0 / 12.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        d.dates.as_deref().unwrap(),
        ["2020-01-02T10:00", "2020-01-02 10:30:00"]
    );
    // An unnamed first column holding dates (pandas DatetimeIndex) is the date column.
    let d = parse_auto(b",X\n2021-03-01,4\n2021-03-02,5\n", p).unwrap();
    assert_eq!(
        (d.assets.as_slice(), d.relatives.as_slice()),
        (&["X".to_string()][..], &[1.25][..])
    );
}

#[test]
fn too_few_days_for_the_window_names_the_file_and_last_line() {
    let p = Path::new("short.csv");
    let d = parse_close(
        CsvBytes {
            bytes: b"date,A\n2020-01-01,1\n2020-01-02,2\n\n2020-01-03,3\n",
            path: p,
        },
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(d.days(), 2);
    check_min_days(&d, 0).unwrap();
    let e = check_min_days(&d, 1);
    assert!(
        matches!(&e, Err(Error::Parse { line: 5, column, .. }) if column == "date"),
        "{e:?}"
    );
    let msg = e.unwrap_err().to_string();
    assert!(msg.contains("short.csv:5:") && msg.contains("window"), "{msg}");
    assert!(check_min_days(&d, usize::MAX).is_err());
    let u = parse_price_path(b"A\n1\n2\n3\n", p).unwrap();
    check_min_days(&u, 1).unwrap();
    assert!(matches!(check_min_days(&u, 2), Err(Error::Parse { line: 4, column, .. }) if column == "A"));
}

#[test]
fn load_resolves_names_and_explains_missing_sets() {
    let dir = tmp_dir("load");
    let e = load("nyse_o", &dir).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Io { .. }) && msg.contains("fetch-data.sh") && msg.contains("nyse_o.csv"),
        "{msg}"
    );
    let e = load("no_such_set", &dir).unwrap_err();
    assert!(
        matches!(e, Error::InvalidParameter { .. }) && e.to_string().contains("nyse_o"),
        "{e}"
    );
    assert!(matches!(load("", &dir), Err(Error::InvalidParameter { .. })));
    assert!(matches!(load("missing/file.csv", &dir), Err(Error::Io { .. })));
    let e = load(dir.to_str().unwrap(), &dir).unwrap_err();
    assert!(e.to_string().contains("close.csv"), "{e}");
    // A user's file dropped into the data folder is found by name, and listed.
    write(
        &dir,
        "mine.csv",
        "date,A,B\n2020-01-02,1,2\n2020-01-03,2,2\n2020-01-06,2,4\n",
    );
    write(&dir, "djia.csv", "A,B,C\n1,1,1\n2,2,2\n");
    let d = load("mine", &dir).unwrap();
    assert_eq!((d.num_assets(), d.days()), (2, 2));
    let list = list_known(&dir).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].name.as_str(), list[0].assets, list[0].days),
        ("djia", 3, 2)
    );
    assert_eq!(
        list[0].first_date.as_deref(),
        Some("2001-01-14"),
        "published period of a known set"
    );
    assert_eq!(
        (list[1].name.as_str(), list[1].first_date.as_deref()),
        ("mine", Some("2020-01-03"))
    );
    assert_eq!(list[1].last_date.as_deref(), Some("2020-01-06"));
    let json = serde_json::to_string(&list).unwrap();
    assert!(json.contains("\"days\":2"), "{json}");
    let e = list_known(&dir.join("absent")).unwrap_err();
    assert!(e.to_string().contains("fetch-data.sh"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn selection_split_and_prices() {
    let d = parse_price_path(b"A,B,C\n1,2,4\n2,2,2\n4,1,8\n", Path::new("s.csv")).unwrap();
    let s = d.select_assets(&[2, 0]).unwrap();
    assert_eq!(s.assets, ["C", "A"]);
    assert_eq!(s.relatives, [4.0, 1.0, 0.5, 2.0, 4.0, 2.0]);
    assert!(d.select_assets(&[3]).is_err());
    assert!(d.select_assets(&[0, 0]).is_err());
    assert!(d.select_assets(&[]).is_err());
    let (a, b) = d.split_at_day(1).unwrap();
    assert_eq!((a.days(), b.days()), (1, 2));
    assert_eq!(b.lines, [3, 4]);
    assert_eq!(b.day(0).unwrap(), [2.0, 1.0, 0.5]);
    assert!(d.split_at_day(4).is_err());
    let (all, none) = d.split_at_day(3).unwrap();
    assert_eq!((all.days(), none.days()), (3, 0));
    assert_eq!(
        d.prices(),
        [1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 2.0, 2.0, 2.0, 4.0, 1.0, 8.0]
    );
    assert!(PriceData::new(vec!["A".into()], vec![1.0, 0.0], PathBuf::new()).is_err());
    assert!(PriceData::new(vec!["A".into(), "B".into()], vec![1.0], PathBuf::new()).is_err());
    assert!(PriceData::new(vec![], vec![], PathBuf::new()).is_err());
    assert_eq!(
        PriceData::new(vec!["A".into()], vec![1.5], PathBuf::new())
            .unwrap()
            .days(),
        1
    );
}

/// Writes a close-price CSV for `[row][asset]` prices.
fn close_csv(prices: &[Vec<f64>]) -> String {
    let m = prices[0].len();
    let mut s = String::from("date");
    for i in 0..m {
        s.push_str(&format!(",S{i}"));
    }
    s.push('\n');
    for (r, row) in prices.iter().enumerate() {
        // Distinct increasing ISO dates: days of 2000 + r/28 years.
        s.push_str(&format!(
            "{:04}-{:02}-{:02}",
            2000 + r / 336,
            r / 28 % 12 + 1,
            r % 28 + 1
        ));
        for v in row {
            s.push_str(&format!(",{v}"));
        }
        s.push('\n');
    }
    s
}

fn prices_strategy() -> impl Strategy<Value = Vec<Vec<f64>>> {
    (1usize..6, 2usize..40)
        .prop_flat_map(|(m, n)| proptest::collection::vec(proptest::collection::vec(1e-3f64..1e4, m), n))
}

/// Checks every documented invariant of a successfully parsed value.
fn check_ok(d: &PriceData) {
    d.validate().unwrap();
    assert!(d.relatives.iter().all(|y| y.is_finite() && *y > 0.0));
    assert_eq!(d.lines.len(), d.days());
    assert!(d.lines.windows(2).all(|w| w[0] < w[1]));
}

fn check_bytes(bytes: &[u8]) {
    let p = Path::new("fuzz.csv");
    let (cut1, cut2) = (bytes.len() / 3, 2 * bytes.len() / 3);
    let part = |b| CsvBytes { bytes: b, path: p };
    let results = [
        parse_price_path(bytes, p),
        parse_relatives(bytes, p),
        parse_auto(bytes, p),
        parse_close(part(bytes), None, None, None),
        parse_close(part(bytes), None, None, Some("date")),
        parse_close(
            part(&bytes[..cut1]),
            Some(part(&bytes[cut1..cut2])),
            Some(part(&bytes[cut2..])),
            None,
        ),
    ];
    for d in results.into_iter().flatten() {
        check_ok(&d);
    }
}

/// Parses close, high and low files given as bytes.
fn check_three(files: &[Vec<u8>; 3]) {
    let names = ["c.csv", "h.csv", "l.csv"].map(Path::new);
    let part = |k: usize| CsvBytes {
        bytes: &files[k],
        path: names[k],
    };
    if let Ok(d) = parse_close(part(0), Some(part(1)), Some(part(2)), None) {
        check_ok(&d);
    }
}

const VALID_SEPARATE: [&str; 3] = [
    "date,A,B\n2020-01-02,10,20\n2020-01-03,11,19\n",
    "date,B,A\n2020-01-02,21,10.5\n2020-01-03,19,11\n",
    "date,A,B\n2020-01-02,9,20\n2020-01-03,10,18\n",
];

const VALID_CLOSE: &str = "date,A,B,A_high,A_low,B_high,B_low\n\
                           2020-01-02,10,20,11,9,21,19\n\
                           2020-01-03,11,19,11.5,10,20,18.5\n\
                           2020-01-06,12,21,12,11,22,20\n";
const VALID_PATH: &str = "A,B,C\n1.01,0.99,1\n1.02,0.98,1.5\n1.0,1.0,1.2\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// close prices → relatives → prices reproduces the closes up to rounding.
    #[test]
    fn close_relatives_prices_round_trip(prices in prices_strategy()) {
        let text = close_csv(&prices);
        let d = parse_close(CsvBytes { bytes: text.as_bytes(), path: Path::new("rt.csv") }, None, None, None).unwrap();
        let m = prices[0].len();
        prop_assert_eq!((d.num_assets(), d.days()), (m, prices.len() - 1));
        let path = d.prices();
        for (r, row) in prices.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                let back = path[r * m + i] * prices[0][i];
                prop_assert!((back - v).abs() <= 1e-12 * v, "row {} asset {}: {} vs {}", r, i, back, v);
            }
        }
        // And the undated layout of the same path gives the same relatives.
        let mut undated = String::from("A");
        for i in 1..m { undated.push_str(&format!(",A{i}")); }
        undated.push('\n');
        for row in path.chunks_exact(m).skip(1) {
            undated.push_str(&row.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(","));
            undated.push('\n');
        }
        let u = parse_price_path(undated.as_bytes(), Path::new("u.csv")).unwrap();
        for (a, b) in u.relatives.iter().zip(&d.relatives) {
            prop_assert!((a - b).abs() <= 1e-12 * b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_bytes(&bytes);
    }

    #[test]
    fn readers_never_panic_on_csv_like_text(text in "[A-Za-z0-9_,.\\-: \"\n\r]{0,200}") {
        check_bytes(text.as_bytes());
    }

    #[test]
    fn readers_never_panic_on_mutated_files(
        which in 0usize..2,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = [VALID_CLOSE, VALID_PATH][which].as_bytes().to_vec();
        let i = pos.index(b.len());
        b[i] = byte;
        check_bytes(&b);
        let c = cut.index(b.len());
        check_bytes(&b[..c]);
        b.insert(c, b',');
        check_bytes(&b);
    }

    #[test]
    fn separate_files_never_panic_when_mutated(
        which in 0usize..3,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut files = VALID_SEPARATE.map(|s| s.as_bytes().to_vec());
        check_three(&files);
        let f = &mut files[which];
        let i = pos.index(f.len());
        f[i] = byte;
        check_three(&files);
        let c = cut.index(files[which].len());
        files[which].truncate(c);
        check_three(&files);
    }
}

#[test]
fn valid_fuzz_seeds_parse() {
    let p = Path::new("seed.csv");
    let d = parse_close(
        CsvBytes {
            bytes: VALID_CLOSE.as_bytes(),
            path: p,
        },
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!((d.num_assets(), d.days()), (2, 2));
    assert!(d.high.is_some() && d.low.is_some());
    assert_eq!(parse_price_path(VALID_PATH.as_bytes(), p).unwrap().days(), 3);
    let files = VALID_SEPARATE.map(|s| s.as_bytes().to_vec());
    let part = |k: usize| CsvBytes {
        bytes: &files[k],
        path: p,
    };
    let d = parse_close(part(0), Some(part(1)), Some(part(2)), None).unwrap();
    assert_eq!(d.high.unwrap(), [1.0, 1.0]);
}

/// Regression inputs for odd corners of the tokenizer and the date parser.
#[test]
fn odd_inputs_are_errors_not_panics() {
    let p = Path::new("odd.csv");
    for bytes in [
        &b"\""[..],
        b",",
        b"\xEF\xBB\xBF",
        b"date\n2020-01-01 \xc3\xa99:30\n",
        b"date,A\n2020-01-01 09:3\xc3\xa9,1\n",
        b"A\n1e308\n1e-308\n",
        b"A\n1e-308\n1e308\n",
        b"date,A\n2020-01-01,1e-308\n2020-01-02,1e308\n",
        b"date,A,A_high\n2020-01-01,1e-308,1e308\n2020-01-02,1,1\n",
        b"date,A,A_low\n2020-01-01,1,1\n2020-01-02,1e300,1e-300\n",
        b"_high\n1\n",
        b"date,_high\n2020-01-01,1\n",
    ] {
        check_bytes(bytes);
    }
    assert!(parse_price_path(b"A\n1e308\n1e-308\n", p).is_err());
}

/// The real benchmark sets, when `scripts/fetch-data.sh` has put them in `data/`.
#[test]
fn real_sets_have_their_published_shapes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    if !KNOWN_SETS
        .iter()
        .all(|k| dir.join(format!("{}.csv", k.name)).is_file())
    {
        eprintln!(
            "note: data/ has not been fetched (bash scripts/fetch-data.sh); skipping the real-set checks"
        );
        return;
    }
    // Equal-CRP final wealth without fees, as measured with universal-portfolios 0.4.17
    // (shared notes, table 3): pins the reading of the files as price paths.
    let ecrp = [
        ("nyse_o", 27.075),
        ("nyse_n", 31.552),
        ("tse", 1.5952),
        ("djia", 0.8127),
    ];
    for k in KNOWN_SETS {
        let d = load(k.name, &dir).unwrap();
        assert_eq!((k.name, d.num_assets(), d.days()), (k.name, k.assets, k.days));
        check_ok(&d);
        assert_eq!(d.lines.first(), Some(&2));
        if let Some(&(_, want)) = ecrp.iter().find(|(n, _)| *n == k.name) {
            let wealth: f64 = d
                .relatives
                .chunks_exact(d.num_assets())
                .map(|row| row.iter().sum::<f64>() / row.len() as f64)
                .product();
            assert!(
                (wealth / want - 1.0).abs() < 2e-4,
                "{}: Equal CRP {wealth} vs {want}",
                k.name
            );
        }
    }
    let shapes: Vec<_> = [
        ("nyse_o", 36, 5651),
        ("nyse_n", 23, 6431),
        ("tse", 88, 1259),
        ("djia", 30, 507),
    ]
    .to_vec();
    let list = list_known(&dir).unwrap();
    for (name, m, n) in shapes {
        let info = list.iter().find(|i| i.name == name).unwrap();
        assert_eq!((info.assets, info.days), (m, n));
        assert!(info.title.is_some() && info.first_date.is_some() && !info.high_low);
    }
    // TSE's header has control characters; they are escaped, and names stay unique.
    let tse = load("tse", &dir).unwrap();
    assert!(tse.assets.iter().all(|a| !a.chars().any(char::is_control)));
    let mut names = tse.assets.clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 88);
}
