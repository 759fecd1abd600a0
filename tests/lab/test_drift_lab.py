"""Drift on a real lab host (a hardened host of its own, so no other test sees the
changes): scan; re-create a container unchanged under the same name and scan again (no
drift: the container is known by its name, not its id); then start a privileged
container and loosen daemon.json's mode, scan with --fail-on new, and find exactly
those as new failures (exit 1), and `cisaudit diff` agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cisaudit.cli import main
from tests.lab.required import lab_or_skip

pytestmark = pytest.mark.lab
WORKER = (
    "docker run -d --name h-worker --read-only --memory 64m --cpu-shares 512 --pids-limit 64 "
    "--cap-drop ALL --security-opt no-new-privileges --restart on-failure:3 --network lab-net "
    "--user 1000:1000 --health-cmd true --health-interval 30s lab/worker:1.0"
)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lab = lab_or_skip(["hardened"], tmp_path_factory.mktemp("drift-lab"))
    with lab:
        yield lab


def _scan(lab, out: Path, store: str, *extra: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        main,
        [
            "scan",
            "-i",
            str(lab.inventory_path),
            "-o",
            str(out),
            "--store",
            store,
            "--scope",
            "drift-lab",
            "--no-progress",
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_drift_on_a_real_host(host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = host.hosts[0].name
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, output = _scan(host, tmp_path / "1", store)
    assert code in (0, 1), output

    # the same container, re-created under the same name: a new id, no drift
    rc, out = host.exec(name, f"docker rm -f h-worker >/dev/null && {WORKER}")
    assert rc == 0, out
    code, output = _scan(host, tmp_path / "2", store, "--fail-on", "new")
    assert code == 0, output
    unchanged = json.loads(CliRunner().invoke(main, ["diff", "--json", "--store", store]).output)
    assert unchanged["counts"]["new_failures"] == 0, unchanged["new_failures"]
    assert unchanged["counts"]["fixed"] == 0, unchanged["fixed"]
    assert unchanged["counts"]["changed"] == 0, unchanged["changed"]

    # a privileged container and a loosened daemon.json: new failures, exit 1
    rc, out = host.exec(
        name,
        "docker run -d --name drift-priv --userns host --privileged lab/worker:1.0 >/dev/null && "
        "chmod 0666 /etc/docker/daemon.json",
    )
    assert rc == 0, out
    code, output = _scan(host, tmp_path / "3", store, "--fail-on", "new")
    assert code == 1, output
    found = json.loads(CliRunner().invoke(main, ["diff", "--json", "--store", store]).output)
    new = {(r["control"], r["object"]) for r in found["new_failures"]}
    assert ("cis-docker-1.6.0/5.5", "container:drift-priv") in new
    assert any(c == "cis-docker-1.6.0/3.18" for c, _ in new)
    assert {t for t in (r["target"] for r in found["new_failures"])} == {name}
    assert found["counts"]["fixed"] == 0
    # every new failure is about the privileged container or daemon.json
    for control, obj in new:
        assert obj in ("container:drift-priv", "") or "daemon.json" in obj, (control, obj)
    history = json.loads(CliRunner().invoke(main, ["history", "--json", "--store", store]).output)
    assert [h["exit_code"] for h in history][:1] == [1] and len(history) == 3
    assert history[0]["score"] < history[1]["score"]
