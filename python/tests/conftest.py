"""Shared fixtures: the repository's data folder and small synthetic markets."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The fetched data sets (``bash scripts/fetch-data.sh``); tests that need them skip loudly
    only when run outside CI without the data."""
    d = Path(os.environ.get("PIMTL_DATA_DIR", REPO / "data"))
    if not (d / "nyse_o.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{d}/nyse_o.csv is missing: .ci/run fetches it with scripts/fetch-data.sh")
        pytest.skip(f"{d}/nyse_o.csv is missing: run bash scripts/fetch-data.sh")
    return d


@pytest.fixture()
def relatives() -> np.ndarray:
    """Sixty days of five instruments with a fixed seed: relatives in [0.9, 1.1]."""
    rng = np.random.default_rng(7)
    return rng.uniform(0.9, 1.1, size=(60, 5))
