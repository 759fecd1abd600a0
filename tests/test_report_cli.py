"""The report, keys and verify commands end to end, and their options documented."""

from __future__ import annotations

import io
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cisaudit.report.cli import keys_group, report_command, verify_command

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "report"


def _main() -> click.Group:
    @click.group()
    def main() -> None:
        pass

    for command in (report_command, keys_group, verify_command):
        main.add_command(command)
    return main


def _commands() -> list[click.Command]:
    main = _main()
    found: list[click.Command] = []
    for command in main.commands.values():
        found.append(command)
        if isinstance(command, click.Group):
            found.extend(command.commands.values())
    return found


def test_every_option_is_documented() -> None:
    docs = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    missing = [
        f"{cmd.name} {opt}"
        for cmd in _commands()
        for param in cmd.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and f"`{opt}" not in docs
    ]
    assert not missing, f"options missing from docs/reports.md: {missing}"


def test_report_keys_verify_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = runner.invoke(_main(), ["keys", "init", "-o", str(tmp_path / "k"), "--name", "CLI"])
    assert keys.exit_code == 0, keys.output
    out = tmp_path / "out"
    result = runner.invoke(
        _main(),
        [
            "report",
            str(DATA / "sample-results.json"),
            "-o",
            str(out),
            "--format",
            "pdf,csv",
            "--lang",
            "zh",
            "--evidence",
            str(DATA / "sample-evidence.json"),
            "--sign-key",
            str(tmp_path / "k" / "signing-key.pem"),
            "--sign-cert",
            str(tmp_path / "k" / "signing-cert.pem"),
            "--client",
            "客户",
            "--assessor",
            "审计员",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.pdf").is_file() and (out / "results.csv").is_file()
    assert (out / "sample-evidence.json.sig").is_file()
    verified = runner.invoke(
        _main(),
        ["verify", str(out / "report.pdf"), "--trust", str(tmp_path / "k" / "signing-cert.pem")],
    )
    assert verified.exit_code == 0, verified.output
    assert re.search(r"intact:\s+yes", verified.output)
    again = runner.invoke(_main(), ["keys", "init", "-o", str(tmp_path / "k"), "--name", "CLI"])
    assert again.exit_code != 0 and "--force" in again.output


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    results = str(DATA / "sample-results.json")
    bad_format = runner.invoke(_main(), ["report", results, "-o", str(tmp_path), "--format", "doc"])
    assert bad_format.exit_code == 2 and "choose from" in bad_format.output
    half_key = runner.invoke(_main(), ["report", results, "-o", str(tmp_path), "--sign-key", "x"])
    assert half_key.exit_code == 2 and "--sign-cert" in half_key.output
    not_results = tmp_path / "x.json"
    not_results.write_text("{}")
    broken = runner.invoke(_main(), ["report", str(not_results), "-o", str(tmp_path)])
    # an input error (exit 2, naming the file), like every other malformed input
    assert broken.exit_code == 2 and "not a cisaudit results file" in broken.output


def test_limit_renders_a_group_and_scores_it_again(tmp_path: Path) -> None:
    import csv

    result = CliRunner().invoke(
        _main(),
        [
            "report",
            str(DATA / "sample-results.json"),
            "-o",
            str(tmp_path),
            "--format",
            "csv",
            "--limit",
            "k8s,docker-0[1]",
        ],
    )
    assert result.exit_code == 0, result.output
    with (tmp_path / "results.csv").open(encoding="utf-8-sig") as handle:
        targets = {row["target"] for row in csv.DictReader(handle)}
    assert targets == {"k8s-worker-1", "docker-01"}
    none = CliRunner().invoke(
        _main(),
        ["report", str(DATA / "sample-results.json"), "-o", str(tmp_path), "--limit", "nothing-*"],
    )
    assert none.exit_code == 2 and "no target or group matches" in none.output


def test_detail_reports_show_a_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from cisaudit.report import cli as report_cli

    with report_cli.detail_progress("target") as quiet:
        assert quiet is None  # not a terminal (a pipe, cron, CI): no bar at all
    shown = io.StringIO()
    terminal = Console(file=shown, force_terminal=True, width=100)
    monkeypatch.setattr(report_cli, "console", lambda stderr=False: terminal)
    with report_cli.detail_progress(None) as none:
        assert none is None  # nothing to count without --split-by
    with report_cli.detail_progress("target") as tick:
        assert tick is not None
        for n in range(1, 4):
            tick(n, 3)
    from cisaudit.i18n import t

    # in the language the command line speaks (an earlier test may have chosen Chinese)
    assert t("rendering_details") in shown.getvalue() and "3/3" in shown.getvalue()
