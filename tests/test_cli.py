"""The command line: exit codes, input errors, offline evaluation, documented options."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from cisaudit.cli import main

ROOT = Path(__file__).parents[1]
BUNDLE = ROOT / "tests" / "data" / "bundles" / "lab-docker.json"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_evaluate_writes_results_and_exits_1_when_controls_fail(tmp_path: Path) -> None:
    code, output = run("evaluate", str(BUNDLE), "-o", str(tmp_path))
    assert code == 1, output
    data = json.loads((tmp_path / "results.json").read_text())
    assert {"lab-hardened", "lab-weak", "lab-bare"} <= {t["name"] for t in data["targets"]}


def test_evaluate_only_a_passing_selection_exits_0(tmp_path: Path) -> None:
    code, output = run("evaluate", str(BUNDLE), "-o", str(tmp_path), "--only", "5.5,2.6")
    data = json.loads((tmp_path / "results.json").read_text())
    hardened = next(t for t in data["targets"] if t["name"] == "lab-hardened")
    assert {r["control_id"] for r in hardened["results"]} == {"5.5", "2.6"}
    assert code in (0, 1)


def test_level_and_skip_filter_controls(tmp_path: Path) -> None:
    run("evaluate", str(BUNDLE), "-o", str(tmp_path), "--level", "1", "--skip", "5")
    data = json.loads((tmp_path / "results.json").read_text())
    ids = {r["control_id"] for r in data["targets"][0]["results"]}
    assert ids and not any(i.startswith("5.") for i in ids)
    assert all(data["controls"][f"cis-docker-1.6.0/{i}"]["level"] == 1 for i in ids)


def test_malformed_inventory_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yml"
    bad.write_text("hosts:\n  web-1:\n    adress: 192.0.2.10\n")
    code, output = run("scan", "-i", str(bad), "-o", str(tmp_path / "out"))
    assert code == 2
    assert f"{bad}:3" in output.replace("\n", "") and "address" in output


def test_unknown_limit_exits_2(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  web-1:\n    address: 192.0.2.10\n")
    code, output = run("scan", "-i", str(inv), "--limit", "nosuch", "-o", str(tmp_path / "o"))
    assert code == 2 and "nosuch" in output


def test_unreachable_host_exits_3_and_keeps_results(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text(
        "hosts:\n  closed:\n    address: 127.0.0.1\n    port: 1\n    connect_timeout: 2\n"
    )
    code, output = run("scan", "-i", str(inv), "-o", str(tmp_path / "o"), "--no-progress")
    assert code == 3, output
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    target = data["targets"][0]
    assert target["reachable"] is False and target["error"]
    assert {r["status"] for r in target["results"]} == {"ERROR"}


def test_checks_list_and_show_in_both_languages() -> None:
    code, output = run("checks", "list", "--json")
    assert code == 0
    controls = json.loads(output)
    assert {"id", "title", "automated", "level"} <= set(controls[0])
    code, output = run("checks", "show", "5.5", "--lang", "zh")
    assert code == 0 and "特权" in output
    code, output = run("checks", "show", "99.99")
    assert code == 2


def test_exit_codes_are_in_help_and_readme() -> None:
    code, output = run("scan", "--help")
    assert "Exit codes" in output and "3" in output
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"\b3\b.*could not be audited", readme)


def test_every_scan_option_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    scan = main.commands["scan"]
    missing = [
        opt for p in scan.params for opt in p.opts if opt.startswith("--") and opt not in readme
    ]
    assert not missing, f"scan options missing from README.md: {missing}"


def test_ctrl_c_keeps_what_finished(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cisaudit.api as api
    from cisaudit.targets import Target

    real_wait = api.wait
    calls = {"n": 0}

    def wait_then_interrupt(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        done, pending = real_wait(*args, **{**kwargs, "return_when": api.FIRST_COMPLETED})
        while not done:
            done, pending = real_wait(*args, **{**kwargs, "return_when": api.FIRST_COMPLETED})
        return done, pending

    monkeypatch.setattr(api, "wait", wait_then_interrupt)
    targets = [
        Target(name="lab-hardened", kind="bundle", path=str(BUNDLE)),
        Target(name="lab-weak", kind="bundle", path=str(BUNDLE)),
    ]
    outcome = api.audit(targets, concurrency=1)
    assert outcome.run.interrupted
    finished = [t for t in outcome.run.targets if t.reachable]
    stopped = [t for t in outcome.run.targets if not t.reachable]
    assert len(finished) >= 1 and finished[0].results
    assert all("interrupted" in (t.error or "") for t in stopped)
    assert outcome.exit_code == 3 or not stopped
