"""Both languages are complete, and every label a template asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

from cisaudit.report.i18n import LABELS, LANGS, STATUS_LABELS, labels_for
from cisaudit.report.paths import builtin_template_dir

# Labels that are legitimately empty in a language (text around page numbers).
MAY_BE_EMPTY = {("page_after", "en")}


def test_every_label_has_every_language() -> None:
    for table in (LABELS, STATUS_LABELS):
        for key, texts in table.items():
            for lang in LANGS:
                assert lang in texts, f"label {key!r} has no {lang!r} text"
                assert texts[lang] or (key, lang) in MAY_BE_EMPTY, f"label {key!r} empty in {lang}"


def test_chinese_labels_are_chinese() -> None:
    untranslated = [
        k
        for k, t in LABELS.items()
        if t["zh"] == t["en"] and t["en"].isascii() and k not in {"sha256", "page_after"}
    ]
    assert not untranslated, f"labels not translated: {untranslated}"


def test_templates_use_only_known_labels() -> None:
    known = set(labels_for(("en",)))
    used: set[str] = set()
    for template in builtin_template_dir().glob("*.j2"):
        source = template.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bm\.(?:t|t1|lbl)\('([a-z0-9_]+)'\)", source))
        used |= set(re.findall(r"\blabels\.([a-z0-9_]+)", source))
    unknown = used - known
    assert not unknown, f"templates ask for undefined labels: {sorted(unknown)}"


def test_no_label_is_left_unused() -> None:
    sources = "".join(p.read_text(encoding="utf-8") for p in builtin_template_dir().glob("*.j2"))
    sources += (Path(__file__).parents[1] / "cisaudit" / "report" / "context.py").read_text()
    # looked up as 'status_help_' ~ status, 'coverage_' ~ item.coverage, 'waiver_state_' ~ state
    dynamic = ("status_help_", "coverage_", "waiver_state_")
    unused = [
        k for k in LABELS if not k.startswith(dynamic) and not re.search(rf"['\".]{k}\b", sources)
    ]
    assert not unused, f"labels no template uses (remove them): {unused}"
