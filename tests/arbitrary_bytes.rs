//! The stable-toolchain twin of the cargo-fuzz targets in `fuzz/`: arbitrary bytes (and
//! arbitrary mutations of a valid file) go to the same entry points, which must return a value or
//! an error and never panic.

use pimtl::policy::{Cell, EncoderConfig, EquivariantPolicy, PolicyConfig};
use proptest::prelude::*;

fn valid_bytes() -> Vec<u8> {
    let cfg = PolicyConfig {
        encoder: EncoderConfig::Recurrent {
            cell: Cell::Gru,
            features: 2,
            hidden: 2,
        },
        previous_allocation: true,
        pooled_context: true,
        score_hidden: 2,
        output_init_scale: 1.0,
    };
    EquivariantPolicy::<f64>::new(cfg, 0).unwrap().to_json_bytes()
}

fn check(bytes: &[u8]) {
    if let Ok(p) = EquivariantPolicy::<f64>::from_json_bytes(bytes) {
        assert_eq!(p.num_params(), p.layout().total);
        assert!(p.params().iter().all(|v| v.is_finite()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn policy_loader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn policy_loader_never_panics_on_mutated_files(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut b = valid_bytes();
        let i = pos.index(b.len());
        b[i] = byte;
        check(&b);
        let c = cut.index(b.len());
        check(&b[..c]);
    }
}

/// Regression inputs: huge dimensions must be an error, not an allocation failure or overflow.
#[test]
fn huge_dimensions_are_errors() {
    for (f, h) in [
        ("18446744073709551615", "2"),
        ("2", "4294967296"),
        ("3037000500", "3037000500"),
    ] {
        let text = format!(
            r#"{{"format":"pimtl-policy","version":1,"config":{{"encoder":{{"Recurrent":{{"cell":"Elman","features":{f},"hidden":{h}}}}},"previous_allocation":false,"pooled_context":false,"score_hidden":0,"output_init_scale":1.0}},"params":[]}}"#
        );
        assert!(EquivariantPolicy::<f64>::from_json_bytes(text.as_bytes()).is_err());
    }
}
