"""The template context is a contract: golden-tested, and every key documented."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from report_helpers import samples

from cisaudit.report.context import (
    Attachment,
    ReportMeta,
    SignatureInfo,
    build_context,
    excerpt,
    natural_key,
)
from cisaudit.report.theme import load_theme

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "report"
GOLDEN = DATA / "golden-context-both.json"


_samples = samples


def sample_context(lang: str = "both") -> dict:
    run, evidence = _samples().sample_run()
    return build_context(
        run,
        lang=lang,
        theme=load_theme().to_context(),
        meta=ReportMeta(
            org="Acme Audit",
            client="Client & Co",
            assessor="Zhang San",
            generated_at="2026-11-22T09:00:00Z",
        ),
        evidence=evidence,
        attachments=[Attachment("results.json", b"{}", "application/json", "results")],
        signature=SignatureInfo(signer="Common Name: Zhang San", cert_sha256="ab" * 32),
    )


def test_context_matches_golden() -> None:
    context = json.loads(json.dumps(sample_context(), ensure_ascii=False))
    if os.environ.get("CISAUDIT_UPDATE_GOLDEN"):
        GOLDEN.write_text(
            json.dumps(context, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert context == golden, (
        "the report context changed; if intended, document it in docs/reports.md and "
        "regenerate: CISAUDIT_UPDATE_GOLDEN=1 pytest tests/test_report_context.py"
    )


def test_every_context_key_is_documented() -> None:
    docs = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    context = sample_context()
    nested = {f"{k}.{sub}" for k in ("meta", "summary", "theme") for sub in context[k]}
    nested |= {f"targets[].{k}" for k in context["targets"][0]}
    nested |= {f"targets[].findings[].{k}" for k in context["targets"][1]["findings"][0]}
    missing = [key for key in sorted(set(context) | nested) if f"`{key}`" not in docs]
    assert not missing, f"undocumented context keys (add them to docs/reports.md): {missing}"


def test_failures_first_and_unreachable_is_not_clean() -> None:
    context = sample_context("en")
    by_name = {t["name"]: t for t in context["targets"]}
    statuses = [f["status"] for f in by_name["docker-03"]["findings"]]
    assert statuses == sorted(statuses, key=["FAIL", "ERROR"].index) and statuses[0] == "FAIL"
    down = by_name["docker-04"]
    assert not down["reachable"] and "timed out" in down["error"]
    assert down["findings"] == [] and not any(down["compact"].values())
    assert [u["name"] for u in context["summary"]["unreachable"]] == ["docker-04"]
    # the unreachable host's verdicts are counted as "could not tell", never as passes
    assert down["counts"]["ERROR"] > 0 and down["counts"]["PASS"] == 0


def test_rationale_printed_once_then_referenced() -> None:
    context = sample_context("en")
    fails = [f for t in context["targets"] for f in t["findings"] if f["key"].endswith("/2.2")]
    assert [f["explain"] for f in fails] == [True] + [False] * (len(fails) - 1)
    assert len({f["explain_anchor"] for f in fails}) == 1


def test_scorer_fractions_become_percentages() -> None:
    summary = sample_context("en")["summary"]
    assert 0 <= summary["pass_rate"] <= 100 and summary["pass_rate"] > 1
    assert summary["automated_coverage"] == pytest.approx(90.9)


def test_missing_summary_keys_fall_back() -> None:
    run, _ = _samples().sample_run()
    run.summary = {}
    context = build_context(run, lang="zh", theme=load_theme().to_context(), meta=ReportMeta())
    assert context["summary"]["score"] is None
    assert context["summary"]["pass_rate"] is not None


def test_anchors_are_inert_for_hostile_names() -> None:
    for target in sample_context("en")["targets"]:
        assert re.fullmatch(r"x[0-9a-f]{12}", target["anchor"])


def test_natural_order_and_excerpt() -> None:
    assert sorted(["5.10", "5.9", "1.1.3", "1.1.1"], key=natural_key) == [
        "1.1.1",
        "1.1.3",
        "5.9",
        "5.10",
    ]
    text, cut = excerpt("\n".join(str(i) for i in range(100)))
    assert cut and text.count("\n") < 20
    assert excerpt("short\n") == ("short", False)
