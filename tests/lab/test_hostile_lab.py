"""The hostile lab host: secrets in every place a Docker engine lets them sit (environment
by name and by value shape, labels, command lines, health checks, image history steps,
daemon labels, the environment file, containerd's registry login, the unit file), and
markup, template and formula strings in names and labels. After a real audit over SSH,
no output (results, evidence, CSV, HTML, PDF text, PDF attachments, SARIF, JUnit) holds
any of the secret values, and every foreign string is printed literally and escaped."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest
from cisaudit_lab.hosts import PROFILE_DIR
from click.testing import CliRunner

from cisaudit.cli import main

pytestmark = pytest.mark.lab
PROFILE = PROFILE_DIR / "hostile.sh"
SECRETS = dict(re.findall(r"^(SECRET_[A-Z_]+)='([^']+)'$", PROFILE.read_text(), re.M))


@pytest.fixture(scope="module")
def outputs(lab, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("hostile")
    result = CliRunner().invoke(
        main,
        [
            "scan",
            "-i",
            str(lab.inventory_path),
            "--limit",
            "lab-hostile",
            "-o",
            str(out),
            "--format",
            "pdf,html,csv,junit,sarif",
            "--no-progress",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    attachments = out / "attachments"
    attachments.mkdir()
    subprocess.run(
        ["pdfdetach", "-saveall", "-o", str(attachments), str(out / "report.pdf")], check=True
    )
    subprocess.run(["pdftotext", str(out / "report.pdf"), str(out / "report.txt")], check=True)
    return out


def test_the_profile_plants_enough_secrets() -> None:
    assert len(SECRETS) >= 20


def test_no_secret_value_reaches_any_output(outputs: Path) -> None:
    files = [p for p in outputs.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {
        "results.json",
        "evidence.json",
        "results.csv",
        "report.html",
        "report.txt",
        "results.sarif",
        "junit.xml",
        "cisaudit-manifest.json",
    } <= names
    assert len([p for p in files if p.parent.name == "attachments"]) == 3
    leaks = [
        f"{name} in {path.relative_to(outputs)}"
        for path in files
        if path.suffix != ".pdf"
        for name, value in SECRETS.items()
        if value in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not leaks, "secret values leaked:\n" + "\n".join(leaks)


def test_what_an_auditor_needs_is_kept(outputs: Path) -> None:
    evidence = (outputs / "evidence.json").read_text()
    for kept in (
        "DB_PASSWORD=<redacted>",
        "MYSQL_ROOT_PW=<redacted>",
        "MODE=production",
        "postgres://app:<redacted>@db.internal/app",
        "h-secrets",
        "api_token",
        "AWS_SECRET_ACCESS_KEY=<redacted>",
        "DOCKER_CONTENT_TRUST=1",
    ):
        assert kept in evidence, kept
    results = json.loads((outputs / "results.json").read_text())
    [target] = results["targets"]
    assert target["reachable"], target["error"]
    for result in target["results"]:  # never a whole inspect document as an observed value
        observed = json.dumps(result["observed"])
        assert '"HostConfig": {' not in observed and '"Env"' not in observed, result["control_id"]


def test_foreign_text_is_escaped_in_every_report(outputs: Path) -> None:
    html = (outputs / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = (outputs / "report.txt").read_text()
    assert "[/red][blink]hidden" in text  # the OS name with its markup, printed as text
    with (outputs / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle):
            for cell in row:
                assert not re.match(r"[=+\-@\t\r]", cell), cell
