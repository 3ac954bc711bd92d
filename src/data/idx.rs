//! IDX image and label files (LeCun's MNIST format) for the meta-federated-learning experiment
//! (§A.2, Fig. 6).
//!
//! # Format
//! An IDX file is a 4-byte magic number, then one big-endian `u32` size per dimension, then the data
//! in row-major order:
//!
//! | bytes | meaning |
//! |-------|---------|
//! | 0–1   | two zero bytes |
//! | 2     | data type: only `0x08` (unsigned byte) is accepted — it is the type of every MNIST and Fashion-MNIST file; the other IDX types (`0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64) are rejected with an error that names them |
//! | 3     | number of dimensions: 3 for images (count × rows × cols), 1 for labels (count) |
//! | 4…    | the sizes, big-endian `u32`, then `product(sizes)` data bytes |
//!
//! Files may be gzipped (as the Debian package `dataset-fashion-mnist` and the original MNIST
//! downloads ship them): a name ending in `.gz` or data starting with the gzip magic `1f 8b` is
//! decompressed first, with a cap of [`MAX_DATA_BYTES`] on the decompressed size so that a lying
//! file cannot exhaust memory.
//!
//! # Validation
//! Every defect is an [`Error::Format`] naming the file and what is wrong: a wrong magic (saying
//! what was found), an unsupported data type, a wrong number of dimensions, a zero or absurd size
//! (a side over [`MAX_SIDE`] or a total over [`MAX_DATA_BYTES`]), a data length that does not match
//! the header (truncated or trailing bytes, with the expected and the found length) and labels
//! outside 0–9 (naming the index and the value). [`load_dir`] also checks that image and label
//! counts agree and that train and test images have the same size.
//!
//! # Data
//! By default the experiment reads Fashion-MNIST from [`FASHION_MNIST_DIR`], where
//! `apt-get install dataset-fashion-mnist` puts it; any directory holding MNIST proper (gzipped
//! or not) works too.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the Debian package `dataset-fashion-mnist` installs its gzipped IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The cap on the (decompressed) data of one IDX file: 1 GiB, about 16 times MNIST's training
/// images. A header announcing more, or a gzip stream inflating to more, is an error.
pub const MAX_DATA_BYTES: usize = 1 << 30;

/// The largest accepted image side (rows or columns), in pixels.
pub const MAX_SIDE: usize = 1 << 14;

/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The only accepted IDX data type: unsigned byte.
const TYPE_U8: u8 = 0x08;

/// Number of label classes; labels must lie in `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;

/// A stack of greyscale images read from an IDX file (`idx3-ubyte`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count × rows × cols` pixel intensities (0 = background), image after image, row-major.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image, `rows × cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `index`, or `None` when `index ≥ count` or the buffer is short.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let n = self.image_len();
        let start = index.checked_mul(n)?;
        if index >= self.count {
            return None;
        }
        self.pixels.get(start..start.checked_add(n)?)
    }

    /// Encodes the images as an (uncompressed) IDX file, the inverse of [`parse_images`].
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `pixels.len() ≠ count × rows × cols`; [`Error::Overflow`]
    /// when a size does not fit in the header's `u32`.
    pub fn to_idx_bytes(&self) -> Result<Vec<u8>> {
        let expected = self
            .count
            .checked_mul(self.rows)
            .and_then(|n| n.checked_mul(self.cols))
            .ok_or_else(|| Error::Overflow {
                what: "images count × rows × cols".into(),
            })?;
        if self.pixels.len() != expected {
            return Err(Error::shape("images pixels", expected, self.pixels.len()));
        }
        let mut out = header(3, &[self.count, self.rows, self.cols])?;
        out.extend_from_slice(&self.pixels);
        Ok(out)
    }
}

/// Class labels read from an IDX file (`idx1-ubyte`), each in 0–9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// One label per image, each in `0..10`.
    pub labels: Vec<u8>,
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// How many labels of each class 0–9 there are.
    pub fn histogram(&self) -> [usize; NUM_CLASSES] {
        let mut h = [0; NUM_CLASSES];
        for &l in &self.labels {
            if let Some(c) = h.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        h
    }

    /// Encodes the labels as an (uncompressed) IDX file, the inverse of [`parse_labels`].
    ///
    /// # Errors
    /// [`Error::Overflow`] when there are more than `u32::MAX` labels.
    pub fn to_idx_bytes(&self) -> Result<Vec<u8>> {
        let mut out = header(1, &[self.labels.len()])?;
        out.extend_from_slice(&self.labels);
        Ok(out)
    }
}

/// The four files of an MNIST-style data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Training images (`train-images-idx3-ubyte`).
    pub train_images: Images,
    /// Training labels (`train-labels-idx1-ubyte`).
    pub train_labels: Labels,
    /// Test images (`t10k-images-idx3-ubyte`).
    pub test_images: Images,
    /// Test labels (`t10k-labels-idx1-ubyte`).
    pub test_labels: Labels,
}

