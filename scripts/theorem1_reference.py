#!/usr/bin/env python3
"""Independent reference values for pimtl::theory::bound (issue #13, "pin every constant").

Regenerate (from the repository root; Python 3 standard library only):

    python3 scripts/theorem1_reference.py            # writes tests/data/theorem1_reference.json
    python3 scripts/theorem1_reference.py --check    # recomputes and fails if the file differs
    python3 scripts/theorem1_reference.py --stdout   # prints the JSON instead of writing it

The formulas are written from the papers, not from the Rust code:

* Theorem 1 in the appendix of the paper (papers: permutation-invariant-mtl.md, "A APPENDIX"):

      ||V_t^* - V_t^{pi_K}||_sigma <= 2/(1-g)^2 { (1+g) sqrt(C C'') [ 2/sqrt(1-g^2) (2 sqrt2 E_0 + E_2)
             + 2/(1-g) ( g V_max L sqrt(d/nu) ( sqrt(8 log(8dK/delta)/N) + 1/N ) + E_1 ) ]
             + g^((K-1)/2) R_max + 3 eps sqrt(2 C') }

* Lazaric, Ghavamzadeh & Munos (2012), Theorem 8 (no eps, prefactor 4g/(1-g)^2, E_1 outside the
  2/(1-g) factor, their C_{sigma,mu} is C'').
* Corollary 1: Theorem 1 with N replaced by the pooled N*T (evaluated here by the same Theorem 1
  formula at N*T; there is no corollary helper in this script).
* Lazaric et al. (2012) Theorem 5 / Lemma 4 / Eq. 13-14 as the doc comments of bound.rs state
  them, with delta' = delta/K:
      Lambda(n, d, delta') = 2(d+1) ln n + ln(e/delta') + log+ max{18 (6e)^(2(d+1)), beta_bar}
      f(x)   = max{x/b, 1}^(1/kappa)                       (f = 1 for i.i.d. samples, b = inf)
      E_1    = 24 V_max sqrt(2 Lambda_1/n) f(Lambda_1),      Lambda_1 = Lambda(n, d, delta'/4)
      E_2    = 12 (V_max + L ||alpha*||) sqrt(2 Lambda_2/n) f(Lambda_2),
               Lambda_2 = ln(4e/delta') + ln max{6, n beta_bar},  ||alpha*|| = sqrt(C/omega) R_max/(1-g)
      sqrt(nu) = sqrt(omega)/2 - 6 L sqrt(2 Lambda/n) f(Lambda),  Lambda = Lambda(n, d, delta')
      Lemma 4 (Eq. 13): the smallest integer n with n > 288 L^2 Lambda(n, d, delta')/omega f(Lambda)
  The smallest n is found by fixed-point iteration x <- h(x) from x = 1 (h is increasing and
  concave, so the iterates climb monotonically to the smallest root of x = h(x)), then checked
  at the two integers around the root; the Rust code bisects instead.
* Assumption 1's series truncated at M, from c(0..=M) and the tail constant cbar >= c(m), m > M:
      C'  = (1-g) sum_{m=0}^{M} g^m c(m),        tail <= cbar (1 - (1-g) sum_{m=0}^{M} g^m)
      C'' = (1-g)^2 sum_{m=1}^{M} m g^(m-1) c(m), tail <= cbar (1 - (1-g)^2 sum_{m=1}^{M} m g^(m-1))
  (the full weights sum to one), computed in exact rational arithmetic.

Everything else is evaluated with 50-digit decimal arithmetic from the exact binary value of
each f64 input, then rounded once to the nearest f64, so the only error left in a comparison is
the Rust code's own f64 rounding. JSON has no infinity: an infinite value is written as null
(inputs b, C, C', C''; outputs that are +inf), and nu_mu is null when it does not exist.
"""

import json
import os
import sys
from decimal import Decimal, getcontext
from fractions import Fraction

getcontext().prec = 50

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "theorem1_reference.json")

INF = float("inf")
E = Decimal(1).exp()


def D(x):
    """Exact decimal value of a float (or int)."""
    if isinstance(x, float) and x == INF:
        return Decimal("Infinity")
    return Decimal(x)


def dsqrt(x):
    return x.sqrt()


def dpow(x, y):
    """x^y for x > 0 (x^0 = 1)."""
    if y == 0:
        return Decimal(1)
    return (y * x.ln()).exp()


def product(*factors):
    """Product with the measure-theoretic convention that a zero factor kills an infinite one."""
    if any(f == 0 for f in factors):
        return Decimal(0)
    out = Decimal(1)
    for f in factors:
        out *= f
    return out


