//! The JSON reader of finite-MDP families for `pimtl bound --mdp FILE` (the study of
//! Theorem 1 in [`crate::experiments::bound`] runs on them).

use crate::error::{Error, Result};
use crate::io::read_file;
use crate::theory::mdp::{FiniteMdp, TRANSITION_TOLERANCE};
use serde_json::Value;
use std::path::Path;

/// Largest `S·A` the study accepts (the tabular basis has `d = S·A` features).
pub const MAX_STATE_ACTIONS: usize = 1024;

/// Checks the sizes of a family's MDPs: `S ≥ 1`, `A ≥ 1`, `S·A ≤` [`MAX_STATE_ACTIONS`].
///
/// # Errors
/// [`Error::InvalidParameter`] naming `states` or `actions`.
pub(crate) fn check_sizes(states: usize, actions: usize) -> Result<()> {
    if states == 0 {
        return Err(Error::param("states", 0, "need at least one state"));
    }
    if actions == 0 {
        return Err(Error::param("actions", 0, "need at least one action"));
    }
    if states.saturating_mul(actions) > MAX_STATE_ACTIONS {
        return Err(Error::param(
            "states",
            format!("S·A = {}·{}", states, actions),
            format!("the study accepts S·A ≤ {MAX_STATE_ACTIONS}"),
        ));
    }
    Ok(())
}

fn format_err(path: Option<&Path>, reason: String) -> Error {
    Error::Format {
        path: path.map(Path::to_path_buf),
        reason,
    }
}

/// Flattens a flat or fully nested array of numbers with shape `dims` (row-major).
fn flatten(v: &Value, dims: &[usize], at: &str, out: &mut Vec<f64>) -> std::result::Result<(), String> {
    match (v, dims.split_first()) {
        (Value::Number(n), None) => {
            let x = n
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{at}: not a finite number"))?;
            out.push(x);
            Ok(())
        }
        (Value::Array(items), Some((&len, rest))) => {
            if items.len() != len {
                return Err(format!("{at} has {} entries, expected {len}", items.len()));
            }
            for (i, x) in items.iter().enumerate() {
                flatten(x, rest, &format!("{at}[{i}]"), out)?;
            }
            Ok(())
        }
        (_, None) => Err(format!("{at}: expected a number")),
        (_, Some(_)) => Err(format!("{at}: expected an array")),
    }
}

/// Reads a table given either flat (`[x_0, x_1, …]`, row-major) or nested with shape `dims`.
fn table(
    task: &serde_json::Map<String, Value>,
    field: &str,
    t: usize,
    dims: &[usize],
) -> std::result::Result<Vec<f64>, String> {
    let v = task
        .get(field)
        .ok_or_else(|| format!("tasks[{t}].{field}: missing"))?;
    let total: usize = dims.iter().product();
    let at = format!("tasks[{t}].{field}");
    let mut out = Vec::with_capacity(total);
    let flat = matches!(v, Value::Array(a) if a.first().is_none_or(Value::is_number));
    if flat {
        flatten(v, &[total], &at, &mut out)?;
    } else {
        flatten(v, dims, &at, &mut out)?;
    }
    Ok(out)
}

fn positive_int(
    task: &serde_json::Map<String, Value>,
    field: &str,
    t: usize,
) -> std::result::Result<usize, String> {
    let v = task
        .get(field)
        .ok_or_else(|| format!("tasks[{t}].{field}: missing"))?;
    v.as_u64()
        .filter(|&n| n >= 1)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("tasks[{t}].{field} = {v}: must be an integer ≥ 1"))
}

