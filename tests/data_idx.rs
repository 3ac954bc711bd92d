//! IDX readers (§A.2 data): small files built here, gzipped and not, round-trip; every defect is an
//! error naming the file and what is wrong; arbitrary and mutated bytes never panic; the real
//! Fashion-MNIST (when `dataset-fashion-mnist` is installed) has its published shapes.

use flate2::write::GzEncoder;
use flate2::Compression;
use pimtl::data::idx::{
    load_dir, parse_images, parse_labels, read_images, read_labels, to_f32, Images, Labels,
    FASHION_MNIST_DIR, MAX_SIDE,
};
use pimtl::Error;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh temporary directory for one test.
fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pimtl-idx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn images(count: usize, rows: usize, cols: usize) -> Images {
    let pixels = (0..count * rows * cols).map(|i| (i * 37 % 256) as u8).collect();
    Images {
        count,
        rows,
        cols,
        pixels,
    }
}

fn labels(count: usize) -> Labels {
    Labels {
        labels: (0..count).map(|i| (i % 10) as u8).collect(),
    }
}

/// Raw IDX bytes: magic `00 00 ty nd`, the given sizes, then `data`.
fn raw(ty: u8, sizes: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, ty, sizes.len() as u8];
    for s in sizes {
        out.extend_from_slice(&s.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Asserts `r` is a format error naming `path` whose message contains every needle.
#[track_caller]
fn assert_format_err<T: std::fmt::Debug>(r: pimtl::Result<T>, path: &Path, needles: &[&str]) {
    match r {
        Err(e @ Error::Format { .. }) => {
            let msg = e.to_string();
            let Error::Format { path: p, .. } = e else {
                unreachable!()
            };
            assert_eq!(p.as_deref(), Some(path), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            for n in needles {
                assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
            }
        }
        Err(e) => panic!("expected a format error, got {e}"),
        Ok(v) => panic!("expected a format error, got {v:?}"),
    }
}

#[test]
fn round_trip_plain_and_gzipped() {
    let dir = tmp_dir("roundtrip");
    let imgs = images(7, 3, 5);
    let labs = labels(7);
    let ib = imgs.to_idx_bytes().unwrap();
    let lb = labs.to_idx_bytes().unwrap();
    assert_eq!(&ib[..4], &[0, 0, 8, 3]);
    assert_eq!(&lb[..4], &[0, 0, 8, 1]);
    assert_eq!(ib.len(), 16 + 7 * 15);
    for (iname, lname, ibytes, lbytes) in [
        ("a-images", "a-labels", ib.clone(), lb.clone()),
        ("b-images.gz", "b-labels.gz", gzip(&ib), gzip(&lb)),
        // Gzip detected by its magic even without the `.gz` name.
        ("c-images", "c-labels", gzip(&ib), gzip(&lb)),
    ] {
        let ip = write(&dir, iname, &ibytes);
        let lp = write(&dir, lname, &lbytes);
        assert_eq!(read_images(&ip).unwrap(), imgs, "{iname}");
        assert_eq!(read_labels(&lp).unwrap(), labs, "{lname}");
    }
    assert_eq!(parse_images(&gzip(&ib), Path::new("x")).unwrap(), imgs);
    assert_eq!(labs.histogram(), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    // Pixels scaled to [0, 1].
    let f = to_f32(&imgs, 6);
    assert_eq!(f.len(), 15);
    let px = imgs.image(6).unwrap();
    for (a, &b) in f.iter().zip(px) {
        assert!((a * 255.0 - f32::from(b)).abs() < 1e-4);
        assert!((0.0..=1.0).contains(a));
    }
    assert!(imgs.image(7).is_none());
}

#[test]
fn image_defects_name_file_and_defect() {
    let dir = tmp_dir("imgdefects");
    let good = images(2, 2, 3).to_idx_bytes().unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("empty", vec![], vec!["too short", "0 bytes"]),
        ("short_magic", vec![0, 0], vec!["too short"]),
        (
            "magic",
            b"PK\x03\x04rest".to_vec(),
            vec!["wrong magic", "found 50 4b 03 04", "00 00 08 03"],
        ),
        (
            "type",
            raw(0x0D, &[1, 1, 1], &[0; 4]),
            vec!["data type 0x0d", "f32", "only 0x08"],
        ),
        (
            "dims_labels",
            labels(3).to_idx_bytes().unwrap(),
            vec!["number of dimensions", "1", "expected 3"],
        ),
        (
            "hdr_trunc",
            vec![0, 0, 8, 3, 0, 0, 0, 2, 0],
            vec!["truncated header", "expected 16"],
        ),
        ("zero_count", raw(8, &[0, 2, 2], &[]), vec!["image count is zero"]),
        ("zero_rows", raw(8, &[1, 0, 2], &[]), vec!["rows is zero"]),
        ("zero_cols", raw(8, &[1, 2, 0], &[]), vec!["columns is zero"]),
        (
            "huge_side",
            raw(8, &[1, (MAX_SIDE + 1) as u32, 1], &[]),
            vec!["absurd", "rows"],
        ),
        (
            "huge_total",
            raw(8, &[u32::MAX, 28, 28], &[]),
            vec!["absurd", "cap"],
        ),
        (
            "truncated",
            good[..good.len() - 1].to_vec(),
            vec!["truncated", "expected 12", "found 11"],
        ),
        (
            "trailing",
            trailing,
            vec!["trailing bytes", "expected 12", "found 13"],
        ),
        (
            "bad_gzip.gz",
            vec![0x1f, 0x8b, 8, 0, 1, 2, 3],
            vec!["corrupt gzip"],
        ),
        (
            "not_gzip.gz",
            good.clone(),
            vec![".gz", "gzip magic", "found 00 00"],
        ),
        (
            "gz_truncated.gz",
            gzip(&good[..good.len() - 3]),
            vec!["truncated", "found 9"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let p = write(&dir, name, &bytes);
        assert_format_err(read_images(&p), &p, &needles);
    }
}

#[test]
fn label_defects_name_file_and_defect() {
    let dir = tmp_dir("labdefects");
    let good = labels(4).to_idx_bytes().unwrap();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "magic",
            vec![1, 2, 3, 4, 5],
            vec!["wrong magic", "found 01 02 03 04", "00 00 08 01"],
        ),
        (
            "dims",
            images(1, 1, 1).to_idx_bytes().unwrap(),
            vec!["number of dimensions", "expected 1"],
        ),
        ("type", raw(0x0C, &[1], &[0; 4]), vec!["0x0c", "i32"]),
        ("zero", raw(8, &[0], &[]), vec!["label count is zero"]),
        ("huge", raw(8, &[u32::MAX], &[]), vec!["absurd"]),
        (
            "truncated",
            good[..10].to_vec(),
            vec!["truncated", "expected 4", "found 2"],
        ),
        (
            "trailing",
            [&good[..], &[1, 2]].concat(),
            vec!["trailing", "expected 4", "found 6"],
        ),
        (
            "range",
            raw(8, &[4], &[0, 9, 10, 3]),
            vec!["index 2", "is 10", "0–9"],
        ),
        (
            "range255.gz",
            gzip(&raw(8, &[2], &[0, 255])),
            vec!["index 1", "is 255"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let p = write(&dir, name, &bytes);
        assert_format_err(read_labels(&p), &p, &needles);
    }
}

#[test]
fn missing_file_is_io_error_naming_it() {
    let p = Path::new("/nonexistent/pimtl/train-images-idx3-ubyte.gz");
    match read_images(p) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains(&p.display().to_string())),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

fn write_set(dir: &Path, gz: bool, train: (usize, usize, usize, usize), test: (usize, usize, usize, usize)) {
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    let ext = if gz { ".gz" } else { "" };
    let (n, r, c, nl) = train;
    write(
        dir,
        &format!("train-images-idx3-ubyte{ext}"),
        &enc(images(n, r, c).to_idx_bytes().unwrap()),
    );
    write(
        dir,
        &format!("train-labels-idx1-ubyte{ext}"),
        &enc(labels(nl).to_idx_bytes().unwrap()),
    );
    let (n, r, c, nl) = test;
    write(
        dir,
        &format!("t10k-images-idx3-ubyte{ext}"),
        &enc(images(n, r, c).to_idx_bytes().unwrap()),
    );
    write(
        dir,
        &format!("t10k-labels-idx1-ubyte{ext}"),
        &enc(labels(nl).to_idx_bytes().unwrap()),
    );
}

#[test]
fn load_dir_plain_and_gzipped() {
    for gz in [false, true] {
        let dir = tmp_dir(&format!("loaddir-{gz}"));
        write_set(&dir, gz, (12, 4, 4, 12), (5, 4, 4, 5));
        let d = load_dir(&dir).unwrap();
        assert_eq!(d.train_images, images(12, 4, 4));
        assert_eq!(d.train_labels, labels(12));
        assert_eq!(d.test_images, images(5, 4, 4));
        assert_eq!(d.test_labels, labels(5));
    }
}

#[test]
fn load_dir_defects() {
    // Missing file: named, with how to get the data.
    let dir = tmp_dir("loaddir-missing");
    write_set(&dir, true, (3, 2, 2, 3), (2, 2, 2, 2));
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_format_err(
        load_dir(&dir),
        &dir.join("t10k-labels-idx1-ubyte"),
        &[
            "missing",
            "t10k-labels-idx1-ubyte",
            "apt-get install dataset-fashion-mnist",
        ],
    );
    // Image and label counts disagree.
    let dir = tmp_dir("loaddir-count");
    write_set(&dir, false, (3, 2, 2, 4), (2, 2, 2, 2));
    assert_format_err(
        load_dir(&dir),
        &dir.join("train-labels-idx1-ubyte"),
        &["4 labels", "3 images", "train-images-idx3-ubyte"],
    );
    // Train and test image sizes disagree.
    let dir = tmp_dir("loaddir-size");
    write_set(&dir, false, (3, 2, 2, 3), (2, 3, 2, 2));
    assert_format_err(
        load_dir(&dir),
        &dir.join("t10k-images-idx3-ubyte"),
        &["3×2", "2×2"],
    );
}

#[test]
fn fashion_mnist_when_installed() {
    let dir = Path::new(FASHION_MNIST_DIR);
    if !dir.is_dir() {
        eprintln!("skip: {FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)");
        return;
    }
    let d = load_dir(dir).unwrap();
    assert_eq!(
        (d.train_images.count, d.train_images.rows, d.train_images.cols),
        (60_000, 28, 28)
    );
    assert_eq!(
        (d.test_images.count, d.test_images.rows, d.test_images.cols),
        (10_000, 28, 28)
    );
    assert_eq!(d.train_labels.len(), 60_000);
    assert_eq!(d.test_labels.len(), 10_000);
    // Fashion-MNIST is balanced: 6000 and 1000 of each class.
    assert_eq!(d.train_labels.histogram(), [6000; 10]);
    assert_eq!(d.test_labels.histogram(), [1000; 10]);
    let f = to_f32(&d.train_images, 0);
    assert_eq!(f.len(), 784);
    assert!(f.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(f.iter().any(|&v| v > 0.5));
}

/// Whatever comes back from the parsers satisfies the documented invariants.
fn check_images(r: pimtl::Result<Images>) {
    if let Ok(i) = r {
        assert!(i.count > 0 && i.rows > 0 && i.cols > 0);
        assert_eq!(i.pixels.len(), i.count * i.rows * i.cols);
    }
}

fn check_labels(r: pimtl::Result<Labels>) {
    if let Ok(l) = r {
        assert!(!l.is_empty());
        assert!(l.labels.iter().all(|&v| v < 10));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let p = Path::new("fuzz.idx");
        check_images(parse_images(&bytes, p));
        check_labels(parse_labels(&bytes, p));
        let gz = gzip(&bytes);
        check_images(parse_images(&gz, p));
        check_labels(parse_labels(&gz, p));
    }

    #[test]
    fn mutated_valid_files_never_panic(
        n in 1usize..6, r in 1usize..5, c in 1usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        zip in any::<bool>(),
    ) {
        let p = Path::new("mutated.idx");
        for mut bytes in [images(n, r, c).to_idx_bytes().unwrap(), labels(n).to_idx_bytes().unwrap()] {
            if zip {
                bytes = gzip(&bytes);
            }
            for &(i, v) in &edits {
                let len = bytes.len();
                bytes[i % len] = v;
            }
            bytes.truncate(bytes.len() - cut % 3);
            check_images(parse_images(&bytes, p));
            check_labels(parse_labels(&bytes, p));
        }
    }

    #[test]
    fn valid_files_round_trip(n in 1usize..8, r in 1usize..6, c in 1usize..6, seed in any::<u8>()) {
        let p = Path::new("rt.idx");
        let mut imgs = images(n, r, c);
        for px in &mut imgs.pixels {
            *px = px.wrapping_add(seed);
        }
        let bytes = imgs.to_idx_bytes().unwrap();
        prop_assert_eq!(&parse_images(&bytes, p).unwrap(), &imgs);
        prop_assert_eq!(&parse_images(&gzip(&bytes), p).unwrap(), &imgs);
        let labs = labels(n);
        prop_assert_eq!(&parse_labels(&labs.to_idx_bytes().unwrap(), p).unwrap(), &labs);
    }
}