def out(x):
    """Decimal -> f64 for JSON (null for +inf)."""
    if x.is_infinite():
        assert x > 0
        return None
    return float(x)


# ---------------------------------------------------------------------------------------------
# Theorem 1 (appendix) and Lazaric et al. Theorem 8.


def bound_pieces(p):
    """The pieces of both statements that are common: V_max, the concentrability factor
    (1+g) sqrt(C C''), the three pieces inside the square bracket and the iteration piece."""
    g = D(p["gamma"])
    one = Decimal(1)
    v_max = D(p["r_max"]) / (one - g)
    cc = product(D(p["c"]), D(p["c_second"]))
    conc = product(one + g, cc.sqrt() if not cc.is_infinite() else cc)
    n = D(p["n"])
    d, k = D(p["d"]), D(p["k"])
    log_term = (Decimal(8) * d * k / D(p["delta"])).ln()
    rate = dsqrt(Decimal(8) * log_term / n) + one / n
    return {
        "g": g,
        "v_max": v_max,
        "conc": conc,
        # 2/sqrt(1-g^2) (2 sqrt2 E_0 + E_2)
        "approx": Decimal(2) / dsqrt(one - g * g) * (Decimal(2) * dsqrt(Decimal(2)) * D(p["e0"]) + D(p["e2"])),
        # g V_max L sqrt(d/nu) (sqrt(8 log(8dK/delta)/N) + 1/N)
        "sample": g * v_max * D(p["l"]) * dsqrt(d / D(p["nu_mu"])) * rate,
        "iter": dpow(g, (k - one) / Decimal(2)) * D(p["r_max"]),
    }


def failures(p, total, trivial, c_prime_counts=True):
    f = []
    coefs = [p["c"], p["c_second"]] + ([p["c_prime"]] if c_prime_counts else [])
    if any(v == INF for v in coefs):
        f.append("infinite-concentrability")
    if p["n"] < p["lemma4_min_n"]:
        f.append("lemma4")
    if total.is_nan() or total >= trivial:
        f.append("vacuous")
    return f


def terms_record(prefactor, approximation, estimation_sample, estimation_e1, iteration, transfer, trivial, fails):
    estimation = estimation_sample + estimation_e1
    total = approximation + estimation + iteration + transfer
    return {
        "prefactor": out(prefactor),
        "approximation": out(approximation),
        "estimation_sample": out(estimation_sample),
        "estimation_e1": out(estimation_e1),
        "estimation": out(estimation),
        "iteration": out(iteration),
        "transfer": out(transfer),
        "total": out(total),
        "trivial": out(trivial),
        "failures": fails,
    }


def theorem1_ref(p):
    s = bound_pieces(p)
    g, one = s["g"], Decimal(1)
    pre = Decimal(2) / (one - g) ** 2
    two_over = Decimal(2) / (one - g)
    approximation = product(pre, s["conc"], s["approx"])
    estimation_sample = product(pre, s["conc"], two_over, s["sample"])
    estimation_e1 = product(pre, s["conc"], two_over, D(p["e1"]))
    iteration = pre * s["iter"]
    c_prime = D(p["c_prime"])
    transfer = product(pre, Decimal(3), D(p["epsilon"]), (Decimal(2) * c_prime).sqrt() if not c_prime.is_infinite() else c_prime)
    trivial = Decimal(2) * s["v_max"]
    # The appendix statement in one nested expression, as printed, must equal the sum of terms.
    if not s["conc"].is_infinite() and not c_prime.is_infinite():
        nested = pre * (
            s["conc"] * (s["approx"] + two_over * (s["sample"] + D(p["e1"])))
            + s["iter"]
            + Decimal(3) * D(p["epsilon"]) * (Decimal(2) * c_prime).sqrt()
        )
        total = approximation + estimation_sample + estimation_e1 + iteration + transfer
        assert abs(nested - total) <= Decimal("1e-40") * total, (nested, total)
    total = approximation + estimation_sample + estimation_e1 + iteration + transfer
    return terms_record(
        pre, approximation, estimation_sample, estimation_e1, iteration, transfer, trivial,
        failures(p, total, trivial),
    )