/// Parses a family of finite MDPs from JSON text.
///
/// Format:
/// ```json
/// {"gamma": 0.9,
///  "tasks": [{"states": 2, "actions": 1,
///             "rewards": [0.0, 1.0],
///             "transitions": [0.5, 0.5, 0.0, 1.0]}]}
/// ```
/// * `gamma`: the common discount, `0 < γ < 1`.
/// * `tasks`: a non-empty list; every task has the same `states` (`S ≥ 1`) and `actions`
///   (`A ≥ 1`), with `S·A ≤` [`MAX_STATE_ACTIONS`].
/// * `rewards`: `R(s, a)`, either flat row-major (`S·A` numbers, index `s·A + a`) or nested
///   `[[R(0,0), …, R(0,A−1)], …]`.
/// * `transitions`: `P(s'|s, a)`, either flat (`S·A·S` numbers, index `(s·A + a)·S + s'`) or
///   nested `[s][a][s']`; every entry ≥ 0 and every row `P(·|s, a)` sums to 1 within 1e-9.
///
/// # Errors
/// [`Error::Format`] naming the task index and field: not JSON, a missing or mistyped field,
/// `γ ∉ (0, 1)`, an empty task list, a wrong length, a negative probability, a row not summing
/// to 1, tasks of different sizes.
pub fn parse_mdp_family(text: &str, path: Option<&Path>) -> Result<Vec<FiniteMdp>> {
    let err = |reason: String| format_err(path, reason);
    let root: Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| err("top level: expected an object with `gamma` and `tasks`".into()))?;
    let gamma = obj
        .get("gamma")
        .ok_or_else(|| err("gamma: missing".into()))?
        .as_f64()
        .ok_or_else(|| err("gamma: expected a number".into()))?;
    if !(gamma > 0.0 && gamma < 1.0) {
        return Err(err(format!(
            "gamma = {gamma}: the discount must satisfy 0 < γ < 1"
        )));
    }
    let tasks = obj
        .get("tasks")
        .ok_or_else(|| err("tasks: missing".into()))?
        .as_array()
        .ok_or_else(|| err("tasks: expected an array".into()))?;
    if tasks.is_empty() {
        return Err(err("tasks: empty task list (need at least one task)".into()));
    }
    let mut out: Vec<FiniteMdp> = Vec::with_capacity(tasks.len());
    for (t, task) in tasks.iter().enumerate() {
        let task = task
            .as_object()
            .ok_or_else(|| err(format!("tasks[{t}]: expected an object")))?;
        let states = positive_int(task, "states", t).map_err(&err)?;
        let actions = positive_int(task, "actions", t).map_err(&err)?;
        if let Some(first) = out.first() {
            if states != first.states() {
                return Err(err(format!(
                    "tasks[{t}].states = {states} differs from tasks[0].states = {}",
                    first.states()
                )));
            }
            if actions != first.actions() {
                return Err(err(format!(
                    "tasks[{t}].actions = {actions} differs from tasks[0].actions = {}",
                    first.actions()
                )));
            }
        }
        check_sizes(states, actions).map_err(|e| err(format!("tasks[{t}]: {e}")))?;
        let rewards = table(task, "rewards", t, &[states, actions]).map_err(&err)?;
        let transitions = table(task, "transitions", t, &[states, actions, states]).map_err(&err)?;
        if let Some(i) = transitions.iter().position(|&p| p < 0.0) {
            let (row, s2) = (i / states, i % states);
            return Err(err(format!(
                "tasks[{t}].transitions: P(s' = {s2} | s = {}, a = {}) = {} is negative",
                row / actions,
                row % actions,
                transitions[i]
            )));
        }
        for (row, p) in transitions.chunks(states).enumerate() {
            let sum: f64 = p.iter().sum();
            if (sum - 1.0).abs() > TRANSITION_TOLERANCE {
                return Err(err(format!(
                    "tasks[{t}].transitions: row (s = {}, a = {}) sums to {sum}, not 1 (tolerance \
                     {TRANSITION_TOLERANCE:e})",
                    row / actions,
                    row % actions
                )));
            }
        }
        let mdp = FiniteMdp::new(states, actions, rewards, transitions, gamma)
            .map_err(|e| err(format!("tasks[{t}]: {e}")))?;
        out.push(mdp);
    }
    Ok(out)
}

/// Reads and parses a family file (see [`parse_mdp_family`]).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; the errors of [`parse_mdp_family`].
pub fn load_mdp_family(path: &Path) -> Result<Vec<FiniteMdp>> {
    let bytes = read_file(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| format_err(Some(path), format!("not UTF-8 text: {e}")))?;
    parse_mdp_family(&text, Some(path))
}
