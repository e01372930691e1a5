"""Shared pytest fixtures: the ../shared data folder, GPU skipping, thread control."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIDAS_SHARED", REPO_ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the calling test saying why it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data {p} is absent (only developer and CI machines have ../shared/data)")
    return p


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder; skips the test when it is absent."""
    return shared_path()


def _gpu_reason() -> str | None:
    try:
        from midas.sparse import gpu_available
    except Exception as exc:  # pragma: no cover
        return f"midas not importable: {exc}"
    ok, why = gpu_available()
    return None if ok else why


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("gpu" in item.keywords for item in items):
        return
    reason = _gpu_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"GPU test skipped: {reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(20261121)