fn header(ndims: u8, sizes: &[usize]) -> Result<Vec<u8>> {
    let mut out = vec![0, 0, TYPE_U8, ndims];
    for &s in sizes {
        let s = u32::try_from(s).map_err(|_| Error::Overflow {
            what: format!("IDX size {s} does not fit in u32"),
        })?;
        out.extend_from_slice(&s.to_be_bytes());
    }
    Ok(out)
}

fn format_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: Some(path.to_path_buf()),
        reason: reason.into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown type",
    }
}

/// Returns the data itself, or its gzip decompression when it starts with the gzip magic.
fn maybe_gunzip<'a>(bytes: &'a [u8], path: &Path) -> Result<std::borrow::Cow<'a, [u8]>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let corrupt = |e: std::io::Error| format_err(path, format!("corrupt gzip data: {e}"));
    // The header first: it says how many bytes the payload must have, so a header announcing
    // more than the cap is refused before anything else is decompressed.
    let mut out = Vec::new();
    (&mut decoder).take(4).read_to_end(&mut out).map_err(corrupt)?;
    let dims = if out.len() == 4 { usize::from(out[3]) } else { 0 };
    (&mut decoder)
        .take(4 * dims as u64)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    let cap = match expected_len(&out) {
        Some(Ok(n)) => n as u64 + 1,
        Some(Err(reason)) => return Err(format_err(path, reason)),
        // A header too short or malformed: parse_header names the defect.
        None => 0,
    };
    decoder.take(cap).read_to_end(&mut out).map_err(corrupt)?;
    Ok(std::borrow::Cow::Owned(out))
}

