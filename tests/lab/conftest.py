"""The lab of real Docker hosts, started once per test session.

``lab`` starts one host per profile in ``lab/cisaudit_lab/profiles`` (see PROFILES.md). When
the lab cannot be built (no docker.io, no root), lab tests are skipped with the reason,
except in CI as root (``CI=true``), where a missing lab is a failure: CI must not go green
by skipping the tests that audit real hosts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cisaudit_lab import Lab, LabUnavailable, available_profiles, start_lab


def _must_have_lab() -> bool:
    return os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("lab")
    try:
        started = start_lab(available_profiles(), workdir=workdir)
    except LabUnavailable as exc:
        if _must_have_lab():
            pytest.fail(f"the lab is required in CI as root but cannot be built: {exc}")
        pytest.skip(f"lab unavailable: {exc}")
    with started:
        yield started
