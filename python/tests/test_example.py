"""The PyTorch example runs (when torch is installed: PIMTL_PY_TORCH=1 bash scripts/test-python.sh)."""

import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("torch", reason="torch is not installed (PIMTL_PY_TORCH=1 installs it)")


@pytest.mark.parametrize("extra", [[], ["--multitask"]])
def test_train_torch_example_runs(data_dir, extra):
    r = subprocess.run(
        [sys.executable, str(REPO / "python" / "examples" / "train_torch.py"), "--data-dir", str(data_dir), "--steps", "20", *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "learned policy wealth" in r.stdout