/// The total length (header and payload) an IDX header of unsigned bytes announces:
/// `None` when `header` is not a complete `ubyte` header (left to [`parse_header`] to name),
/// an error when the payload exceeds [`MAX_DATA_BYTES`].
fn expected_len(header: &[u8]) -> Option<std::result::Result<usize, String>> {
    if header.len() < 4 || header[0] != 0 || header[1] != 0 || header[2] != 0x08 {
        return None;
    }
    let dims = usize::from(header[3]);
    if dims == 0 || header.len() < 4 + 4 * dims {
        return None;
    }
    let sizes: Vec<usize> = (0..dims)
        .map(|i| {
            let b = &header[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let payload = sizes.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    Some(match payload {
        Some(p) if p <= MAX_DATA_BYTES => Ok(4 + 4 * dims + p),
        _ => Err(format!(
            "absurd header: {} bytes of data announced, more than the cap of {MAX_DATA_BYTES}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" × ")
        )),
    })
}

/// Checks the magic and the sizes; returns the sizes and the data after the header.
fn parse_header<'a>(
    bytes: &'a [u8],
    path: &Path,
    what: &str,
    want_dims: u8,
    dim_names: &str,
) -> Result<(Vec<usize>, &'a [u8])> {
    let expected_magic = format!("00 00 08 {want_dims:02x}");
    let Some(magic) = bytes.get(..4) else {
        return Err(format_err(
            path,
            format!(
                "file too short for an IDX {what} file: {} bytes, need at least the 4-byte magic \
                 {expected_magic}",
                bytes.len()
            ),
        ));
    };
    if magic[0] != 0 || magic[1] != 0 {
        return Err(format_err(
            path,
            format!(
                "wrong magic: expected {expected_magic} (IDX {what}), found {}",
                hex(magic)
            ),
        ));
    }
    if magic[2] != TYPE_U8 {
        return Err(format_err(
            path,
            format!(
                "unsupported IDX data type 0x{:02x} ({}) in magic {}: only 0x08 (unsigned byte) is supported",
                magic[2],
                type_name(magic[2]),
                hex(magic)
            ),
        ));
    }
    if magic[3] != want_dims {
        return Err(format_err(
            path,
            format!(
                "wrong number of dimensions: {} in magic {}, expected {want_dims} ({dim_names}) for {what}",
                magic[3],
                hex(magic)
            ),
        ));
    }
    let n = usize::from(want_dims);
    let header_len = 4 + 4 * n;
    let Some(size_bytes) = bytes.get(4..header_len) else {
        return Err(format_err(
            path,
            format!(
                "truncated header: {} bytes, expected {header_len} (the magic and {n} big-endian u32 sizes)",
                bytes.len()
            ),
        ));
    };
    let sizes: Vec<usize> = size_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((sizes, &bytes[header_len..]))
}

fn check_len(path: &Path, data: &[u8], expected: usize, shape: &str) -> Result<()> {
    if data.len() == expected {
        return Ok(());
    }
    let kind = if data.len() < expected {
        "truncated file"
    } else {
        "trailing bytes"
    };
    Err(format_err(
        path,
        format!(
            "{kind}: data length does not match the header: expected {expected} bytes ({shape}), found {}",
            data.len()
        ),
    ))
}

/// Parses an IDX image file (`idx3-ubyte`, magic `00 00 08 03`), gzipped or not.
///
/// `path` only names the file in errors.
///
/// # Errors
/// [`Error::Format`] naming `path` and the defect: corrupt or oversized gzip data, wrong magic,
/// unsupported data type, not 3 dimensions, a zero count, rows or columns, a side over
/// [`MAX_SIDE`], more than [`MAX_DATA_BYTES`] of pixels, or a data length that does not match the
/// header.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Images> {
    let bytes = maybe_gunzip(bytes, path)?;
    let (sizes, data) = parse_header(&bytes, path, "images", 3, "count × rows × cols")?;
    let (count, rows, cols) = (sizes[0], sizes[1], sizes[2]);
    for (name, v) in [("image count", count), ("rows", rows), ("columns", cols)] {
        if v == 0 {
            return Err(format_err(path, format!("{name} is zero in the header")));
        }
    }
    for (name, v) in [("rows", rows), ("columns", cols)] {
        if v > MAX_SIDE {
            return Err(format_err(
                path,
                format!("absurd image size: {name} = {v} exceeds the maximum of {MAX_SIDE}"),
            ));
        }
    }
    let shape = format!("{count} × {rows} × {cols}");
    let total = count
        .checked_mul(rows * cols)
        .filter(|&t| t <= MAX_DATA_BYTES)
        .ok_or_else(|| {
            format_err(
                path,
                format!("absurd header: {shape} pixels exceed the cap of {MAX_DATA_BYTES} bytes"),
            )
        })?;
    check_len(path, data, total, &shape)?;
    Ok(Images {
        count,
        rows,
        cols,
        pixels: data.to_vec(),
    })
}

/// Parses an IDX label file (`idx1-ubyte`, magic `00 00 08 01`), gzipped or not.
///
/// `path` only names the file in errors.
///
/// # Errors
/// [`Error::Format`] naming `path` and the defect: corrupt or oversized gzip data, wrong magic,
/// unsupported data type, not 1 dimension, a zero count or one over [`MAX_DATA_BYTES`], a data
/// length that does not match the header, or a label outside 0–9 (naming its index and value).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Labels> {
    let bytes = maybe_gunzip(bytes, path)?;
    let (sizes, data) = parse_header(&bytes, path, "labels", 1, "count")?;
    let count = sizes[0];
    if count == 0 {
        return Err(format_err(path, "label count is zero in the header"));
    }
    if count > MAX_DATA_BYTES {
        return Err(format_err(
            path,
            format!("absurd header: {count} labels exceed the cap of {MAX_DATA_BYTES}"),
        ));
    }
    check_len(path, data, count, &format!("{count} labels"))?;
    if let Some((i, &v)) = data
        .iter()
        .enumerate()
        .find(|(_, &v)| usize::from(v) >= NUM_CLASSES)
    {
        return Err(format_err(
            path,
            format!("label at index {i} is {v}, outside 0–{}", NUM_CLASSES - 1),
        ));
    }
    Ok(Labels {
        labels: data.to_vec(),
    })
}

/// Reads a file, decompressing it when its name ends in `.gz` (which then must be gzip data) or
/// its data starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    // An uncompressed file's header is checked against the cap before the payload is read.
    let mut head = Vec::new();
    (&mut file).take(4).read_to_end(&mut head).map_err(io)?;
    let named_gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !head.starts_with(&GZIP_MAGIC) {
        return Err(format_err(
            path,
            format!(
                "name ends in .gz but the data does not start with the gzip magic 1f 8b (found {})",
                hex(head.get(..2).unwrap_or(&head))
            ),
        ));
    }
    if !head.starts_with(&GZIP_MAGIC) && head.len() == 4 {
        let dims = usize::from(head[3]);
        (&mut file)
            .take(4 * dims as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        // (A length that disagrees with the file is named by `parse_header`/`check_len` once the
        // file, no larger than it is, has been read.)
        if let Some(Err(reason)) = expected_len(&head) {
            return Err(format_err(path, reason));
        }
    }
    let mut bytes = head;
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Reads an IDX image file (gzipped or not); see [`parse_images`].
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read; otherwise as [`parse_images`], and a
/// `.gz` name on data that is not gzip.
pub fn read_images(path: &Path) -> Result<Images> {
    parse_images(&read_maybe_gz(path)?, path)
}

/// Reads an IDX label file (gzipped or not); see [`parse_labels`].
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read; otherwise as [`parse_labels`], and a
/// `.gz` name on data that is not gzip.
pub fn read_labels(path: &Path) -> Result<Labels> {
    parse_labels(&read_maybe_gz(path)?, path)
}

/// Finds `stem` in `dir`: as is, gzipped, or with a `.` before `idx` (as some mirrors name them).
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let candidates = [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ];
    for c in &candidates {
        let p = dir.join(c);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format_err(
        &dir.join(stem),
        format!(
            "missing file: neither {stem} nor {stem}.gz is in {}; install Fashion-MNIST with \
             `apt-get install dataset-fashion-mnist` (it goes to {FASHION_MNIST_DIR}) or name a \
             directory holding MNIST",
            dir.display()
        ),
    ))
}