def lazaric8_ref(p):
    s = bound_pieces(p)
    g, one = s["g"], Decimal(1)
    pre = Decimal(4) * g / (one - g) ** 2
    two_over = Decimal(2) / (one - g)
    approximation = product(pre, s["conc"], s["approx"])
    estimation_sample = product(pre, s["conc"], two_over, s["sample"])
    estimation_e1 = product(pre, s["conc"], D(p["e1"]))
    iteration = pre * s["iter"]
    trivial = Decimal(2) * s["v_max"]
    if not s["conc"].is_infinite():
        nested = pre * (s["conc"] * (s["approx"] + two_over * s["sample"] + D(p["e1"])) + s["iter"])
        total = approximation + estimation_sample + estimation_e1 + iteration
        assert abs(nested - total) <= Decimal("1e-40") * total
    total = approximation + estimation_sample + estimation_e1 + iteration
    return terms_record(
        pre, approximation, estimation_sample, estimation_e1, iteration, Decimal(0), trivial,
        failures(p, total, trivial, c_prime_counts=False),
    )


def corollary1_ref(p, tasks):
    pooled = dict(p)
    pooled["n"] = p["n"] * tasks
    assert pooled["n"] == float(D(p["n"]) * D(tasks)), "N*T must be exact in f64"
    rec = theorem1_ref(pooled)
    rec["tasks"] = tasks
    return rec


# ---------------------------------------------------------------------------------------------
# Lazaric et al. (2012) sample terms.


def mixing_factor(x, mix):
    if mix["b"] == INF:
        return Decimal(1)
    ratio = x / D(mix["b"])
    return dpow(max(ratio, Decimal(1)), Decimal(1) / D(mix["kappa"]))


def big_lambda(n, d, delta_p, mix):
    """Lambda(n, d, delta') with log+(x) = max(ln x, 0)."""
    x = Decimal(18) * (Decimal(6) * E) ** (2 * (d + 1))
    x = max(x, D(mix["beta_bar"]))
    log_plus = max(x.ln(), Decimal(0))
    return Decimal(2 * (d + 1)) * n.ln() + (E / delta_p).ln() + log_plus


def lemma4_h(n, q):
    """Right-hand side of Eq. 13: 288 L^2 Lambda(n, d, delta')/omega f(Lambda)."""
    lam = big_lambda(n, q["d"], D(q["delta"]) / D(q["k"]), q["mixing"])
    return Decimal(288) * D(q["l"]) ** 2 * lam / D(q["omega"]) * mixing_factor(lam, q["mixing"])


def lemma4_smallest_n(q):
    h = lambda x: lemma4_h(x, q)
    if Decimal(1) > h(Decimal(1)):
        return 1
    x = Decimal(1)
    for _ in range(10_000):
        nxt = h(x)
        assert nxt >= x  # monotone climb to the smallest fixed point
        if nxt - x < Decimal("1e-30") * nxt:
            break
        x = nxt
    else:
        raise AssertionError("fixed-point iteration did not converge")
    n = int(x) + 1  # the smallest integer strictly above the root
    slack = lambda m: Decimal(m) - h(Decimal(m))
    # The root is not an integer and both neighbours are decided far beyond f64 rounding.
    assert slack(n) > Decimal("1e-6") and slack(n - 1) < Decimal("-1e-6"), (x, slack(n), slack(n - 1))
    # Spot-check that nothing below n - 1 satisfies the inequality (log-spaced points).
    m = 1
    while m < n - 1:
        assert slack(m) <= 0, m
        m = m * 3 // 2 + 1
    return n


def sample_terms_ref(q):
    n = D(q["n"])
    d, mix = q["d"], q["mixing"]
    g = D(q["gamma"])
    one = Decimal(1)
    delta_p = D(q["delta"]) / D(q["k"])
    v_max = D(q["r_max"]) / (one - g)
    lam = big_lambda(n, d, delta_p, mix)
    lam1 = big_lambda(n, d, delta_p / 4, mix)
    e1 = Decimal(24) * v_max * dsqrt(2 * lam1 / n) * mixing_factor(lam1, mix)
    lam2 = (Decimal(4) * E / delta_p).ln() + max(Decimal(6), n * D(mix["beta_bar"])).ln()
    alpha_star = dsqrt(D(q["c"]) / D(q["omega"])) * D(q["r_max"]) / (one - g)
    e2 = Decimal(12) * (v_max + D(q["l"]) * alpha_star) * dsqrt(2 * lam2 / n) * mixing_factor(lam2, mix)
    sqrt_nu = dsqrt(D(q["omega"])) / 2 - Decimal(6) * D(q["l"]) * dsqrt(2 * lam / n) * mixing_factor(lam, mix)
    if sqrt_nu > 0:
        # Cancellation in sqrt(omega)/2 - (...) amplifies f64 rounding by this factor; keep it small
        # so that the tests' relative tolerance stays meaningful.
        assert dsqrt(D(q["omega"])) / 2 / sqrt_nu < 10, q
        nu = sqrt_nu * sqrt_nu
    else:
        nu = None
    slack = n - lemma4_h(n, q)
    assert abs(slack) > Decimal("1e-6")
    return {
        "lambda": out(lam),
        "e1": out(e1),
        "e2": out(e2),
        "nu_mu": None if nu is None else out(nu),
        "lemma4_min_n": float(lemma4_smallest_n(q)),
        "lemma4_met": bool(slack > 0),
    }


