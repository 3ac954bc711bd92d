//! Feeds arbitrary bytes to the price-data readers (`pimtl::data::prices`): each must return price
//! data or an error, never panic, and any data it returns must satisfy every documented invariant
//! (finite positive relatives, one date and one line per day, high/close ≥ 1, low/close ≤ 1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimtl::data::prices::{parse_auto, parse_close, parse_price_path, parse_relatives, CsvBytes, PriceData};
use std::path::Path;

fn check(r: pimtl::Result<PriceData>) {
    if let Ok(d) = r {
        assert!(d.validate().is_ok());
        assert_eq!(d.lines.len(), d.days());
    }
}

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.csv");
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => check(parse_price_path(bytes, p)),
        1 => check(parse_relatives(bytes, p)),
        2 => check(parse_auto(bytes, p)),
        3 => check(parse_close(CsvBytes { bytes, path: p }, None, None, None)),
        _ => {
            // Close, high and low files, split at the first two NUL bytes.
            let mut parts = bytes.splitn(3, |&b| b == 0);
            let close = parts.next().unwrap_or_default();
            let high = parts.next().map(|b| CsvBytes {
                bytes: b,
                path: Path::new("high.csv"),
            });
            let low = parts.next().map(|b| CsvBytes {
                bytes: b,
                path: Path::new("low.csv"),
            });
            check(parse_close(
                CsvBytes {
                    bytes: close,
                    path: p,
                },
                high,
                low,
                None,
            ));
        }
    }
});
