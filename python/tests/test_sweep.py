"""pimtl.sweep on a local Ray instance with two workers: the same folders as a serial run."""

import json
from pathlib import Path

import pytest

import pimtl
import pimtl.sweep

ray = pytest.importorskip("ray", reason="pip install ray (CI installs it)")

VARYING = {"timing.json"}  # wall-clock seconds; everything else must match byte for byte


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024 * 1024)
    yield
    ray.shutdown()


def files(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in VARYING:
            if rel == "manifest.json":
                m = json.loads(p.read_text())
                m["files"] = [f for f in m["files"] if f["path"] not in VARYING]
                out[rel] = json.dumps(m, sort_keys=True).encode()
            else:
                out[rel] = p.read_bytes()
    return out


def test_two_ray_workers_give_the_serial_results(local_ray, tmp_path):
    args = ["--quick", "--steps", "60"]
    serial = tmp_path / "serial"
    pimtl.cli(["demo", *args, "--seeds", "0..4", "--out", str(serial)])
    res = pimtl.sweep.run("demo", "0..4", tmp_path / "ray", args=args, shards=2)
    assert [f.name for f in res.folders] == ["seed-0", "seed-1", "seed-2", "seed-3"]
    for f in res.folders:
        got, want = files(f), files(serial / f.name)
        assert got.keys() == want.keys(), f.name
        for k in want:
            assert got[k] == want[k], f"{f.name}/{k} differs between the Ray and the serial run"
    # The seeds really differ from each other (the comparison is not between identical runs).
    assert files(res.folders[0])["policy.json"] != files(res.folders[1])["policy.json"]
    assert (res.report / "manifest.json").is_file()
    # Hidden staging folders never stay behind.
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]


def test_existing_folders_and_bad_arguments_are_refused_before_running(local_ray, tmp_path):
    out = tmp_path / "s"
    (out / "seed-1").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="seed-1"):
        pimtl.sweep.run("bound", "0..3", out, args=["--quick"])
    with pytest.raises(ValueError, match="--out"):
        pimtl.sweep.run("bound", 2, tmp_path / "t", args=["--out", "x"])
    with pytest.raises(ValueError, match="seeds"):
        pimtl.sweep.run("bound", [], tmp_path / "t")
    with pytest.raises(ValueError, match="shards"):
        pimtl.sweep.run("bound", 2, tmp_path / "t", args=["--quick"], shards=0)
    with pytest.raises(RuntimeError, match="unexpected argument"):
        pimtl.sweep.run("bound", 2, tmp_path / "u", args=["--nonsense"], shards=2)
    assert not (tmp_path / "u").exists() or not any((tmp_path / "u").iterdir())


def test_seed_spec():
    assert pimtl.sweep.seed_spec(3) == "0..3"
    assert pimtl.sweep.seed_spec([4, 1]) == "4,1"
    assert pimtl.sweep.seed_spec(" 2..=5 ") == "2..=5"
    with pytest.raises(TypeError):
        pimtl.sweep.seed_spec(True)
