//! The instruction sets the policy's kernels can run on, detected at run time.
//!
//! Every path computes **the same bits** for `f32` and `f64`: the lane kernels of
//! `policy::elman` fix the width of their logical vectors (16 `f32` or 8 `f64` lanes,
//! whatever the register width) and the order of every sum, and use fused multiply-adds on every
//! path (a library `fma` call where the CPU has none). What differs is only speed. The choice is
//! therefore a performance knob, never a reproducibility one; tests force each available path and
//! compare bits (`tests/kernels.rs`).
//!
//! The process-wide default is the best path the CPU supports, or the one named by the
//! environment variable `PIMTL_ISA` (`portable`, `avx2`, `avx512`); a workspace can force its own
//! with [`Workspace::set_isa`](super::Workspace::set_isa).

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// An instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust on arrays of lanes, `mul_add` for every multiply-add. On aarch64 the compiler
    /// turns it into NEON `fmla` (every aarch64 CPU has NEON and FMA); on an x86-64 CPU without
    /// FMA each multiply-add is a correctly rounded library call, slow but bit-identical.
    Portable,
    /// x86-64 AVX2 + FMA: a logical vector is two 256-bit registers.
    Avx2,
    /// x86-64 AVX-512F: a logical vector is one 512-bit register.
    Avx512,
}

impl Isa {
    /// Every path, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `PIMTL_ISA` and [`FromStr`] use.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every path this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The names of the available paths, comma-separated.
    fn available_names() -> String {
        Isa::available()
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The fastest path this CPU can run.
    pub fn best() -> Isa {
        Isa::available().pop().unwrap_or(Isa::Portable)
    }

    /// The path named by `PIMTL_ISA`, if set: `Ok(None)` when unset, an error when it names no
    /// path or one this CPU cannot run.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error) naming the variable and its value.
    pub fn from_env() -> Result<Option<Isa>> {
        match std::env::var("PIMTL_ISA") {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::param("PIMTL_ISA", "not UTF-8", "portable, avx2 or avx512"))
            }
            Ok(v) => {
                let isa: Isa = v.parse().map_err(|_| {
                    Error::param(
                        "PIMTL_ISA",
                        &v,
                        "not an instruction set: use portable, avx2 or avx512",
                    )
                })?;
                if !isa.is_available() {
                    return Err(Error::param(
                        "PIMTL_ISA",
                        &v,
                        format!("this CPU cannot run it; it can run {}", Isa::available_names()),
                    ));
                }
                Ok(Some(isa))
            }
        }
    }

    /// The process-wide default: `PIMTL_ISA` when set and valid, else [`best`](Self::best).
    ///
    /// Read once. An invalid `PIMTL_ISA` is reported on standard error once and ignored (the
    /// command-line tool refuses it at start-up instead, through [`from_env`](Self::from_env)).
    pub fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| match Isa::from_env() {
            Ok(Some(isa)) => isa,
            Ok(None) => Isa::best(),
            Err(e) => {
                eprintln!("warning: {e}; using {}", Isa::best());
                Isa::best()
            }
        })
    }

    /// `Ok` when this CPU can run the path.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error) naming the path and the CPU features it needs.
    pub fn check(self) -> Result<()> {
        if self.is_available() {
            Ok(())
        } else {
            let needs = match self {
                Isa::Portable => "nothing",
                Isa::Avx2 => "an x86-64 CPU with AVX2 and FMA",
                Isa::Avx512 => "an x86-64 CPU with AVX-512F, AVX2 and FMA",
            };
            Err(Error::param(
                "instruction set",
                self.name(),
                format!(
                    "needs {needs}; this CPU has {}",
                    Isa::available()
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = Error;
    fn from_str(s: &str) -> Result<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::param("instruction set", s, "one of portable, avx2, avx512"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().ok(), Some(isa));
            assert_eq!(isa.to_string().to_uppercase().parse::<Isa>().ok(), Some(isa));
        }
        let e = "sse2".parse::<Isa>().expect_err("unknown");
        assert!(e.to_string().contains("sse2"), "{e}");
    }

    #[test]
    fn portable_is_always_available_and_best_is_available() {
        assert!(Isa::Portable.is_available());
        assert!(Isa::best().is_available());
        assert_eq!(Isa::available()[0], Isa::Portable);
        for isa in Isa::ALL {
            assert_eq!(isa.check().is_ok(), isa.is_available());
        }
    }
}