# ---------------------------------------------------------------------------------------------
# Concentrability series.


def series_ref(c, tail_c, gamma):
    g = Fraction(gamma)
    cs = [Fraction(v) for v in c]
    cbar = Fraction(tail_c)
    big_m = len(c) - 1
    w1 = [(1 - g) * g**m for m in range(big_m + 1)]
    w2 = [(1 - g) ** 2 * m * g ** (m - 1) if m >= 1 else Fraction(0) for m in range(big_m + 1)]
    c_prime = sum(w * v for w, v in zip(w1, cs))
    c_second = sum(w * v for w, v in zip(w2, cs))
    tail1 = cbar * (1 - sum(w1))
    tail2 = cbar * (1 - sum(w2))
    return {
        "c_prime": {"value": float(c_prime), "tail_bound": float(tail1)},
        "c_second": {"value": float(c_second), "tail_bound": float(tail2)},
    }


# ---------------------------------------------------------------------------------------------
# Cases.

IID = {"beta_bar": 0.0, "b": INF, "kappa": 1.0}

BOUND_CASES = [
    # gamma = 0.3, large N, small errors: an applicable bound.
    ("gamma0.3_applicable", dict(gamma=0.3, r_max=1.7, c=1.37, c_prime=1.21, c_second=1.93, nu_mu=0.0841,
                                 l=0.93, d=3, k=17, delta=0.037, n=2.5e6, lemma4_min_n=0.0, e0=0.0013,
                                 e1=0.0021, e2=0.0017, epsilon=0.0029), [1, 3, 40, 1000]),
    ("gamma0.8_vacuous", dict(gamma=0.8, r_max=2.35, c=3.17, c_prime=2.41, c_second=5.63, nu_mu=0.0137,
                              l=1.21, d=7, k=23, delta=0.0713, n=48611.0, lemma4_min_n=0.0, e0=0.0457,
                              e1=0.0829, e2=0.1133, epsilon=0.0371), [1, 6, 250]),
    ("gamma0.95_vacuous", dict(gamma=0.95, r_max=0.83, c=1.91, c_prime=1.77, c_second=2.89, nu_mu=0.00271,
                               l=0.61, d=12, k=61, delta=0.0191, n=731_003.0, lemma4_min_n=0.0, e0=0.00731,
                               e1=0.00367, e2=0.00989, epsilon=0.00413), [1, 9, 120]),
    # K = 1 (gamma^0 = 1), a single feature.
    ("gamma0.6_k1_d1", dict(gamma=0.6, r_max=3.3, c=1.09, c_prime=1.04, c_second=1.13, nu_mu=0.377,
                            l=0.5, d=1, k=1, delta=0.29, n=17.0, lemma4_min_n=0.0, e0=0.211,
                            e1=0.0, e2=0.157, epsilon=0.0), [1, 2, 5]),
    # Lemma 4 fails for one task (N below its sample size) and holds once N*T reaches it.
    ("gamma0.5_lemma4_pooled", dict(gamma=0.5, r_max=1.0, c=1.23, c_prime=1.11, c_second=1.37, nu_mu=0.193,
                                    l=0.77, d=5, k=31, delta=0.0523, n=31_250.0, lemma4_min_n=247_913.0,
                                    e0=0.00017, e1=0.00023, e2=0.00031, epsilon=0.00011), [1, 4, 8, 64]),
    # C'' infinite: the zero E_0, E_1, E_2 kill it (0 * inf = 0) but the N part does not.
    ("gamma0.7_infinite_c_second", dict(gamma=0.7, r_max=1.9, c=2.2, c_prime=1.6, c_second=INF, nu_mu=0.05,
                                        l=1.0, d=2, k=9, delta=0.1, n=1000.0, lemma4_min_n=0.0, e0=0.0,
                                        e1=0.0, e2=0.0, epsilon=0.013), [1, 10]),
]

