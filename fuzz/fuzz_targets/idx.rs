//! Feeds arbitrary bytes to the IDX readers (`pimtl::data::idx`, §A.2 data): each must return
//! images or labels or an error, never panic, and any data it returns must satisfy the documented
//! invariants (non-zero sizes, `count × rows × cols` pixels, labels in 0–9). Inputs starting with
//! the gzip magic go through the capped decompression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimtl::data::idx::{parse_images, parse_labels};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.idx");
    if let Ok(i) = parse_images(data, p) {
        assert!(i.count > 0 && i.rows > 0 && i.cols > 0);
        assert_eq!(i.pixels.len(), i.count * i.rows * i.cols);
        assert_eq!(i.to_idx_bytes().ok().and_then(|b| parse_images(&b, p).ok()), Some(i));
    }
    if let Ok(l) = parse_labels(data, p) {
        assert!(!l.is_empty());
        assert!(l.labels.iter().all(|&v| v < 10));
        assert_eq!(l.to_idx_bytes().ok().and_then(|b| parse_labels(&b, p).ok()), Some(l));
    }
});
