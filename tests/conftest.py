"""Shared fixtures: where the real test data lives, and small generated documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Property tests are deterministic (the same examples on every run, no example database) and
# untimed (CI machines vary); each test sets only how many examples it draws.
settings.register_profile(
    "docfields",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("docfields")


def shared_data_dir() -> Path:
    """The real fixtures of ``shared/data`` (beside the repository, or DOCFIELDS_SHARED_DATA)."""
    path = Path(os.environ.get("DOCFIELDS_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (path / "README.md").exists():
        raise RuntimeError(
            f"shared test data not found at {path}: clone the repository beside shared/ "
            "or set DOCFIELDS_SHARED_DATA"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()