SAMPLE_CASES = [
    ("iid_met", dict(n=1e7, d=4, k=10, delta=0.05, l=1.0, omega=0.25, r_max=1.0, gamma=0.9, c=2.3, mixing=IID)),
    ("iid_not_met", dict(n=2000.0, d=21, k=10, delta=0.05, l=1.0, omega=0.01, r_max=1.0, gamma=0.9, c=2.0,
                         mixing=IID)),
    ("iid_gamma0.3", dict(n=3.7e8, d=9, k=7, delta=0.013, l=0.71, omega=0.0437, r_max=2.9, gamma=0.3, c=1.41,
                          mixing=IID)),
    ("iid_gamma0.95", dict(n=6.1e10, d=2, k=113, delta=0.17, l=1.3, omega=0.0093, r_max=0.41, gamma=0.95,
                           c=3.3, mixing=IID)),
    # beta-mixing with finite b and kappa; beta_bar below 18(6e)^(2(d+1)) so Lambda ignores it.
    ("beta_mixing_met", dict(n=4.3e9, d=3, k=12, delta=0.04, l=0.8, omega=0.31, r_max=1.3, gamma=0.8, c=1.7,
                             mixing={"beta_bar": 2.7, "b": 2.9, "kappa": 1.3})),
    # beta-mixing, beta_bar above 18(6e)^(2(d+1)) (so Lambda uses log beta_bar), and n*beta_bar > 6.
    ("beta_mixing_large_beta_bar", dict(n=7.9e11, d=1, k=5, delta=0.09, l=1.1, omega=0.47, r_max=0.7,
                                        gamma=0.6, c=1.2, mixing={"beta_bar": 4.1e6, "b": 0.37, "kappa": 0.8})),
    # beta-mixing where Eq. 13 holds but sqrt(nu) <= 0: the Lemma 4 threshold uses f, the nu formula
    # (factor outside the square root) needs f^2 (see the report of issue #13).
    ("beta_mixing_lemma4_met_nu_undefined", dict(n=2.0e7, d=3, k=12, delta=0.04, l=0.8, omega=0.31, r_max=1.3,
                                                 gamma=0.8, c=1.7,
                                                 mixing={"beta_bar": 2.7, "b": 2.9, "kappa": 1.3})),
]

SERIES_CASES = [
    ("decreasing_gamma0.8", [2.7, 1.9, 1.45, 1.3, 1.21, 1.17], 1.15, 0.8),
    ("constant_gamma0.3", [3.0] + [1.0] * 9, 1.0, 0.3),
    ("long_gamma0.95", [4.0 / (1.0 + 0.37 * m) + 1.0 for m in range(31)], 1.3, 0.95),
    ("single_gamma0.5", [1.7], 2.3, 0.5),
    ("with_zero_gamma0.9", [1.0, 0.0, 2.5, 1.25, 3.75], 4.5, 0.9),
]


def json_inputs(p):
    return {k: (None if (isinstance(v, float) and v == INF) else v) for k, v in p.items()}


def build():
    bound = []
    for name, p, tasks in BOUND_CASES:
        bound.append({
            "name": name,
            "inputs": json_inputs(p),
            "theorem1": theorem1_ref(p),
            "lazaric_theorem8": lazaric8_ref(p),
            "corollary1": [corollary1_ref(p, t) for t in tasks],
        })
    sample = []
    for name, q in SAMPLE_CASES:
        rec = dict(q)
        rec["mixing"] = json_inputs(q["mixing"])
        sample.append({"name": name, "inputs": rec, "expected": sample_terms_ref(q)})
    series = []
    for name, c, tail_c, gamma in SERIES_CASES:
        series.append({"name": name, "c": c, "tail_c": tail_c, "gamma": gamma, "expected": series_ref(c, tail_c, gamma)})
    return {
        "generator": "scripts/theorem1_reference.py",
        "regenerate": "python3 scripts/theorem1_reference.py",
        "bound_cases": bound,
        "sample_cases": sample,
        "series_cases": series,
    }


def main(argv):
    # json.dumps writes floats with repr (shortest round-trip form): full precision.
    text = json.dumps(build(), indent=1, allow_nan=False) + "\n"
    if "--stdout" in argv:
        sys.stdout.write(text)
    elif "--check" in argv:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{OUT} is stale: run python3 scripts/theorem1_reference.py")
        print(f"{OUT} is up to date")
    else:
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
