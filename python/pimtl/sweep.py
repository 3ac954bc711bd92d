"""Seed sweeps of pimtl's experiment runner on a Ray cluster.

:func:`run` splits the seeds of one experiment into ``shards`` (the runner's ``--shard i/n``:
shard ``i`` takes the seeds at positions ``i, i + n, ...``), runs each shard as a Ray task on
whatever cluster ``ray.init()`` connects to, collects the complete seed folders into ``out``
and calls ``pimtl report`` on them (means, 95 % t intervals, paired differences).

Each task runs the command line in-process (:func:`pimtl.cli`, no binary needed) into a
temporary folder on its own node, packs every complete seed folder (one with its
``manifest.json``) and returns the bytes; the driver unpacks each into ``out/seed-S`` through a
hidden staging folder and a rename, so ``out`` holds complete folders only, whatever the nodes'
file systems. A seed's results do not depend on where or beside what it ran: the folders equal
those of the serial ``pimtl EXPERIMENT --seeds ... --out out`` file for file, apart from
``timing.json`` (and the manifest's line for it).

Example::

    import ray, pimtl.sweep
    ray.init()                      # or ray.init(address="auto") on a cluster
    res = pimtl.sweep.run("portfolio", seeds="0..8", out="results/sweep", args=["--quick"])
    print(res.report)               # results/sweep-report: table.csv, report.json, ...

Every node needs ``pimtl`` installed (``pip install ./python``) and, for experiments on named
data sets, the data (``bash scripts/fetch-data.sh``; or pass ``--data-dir`` in ``args``).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from ._core import cli

__all__ = ["SweepResult", "run", "seed_spec", "run_shard"]


@dataclass
class SweepResult:
    """What :func:`run` produced: the seed folders (sorted by seed) and the report folder."""

    folders: List[Path] = field(default_factory=list)
    report: Optional[Path] = None


def seed_spec(seeds: Union[str, int, Iterable[int]]) -> str:
    """The runner's ``--seeds`` text for ``seeds``: a spec string (``"0..8"``, ``"0..=7"``,
    ``"1,4,9"``) is kept; an int ``n`` means ``0..n``; an iterable of ints becomes a list."""
    if isinstance(seeds, str):
        if not seeds.strip():
            raise ValueError("seeds: empty")
        return seeds.strip()
    if isinstance(seeds, bool):
        raise TypeError("seeds: expected a spec string, an int or a sequence of ints, got bool")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds: need at least one seed, got {seeds}")
        return f"0..{seeds}"
    try:
        items = [int(s) for s in seeds]
    except TypeError as e:
        raise TypeError(f"seeds: expected a spec string, an int or a sequence of ints ({e})") from None
    if not items:
        raise ValueError("seeds: empty")
    if any(s < 0 for s in items):
        raise ValueError("seeds: must be non-negative")
    return ",".join(str(s) for s in items)


def _seeds_of(spec: str) -> List[int]:
    """Parses a seed spec the way the runner does (for counting and naming folders)."""
    if ".." in spec:
        a, b = spec.split("..", 1)
        inclusive = b.startswith("=")
        lo, hi = int(a), int(b[1:] if inclusive else b)
        return list(range(lo, hi + 1 if inclusive else hi))
    return [int(s) for s in spec.split(",")]


def _pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


def _unpack(blob: bytes, out: Path, name: str, force: bool) -> Path:
    target = out / name
    staging = out / f".{name}.incoming-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            for member in tar.getmembers():
                p = Path(member.name)
                if p.is_absolute() or ".." in p.parts or not (member.isfile() or member.isdir()):
                    raise ValueError(f"sweep: refusing the packed entry {member.name!r}")
            tar.extractall(staging)
        unpacked = staging / name
        if not (unpacked / "manifest.json").is_file():
            raise ValueError(f"sweep: {name} came back without its manifest.json (incomplete)")
        if target.exists():
            if not force:
                raise FileExistsError(f"{target}: exists (pass force=True to replace it)")
            shutil.rmtree(target)
        unpacked.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run_shard(experiment: str, args: Sequence[str], seeds: str, shard: int, shards: int) -> Dict[str, bytes]:
    """Runs shard ``shard`` of ``shards`` of the sweep in this process, into a temporary folder,
    and returns ``{"seed-S": packed folder}`` for every complete seed folder. (The body of each
    Ray task; usable without Ray.)"""
    tmp = Path(tempfile.mkdtemp(prefix="pimtl-shard-"))
    try:
        base = tmp / "sweep"
        argv = [experiment, *args, "--seeds", seeds, "--out", str(base)]
        if shards > 1:
            argv += ["--shard", f"{shard}/{shards}"]
        if "--threads" not in args:
            argv += ["--threads", "1"]
        cli(argv)
        out: Dict[str, bytes] = {}
        if base.is_dir():
            for d in sorted(base.iterdir()):
                if d.is_dir() and d.name.startswith("seed-") and (d / "manifest.json").is_file():
                    out[d.name] = _pack(d)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(
    experiment: str,
    seeds: Union[str, int, Iterable[int]],
    out: Union[str, os.PathLike],
    *,
    args: Sequence[str] = (),
    shards: Optional[int] = None,
    report: bool = True,
    report_out: Optional[Union[str, os.PathLike]] = None,
    force: bool = False,
    num_cpus_per_shard: float = 1.0,
) -> SweepResult:
    """Runs ``pimtl EXPERIMENT ARGS --seeds SEEDS`` as Ray tasks and collects the folders.

    Args:
        experiment: the command (``"portfolio"``, ``"synthetic"``, ``"bound"``, ``"federated"``,
            ``"baselines"``, ``"demo"``).
        seeds: the seeds (see :func:`seed_spec`).
        out: the sweep's folder; seed ``S`` lands in ``out/seed-S``.
        args: the experiment's other options (``["--quick"]``, ``["--data", "nyse_o"]``, ...);
            not ``--out``, ``--seeds`` or ``--shard``, which the sweep sets.
        shards: number of Ray tasks (default: the cluster's CPUs, at most one per seed).
        report: run ``pimtl report`` on the folders afterwards.
        report_out: the report's folder (default ``OUT-report`` beside ``out``).
        force: replace seed folders (and the report) that exist already; without it an existing
            one is an error before anything runs.
        num_cpus_per_shard: Ray's CPU reservation for each task.

    Raises:
        ValueError, TypeError: bad seeds, shards or args. FileExistsError: a folder exists and
        ``force`` is not set. RuntimeError: a shard's command failed (with its message).
    """
    import ray

    for flag in ("--out", "--seeds", "--shard", "--resume"):
        if flag in args:
            raise ValueError(f"args: {flag} is set by the sweep")
    spec = seed_spec(seeds)
    all_seeds = _seeds_of(spec)
    out = Path(out)
    names = [f"seed-{s}" for s in all_seeds]
    existing = [n for n in names if (out / n).exists()]
    if existing and not force:
        raise FileExistsError(f"{out / existing[0]}: exists (pass force=True to replace it)")
    report_dir = Path(report_out) if report_out is not None else out.with_name(out.name + "-report")
    if report and report_dir.exists() and not force:
        raise FileExistsError(f"{report_dir}: exists (pass force=True to replace it)")
    if not ray.is_initialized():
        ray.init()
    if shards is None:
        shards = max(1, int(ray.cluster_resources().get("CPU", 1) // max(num_cpus_per_shard, 1e-9)))
    if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
        raise ValueError(f"shards: must be an int >= 1, got {shards!r}")
    shards = min(shards, len(all_seeds))
    task = ray.remote(num_cpus=num_cpus_per_shard)(run_shard)
    refs = [task.remote(experiment, list(args), spec, i, shards) for i in range(shards)]
    packed: Dict[str, bytes] = {}
    for part in ray.get(refs):
        packed.update(part)
    missing = [n for n in names if n not in packed]
    if missing:
        raise RuntimeError(f"sweep: no complete folder came back for {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    result = SweepResult(folders=[_unpack(packed[n], out, n, force) for n in names])
    if report:
        cmd = ["report", str(out), "--out", str(report_dir)]
        if force:
            cmd.append("--force")
        cli(cmd)
        result.report = report_dir
    return result