/// The four files [`load_dir`] reads from `dir`, those that are there (for the checksums a run
/// records).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    .iter()
    .filter_map(|s| find_file(dir, s).ok())
    .collect()
}

/// Loads the four MNIST-style files from `dir`: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// optionally gzipped (`.gz`); the uncompressed file is preferred when both exist.
///
/// # Errors
/// [`Error::Format`] naming a missing file (and how to get the data), any defect of a file (see
/// [`parse_images`], [`parse_labels`]), image and label counts that disagree, or train and test
/// images of different sizes; [`Error::Io`] when a file cannot be read.
pub fn load_dir(dir: &Path) -> Result<Dataset> {
    let paths = [
        find_file(dir, "train-images-idx3-ubyte")?,
        find_file(dir, "train-labels-idx1-ubyte")?,
        find_file(dir, "t10k-images-idx3-ubyte")?,
        find_file(dir, "t10k-labels-idx1-ubyte")?,
    ];
    let train_images = read_images(&paths[0])?;
    let train_labels = read_labels(&paths[1])?;
    let test_images = read_images(&paths[2])?;
    let test_labels = read_labels(&paths[3])?;
    for (imgs, labs, ip, lp) in [
        (&train_images, &train_labels, &paths[0], &paths[1]),
        (&test_images, &test_labels, &paths[2], &paths[3]),
    ] {
        if imgs.count != labs.len() {
            return Err(format_err(
                lp,
                format!(
                    "{} labels but {} has {} images",
                    labs.len(),
                    ip.display(),
                    imgs.count
                ),
            ));
        }
    }
    if (train_images.rows, train_images.cols) != (test_images.rows, test_images.cols) {
        return Err(format_err(
            &paths[2],
            format!(
                "test images are {}×{} but the training images in {} are {}×{}",
                test_images.rows,
                test_images.cols,
                paths[0].display(),
                train_images.rows,
                train_images.cols
            ),
        ));
    }
    Ok(Dataset {
        train_images,
        train_labels,
        test_images,
        test_labels,
    })
}

/// Image `index` as `rows × cols` floats scaled to [0, 1] (pixel / 255).
///
/// # Panics
/// When `index ≥ images.count` (a caller's bug, like slice indexing; use [`Images::image`] to
/// check first).
pub fn to_f32(images: &Images, index: usize) -> Vec<f32> {
    let Some(px) = images.image(index) else {
        panic!("image index {index} out of range (count {})", images.count);
    };
    px.iter().map(|&p| f32::from(p) / 255.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_announcing_too_much_is_refused_before_the_payload_is_read() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("pimtl-idx-hdr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 2^31 images of 28 × 28, then only a few bytes of payload.
        let mut header = vec![0u8, 0, 8, 3];
        for n in [1u32 << 31, 28, 28] {
            header.extend_from_slice(&n.to_be_bytes());
        }
        let mut raw = header.clone();
        raw.extend_from_slice(&[0u8; 100]);
        let p = dir.join("big-idx3-ubyte");
        std::fs::write(&p, &raw).unwrap();
        let e = read_images(&p).unwrap_err().to_string();
        assert!(e.contains("absurd header") && e.contains("big-idx3-ubyte"), "{e}");
        // The same header gzipped, followed by a long run of zeros that would decompress to
        // gigabytes: refused after the 16-byte header.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&header).unwrap();
        gz.write_all(&vec![0u8; 1 << 22]).unwrap();
        let gzp = dir.join("big-idx3-ubyte.gz");
        std::fs::write(&gzp, gz.finish().unwrap()).unwrap();
        let e = read_images(&gzp).unwrap_err().to_string();
        assert!(e.contains("absurd header"), "{e}");
        // A plausible header with a short payload names both lengths (read: the file is small).
        let mut short = vec![0u8, 0, 8, 3];
        for n in [10u32, 4, 4] {
            short.extend_from_slice(&n.to_be_bytes());
        }
        short.extend_from_slice(&[0u8; 100]);
        std::fs::write(&p, &short).unwrap();
        let e = read_images(&p).unwrap_err().to_string();
        assert!(
            e.contains("truncated") && e.contains("expected 160") && e.contains("found 100"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
