//! Classic online-portfolio-selection baselines.
//!
//! The simulator they run in (data and timing conventions, wealth, the [`Fee`] models, the
//! [`OnlineStrategy`] interface and [`simulate`]) lives in [`crate::portfolio`]; it is re-exported
//! here under the names the strategies and their callers use.
//!
//! # Strategies
//! * [`EqualCrp`], [`Crp`], [`Bcrp`]: constant rebalanced portfolios (Cover 1991, "Universal
//!   portfolios", Math. Finance 1(1)); [`Bcrp`] is the best one in hindsight on a range of days.
//! * [`BuyAndHold`]: uniform buy-and-hold (the market index of equal initial weights).
//! * [`BestAsset`]: the single asset with the largest wealth in hindsight.
//! * [`Olmar`]: On-Line Moving Average Reversion, OLMAR-1 (Li & Hoi 2012, ICML).
//! * [`Pamr`]: Passive-Aggressive Mean Reversion (Li, Zhao, Hoi & Gopalkrishnan 2012, Machine
//!   Learning 87(2)).
//!
//! [`project_to_simplex`] is the Euclidean projection of Duchi, Shalev-Shwartz, Singer & Chandra
//! (2008) used by OLMAR and PAMR.

pub mod crp;
pub mod cwmr;
pub mod momentum;
pub mod olmar;
pub mod pamr;
pub mod rmr;
pub mod rprt;
pub mod tco1;
pub mod tco2;
pub mod wmamr;

pub mod registry;

pub use crp::{Bcrp, BestAsset, BuyAndHold, Crp, EqualCrp};
pub use cwmr::Cwmr;
pub use momentum::Momentum;
pub use olmar::{Olmar, OlmarWarmup};
pub use pamr::Pamr;
pub use rmr::Rmr;
pub use rprt::Rprt;
pub use tco1::Tco1;
pub use tco2::Tco2;
pub use wmamr::Wmamr;

pub use crate::portfolio::cost::{
    linear_remainder, transaction_remainder, transaction_remainder_per_side, REMAINDER_MAX_ITERATIONS,
    REMAINDER_TOLERANCE,
};
/// The former name of [`simulate`], kept for strategy files and callers written against it.
pub use crate::portfolio::simulate as backtest;
pub use crate::portfolio::{
    check_relatives, simulate, Account, Backtest, Fee, OnlineStrategy, PriceWindow, TradingDay, Window,
};
// The argument checks of the strategy files (`use super::{check_assets, check_day, …}`);
// `check_rows` is for strategies fitted on a range of days.
#[allow(unused_imports)]
pub(crate) use crate::portfolio::{check_assets, check_day, check_out, check_rows};

use crate::error::{Error, Result};

/// Euclidean projection of `v` onto the probability simplex (Duchi, Shalev-Shwartz, Singer &
/// Chandra 2008, "Efficient projections onto the l1-ball", Fig. 1), written into `out`.
///
/// ```text
/// u = v sorted in decreasing order
/// ρ = max { j : u_j − (Σ_{r ≤ j} u_r − 1) / j > 0 }
/// θ = (Σ_{r ≤ ρ} u_r − 1) / ρ
/// out_i = max(v_i − θ, 0)
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out.len() != v.len()`, [`Error::InvalidAllocation`] for an empty
/// `v`, [`Error::NonFinite`] for NaN or infinite entries.
pub fn project_to_simplex(v: &[f64], out: &mut [f64]) -> Result<()> {
    if out.len() != v.len() {
        return Err(Error::shape("projection output", v.len(), out.len()));
    }
    if v.is_empty() {
        return Err(Error::InvalidAllocation {
            reason: "cannot project an empty vector onto the simplex".to_string(),
        });
    }
    crate::error::check_finite("vector to project", v)?;
    let mut u = v.to_vec();
    u.sort_unstable_by(|a, b| b.total_cmp(a));
    let mut cumsum = 0.0;
    let mut theta = 0.0;
    for (j, &uj) in u.iter().enumerate() {
        cumsum += uj;
        let t = (cumsum - 1.0) / (j + 1) as f64;
        if uj - t > 0.0 {
            theta = t;
        } else {
            break;
        }
    }
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (x - theta).max(0.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_examples() {
        let mut out = [0.0; 3];
        project_to_simplex(&[0.2, 0.3, 0.5], &mut out).unwrap();
        assert!(out
            .iter()
            .zip([0.2, 0.3, 0.5])
            .all(|(a, b)| (a - b).abs() < 1e-15));
        project_to_simplex(&[5.0, 0.0, 0.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 0.0, 0.0]);
        project_to_simplex(&[1.0, 1.0, -3.0], &mut out).unwrap();
        assert_eq!(out, [0.5, 0.5, 0.0]);
        assert!(project_to_simplex(&[], &mut []).is_err());
        assert!(project_to_simplex(&[f64::NAN, 1.0, 0.0], &mut out).is_err());
    }
}

pub mod eg;
pub mod ons;
pub mod up;

pub use eg::{Eg, EgParams};
pub use ons::{Ons, OnsParams};
pub use up::{Mt19937, Up, UpParams};
pub mod anticor;
pub use anticor::{Anticor, AnticorParams};
pub mod corn;
pub use corn::{Corn, CornParams};
