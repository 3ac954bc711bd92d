"""pimtl.cli: the command line in-process, with its errors as exceptions."""

import json
import subprocess
import sys

import pytest

import pimtl


def test_runs_an_experiment_into_a_complete_folder(tmp_path):
    out = tmp_path / "bound"
    pimtl.cli(["bound", "--quick", "--out", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {"config.json", "summary.json"}


def test_failures_are_runtime_errors_with_the_message(tmp_path, relatives):
    with pytest.raises(RuntimeError, match="unexpected argument"):
        pimtl.cli(["bound", "--no-such-flag"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n1,x\n")
    out = tmp_path / "never"
    with pytest.raises(RuntimeError, match="bad.csv"):
        pimtl.cli(["baselines", "--data", str(bad), "--out", str(out)])
    assert not out.exists()  # a folder is complete or absent
    with pytest.raises(TypeError):
        pimtl.cli([])


def test_help_prints_and_returns(capfd):
    pimtl.cli(["--help"])
    assert "portfolio" in capfd.readouterr().out


def test_python_dash_m_runs_the_command_line():
    r = subprocess.run([sys.executable, "-m", "pimtl", "baselines", "--list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "olmar" in r.stdout
    r = subprocess.run([sys.executable, "-m", "pimtl", "nonsense"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "error" in r.stderr


def test_the_stub_names_every_public_item_of_the_extension():
    import ast

    import pimtl._core as core

    from conftest import REPO

    tree = ast.parse((REPO / "python" / "pimtl" / "_core.pyi").read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    public = {n for n in dir(core) if not n.startswith("_")}
    assert public == stubbed
