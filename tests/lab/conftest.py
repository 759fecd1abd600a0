"""The lab of real Docker hosts, started once per test session.

``lab`` starts one host per profile in ``lab/cisaudit_lab/profiles`` (see PROFILES.md). When
the lab cannot be built (no docker.io, no root), lab tests are skipped with the reason,
except in CI as root (``CI=true``), where a missing lab is a failure: CI must not go green
by skipping the tests that audit real hosts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cisaudit_lab import Lab, available_profiles

from tests.lab.required import lab_or_skip


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("lab")
    started = lab_or_skip(available_profiles(), workdir)
    with started:
        yield started
