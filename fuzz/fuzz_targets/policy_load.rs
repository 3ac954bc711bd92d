//! Feeds arbitrary bytes to the policy loader: it must return a policy or an error, never panic,
//! and any policy it returns must have finite parameters of the right count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimtl::policy::EquivariantPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = EquivariantPolicy::<f64>::from_json_bytes(data) {
        assert_eq!(p.num_params(), p.layout().total);
        assert!(p.params().iter().all(|v| v.is_finite()));
    }
});
