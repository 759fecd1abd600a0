"""The control catalog: benchmarks and their controls, loaded from ``checks/``.

Controls are data. Each benchmark is a folder (``checks/cis-docker-1.6.0/``) holding a
``benchmark.yaml`` (name, version, sections) and one ``<id>.yaml`` per control. Every file
is validated when loaded: unknown keys, unknown operators, unknown facts and ids that
disagree with their file name are errors naming the file and line.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.kinds.facts_registry import FACTS, SUBJECT_PREFIXES, SUBJECTS
from cisaudit.model import ControlInfo
from cisaudit.catalog.operators import OPERATORS, UNARY
from cisaudit.yamlsrc import LineDict, SourceError, load_file

CONTROL_KEYS = {
    "id": True,
    "title": True,
    "section": True,
    "level": True,
    "profiles": True,
    "cis_assessment": True,
    "automated": True,
    "targets": False,
    "roles": False,
    "description": True,
    "rationale": True,
    "impact": False,
    "audit": True,
    "remediation": True,
    "snippet": False,
    "references": False,
    "check": False,
    "evidence": False,
    "default_value": False,
    "notes": False,
    "applies_if": False,
    "otherwise": False,
}
CHECK_KEYS = {
    "each",
    "file",
    "when",
    "otherwise",
    "empty",
    "empty_status",
    "test",
    "review",
    "review_reason",
    "name",
    "kind",
    "where",
}
COND_LEAF_KEYS = {"fact", "path", "op", "value", "label"}
QUANTIFIERS = ("any_item", "every_item", "no_item")
SNIPPET_KINDS = {
    "shell",
    "daemon.json",
    "audit-rule",
    "docker-run",
    "dockerfile",
    "yaml",
    "kubelet-config",
    "manifest-flag",
    "text",
}
LANGS = ("en", "zh")


def default_checks_dir() -> Path:
    """Where the built-in catalog lives: $CISAUDIT_CHECKS, the source tree, or the package."""
    env = os.environ.get("CISAUDIT_CHECKS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # cisaudit/
    for candidate in (package.parent / "checks", package / "_checks"):
        if candidate.is_dir():
            return candidate
    return package.parent / "checks"


@dataclass
class Control:
    """One control as loaded: catalog metadata plus the check that decides it."""

    benchmark: str
    id: str
    section: str
    title: dict[str, str]
    level: int
    profiles: list[str]
    cis_assessment: str
    automated: bool
    targets: list[str]
    roles: list[str]
    texts: dict[str, dict[str, str]]  # description, rationale, impact, audit, remediation
    snippet: dict[str, str]
    references: list[str]
    check: dict[str, Any] | None
    evidence_facts: list[str]
    source: str
    applies_if: dict[str, Any] | None = None
    otherwise: str = ""
    mappings: dict[str, list[str]] = field(default_factory=dict)
    # Fields shown for an evidence fact that is a collection (never whole raw objects).
    evidence_fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.id}"

    def info(self) -> ControlInfo:
        return ControlInfo(
            id=self.id,
            benchmark=self.benchmark,
            section=self.section,
            title=self.title,
            level=self.level,
            profiles=self.profiles,
            automated=self.automated,
            cis_assessment=self.cis_assessment,
            description=self.texts.get("description", {}),
            rationale=self.texts.get("rationale", {}),
            remediation=self.texts.get("remediation", {}),
            audit=self.texts.get("audit", {}),
            snippet=self.snippet.get("text", ""),
            snippet_kind=self.snippet.get("kind", ""),
            references=self.references,
            mappings=self.mappings,
        )


@dataclass
class Benchmark:
    id: str
    name: str
    version: str
    target_kinds: list[str]
    sections: dict[str, dict[str, str]]
    controls: dict[str, Control]
    platform_versions: list[str] = field(default_factory=list)  # e.g. Kubernetes "1.32"

    def ordered(self) -> list[Control]:
        return sorted(self.controls.values(), key=lambda c: control_sort_key(c.id))


def control_sort_key(control_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in control_id.split("."))


class Catalog:
    """All loaded benchmarks, by id."""

    def __init__(self, benchmarks: dict[str, Benchmark]) -> None:
        self.benchmarks = benchmarks

    def get(self, benchmark_id: str) -> Benchmark:
        try:
            return self.benchmarks[benchmark_id]
        except KeyError:
            known = ", ".join(sorted(self.benchmarks)) or "none"
            raise KeyError(f"unknown benchmark {benchmark_id!r} (known: {known})") from None

    def for_kind(self, kind: str) -> list[Benchmark]:
        return [b for b in self.benchmarks.values() if kind in b.target_kinds]

    def pick(self, kind: str, platform_version: str | None = None) -> Benchmark | None:
        """The benchmark for a target kind: the one covering its platform version (e.g. the
        Kubernetes minor version), else the newest benchmark for that kind."""
        candidates = sorted(self.for_kind(kind), key=lambda b: control_sort_key(b.version))
        if not candidates:
            return None
        if platform_version:
            minor = ".".join(platform_version.lstrip("v").split(".")[:2])
            for bench in candidates:
                if minor in bench.platform_versions:
                    return bench
        return candidates[-1]

    def applicable(self, bench: Benchmark, kind: str, roles: Sequence[str] = ()) -> list[Control]:
        """Controls of ``bench`` that apply to a target of this kind and these node roles."""
        chosen = []
        for control in bench.ordered():
            kinds = control.targets or bench.target_kinds
            if kind not in kinds and not (kind == "bundle"):
                continue
            if control.roles and kind == "k8s-node" and not set(control.roles) & set(roles):
                continue
            chosen.append(control)
        return chosen


def load_catalog(root: Path | None = None) -> Catalog:
    """Load every benchmark folder under ``root`` and the mapping files beside them."""
    root = root or default_checks_dir()
    if not root.is_dir():
        raise SourceError(root, None, "control catalog folder not found")
    benchmarks = {}
    for folder in sorted(p for p in root.iterdir() if (p / "benchmark.yaml").is_file()):
        bench = load_benchmark(folder)
        benchmarks[bench.id] = bench
    mappings_dir = root / "mappings"
    if mappings_dir.is_dir():
        for path in sorted(mappings_dir.glob("*.y*ml")):
            _apply_mapping(path, benchmarks)
    return Catalog(benchmarks)


def load_benchmark(folder: Path) -> Benchmark:
    meta_path = folder / "benchmark.yaml"
    meta = _mapping(load_file(meta_path), meta_path, "benchmark file")
    _known_keys(
        meta, {"id", "name", "version", "target_kinds", "sections", "platform_versions"}, meta_path
    )
    bench_id = _required(meta, "id", str, meta_path)
    if bench_id != folder.name:
        raise SourceError(
            meta_path,
            meta.line_of("id"),
            f"id {bench_id!r} must equal the folder name {folder.name!r}",
        )
    sections = {}
    for sid, titles in _required(meta, "sections", dict, meta_path).items():
        sections[str(sid)] = _bilingual(titles, meta_path, meta["sections"].line_of(sid))
    controls = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "benchmark.yaml":
            continue
        control = load_control(path, bench_id, sections)
        controls[control.id] = control
    return Benchmark(
        id=bench_id,
        name=_required(meta, "name", str, meta_path),
        version=str(_required(meta, "version", (str, int, float), meta_path)),
        target_kinds=list(_required(meta, "target_kinds", list, meta_path)),
        sections=sections,
        controls=controls,
        platform_versions=[str(v) for v in meta.get("platform_versions", [])],
    )


def load_control(path: Path, benchmark: str, sections: dict[str, Any]) -> Control:
    data = _mapping(load_file(path), path, "control file")
    _known_keys(data, set(CONTROL_KEYS), path)
    for key, required in CONTROL_KEYS.items():
        if required and key not in data:
            raise SourceError(path, data.line, f"missing required key {key!r}")
    control_id = str(data["id"])
    if path.stem != control_id:
        raise SourceError(
            path, data.line_of("id"), f"id {control_id!r} must equal the file name {path.stem!r}"
        )
    section = str(data["section"])
    if section not in sections:
        raise SourceError(path, data.line_of("section"), f"unknown section {section!r}")
    if not control_id.startswith(section.split(".")[0]):
        raise SourceError(
            path, data.line_of("section"), f"control {control_id} is not in section {section}"
        )
    automated = data["automated"]
    if not isinstance(automated, bool):
        raise SourceError(path, data.line_of("automated"), "automated must be true or false")
    check = data.get("check")
    if automated and check is None:
        raise SourceError(path, data.line, "an automated control needs a 'check'")
    if not automated and check is not None:
        raise SourceError(path, data.line_of("check"), "a manual control must not have a 'check'")
    if check is not None:
        _validate_check(check, path)
    if "applies_if" in data:
        # Applicability of the whole control, manual ones included (e.g. swarm-only items).
        _validate_cond(data["applies_if"], path, scoped=False)
        if "otherwise" not in data:
            raise SourceError(
                path,
                data.line_of("applies_if"),
                "'applies_if' needs an 'otherwise' reason for NOT_APPLICABLE",
            )
    evidence, evidence_fields = _evidence_facts(data, path)
    level = data["level"]
    if level not in (1, 2):
        raise SourceError(path, data.line_of("level"), "level must be 1 or 2")
    texts = {}
    for key in ("description", "rationale", "impact", "audit", "remediation"):
        if key in data:
            texts[key] = _bilingual(data[key], path, data.line_of(key))
    snippet = data.get("snippet") or {}
    if snippet:
        snippet = _mapping(snippet, path, "snippet")
        _known_keys(snippet, {"kind", "text"}, path)
        if snippet.get("kind") not in SNIPPET_KINDS:
            raise SourceError(
                path,
                snippet.line_of("kind"),
                f"snippet kind must be one of {sorted(SNIPPET_KINDS)}",
            )
    if automated and not snippet:
        raise SourceError(path, data.line, "an automated control needs a remediation 'snippet'")
    return Control(
        benchmark=benchmark,
        id=control_id,
        section=section,
        title=_bilingual(data["title"], path, data.line_of("title")),
        level=level,
        profiles=[str(p) for p in data["profiles"]],
        cis_assessment=str(data["cis_assessment"]),
        automated=automated,
        targets=[str(t) for t in data.get("targets", [])],
        roles=[str(r) for r in data.get("roles", [])],
        texts=texts,
        snippet=dict(snippet),
        references=[str(r) for r in data.get("references", [])],
        check=check,
        evidence_facts=evidence,
        evidence_fields=evidence_fields,
        source=str(path),
        applies_if=data.get("applies_if"),
        otherwise=str(data.get("otherwise", "")),
    )


def _is_collection(name: str) -> bool:
    """Facts that are lists of whole objects (inspect data, API objects) or groups of them."""
    parts = name.split(".")
    return parts[0] in SUBJECTS or (parts[0] == "cluster" and len(parts) == 2) or name in (
        "swarm.info", "engine.info", "engine.version", "daemon.config")


def _evidence_facts(data: LineDict, path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """``evidence:``: fact names, or ``{fact: NAME, fields: [PATH, ...]}`` for a collection.

    Results never carry whole raw objects (a container's inspect document holds its
    labels, arguments and environment): a collection is shown by the fields named."""
    names: list[str] = []
    fields: dict[str, list[str]] = {}
    entries = data.get("evidence", [])
    if not isinstance(entries, list):
        raise SourceError(path, data.line_of("evidence"), "evidence must be a list")
    for entry in entries:
        line = getattr(entry, "line", None) or data.line_of("evidence")
        if isinstance(entry, dict):
            _known_keys(_mapping(entry, path, "evidence entry"), {"fact", "fields"}, path)
            name = str(entry.get("fact", ""))
            wanted = entry.get("fields")
            if not isinstance(wanted, list) or not wanted:
                raise SourceError(path, line, f"evidence {name!r}: 'fields' needs a list of paths")
            fields[name] = [str(f) for f in wanted]
        else:
            name = str(entry)
            if _is_collection(name):
                raise SourceError(
                    path,
                    line,
                    f"evidence {name!r} is a collection of whole objects; name the fields to "
                    f"show: {{fact: {name}, fields: [cis.name, ...]}}",
                )
        _validate_fact(name, path, line)
        names.append(name)
    return names, fields


def _validate_check(check: Any, path: Path) -> None:
    check = _mapping(check, path, "check")
    _known_keys(check, CHECK_KEYS, path)
    if "test" not in check:
        raise SourceError(path, check.line, "check needs a 'test'")
    if "each" in check and "file" in check:
        raise SourceError(path, check.line, "a check takes 'each' or 'file', not both")
    scoped = "each" in check or "file" in check
    if (
        "each" in check
        and check["each"] not in SUBJECTS
        and not str(check["each"]).startswith(SUBJECT_PREFIXES)
    ):
        raise SourceError(
            path,
            check.line_of("each"),
            f"unknown collection {check['each']!r}{_suggest(check['each'], SUBJECTS)}",
        )
    if "file" in check:
        _validate_fact(f"files.{check['file']}", path, check.line_of("file"))
    for key in ("when",):
        if key in check:
            _validate_cond(check[key], path, scoped=False)
    for key in ("test", "review", "where"):
        if key in check:
            _validate_cond(check[key], path, scoped=scoped)
    if check.get("empty_status", "NOT_APPLICABLE") not in ("PASS", "NOT_APPLICABLE"):
        raise SourceError(
            path, check.line_of("empty_status"), "empty_status must be PASS or NOT_APPLICABLE"
        )
    if "when" in check and "otherwise" not in check:
        raise SourceError(
            path, check.line_of("when"), "'when' needs an 'otherwise' reason for NOT_APPLICABLE"
        )


def _validate_cond(cond: Any, path: Path, *, scoped: bool) -> None:
    cond = _mapping(cond, path, "condition")
    for combinator in ("all", "any"):
        if combinator in cond:
            _known_keys(cond, {combinator, "label"}, path)
            items = cond[combinator]
            if not isinstance(items, list) or not items:
                raise SourceError(path, cond.line, f"'{combinator}' needs a non-empty list")
            for item in items:
                _validate_cond(item, path, scoped=scoped)
            return
    if "not" in cond:
        _known_keys(cond, {"not", "label"}, path)
        _validate_cond(cond["not"], path, scoped=scoped)
        return
    quantifier = next((q for q in QUANTIFIERS if q in cond), None)
    if quantifier:
        _known_keys(cond, {quantifier, "path", "fact", "label"}, path)
        _validate_subject_ref(cond, path, scoped)
        _validate_cond(cond[quantifier], path, scoped=True)
        return
    _known_keys(cond, COND_LEAF_KEYS, path)
    _validate_subject_ref(cond, path, scoped)
    op = cond.get("op")
    if op not in OPERATORS:
        raise SourceError(
            path, cond.line_of("op"), f"unknown operator {op!r}{_suggest(str(op), OPERATORS)}"
        )
    if op not in UNARY and "value" not in cond:
        raise SourceError(path, cond.line_of("op"), f"operator {op!r} needs a 'value'")
    if op == "mode_at_most":
        from cisaudit.catalog.operators import parse_mode

        try:
            parse_mode(cond["value"])
        except ValueError as exc:
            raise SourceError(path, cond.line_of("value"), str(exc)) from None
    if op in ("matches", "not_matches"):
        from cisaudit.catalog.operators import PatternError, compile_pattern

        try:
            compile_pattern(str(cond["value"]))
        except PatternError as exc:
            raise SourceError(path, cond.line_of("value"), str(exc)) from None
    value = cond.get("value")
    if isinstance(value, dict):
        _known_keys(value, {"fact"}, path)
        _validate_fact(str(value.get("fact")), path, cond.line_of("value"))


def _validate_subject_ref(cond: LineDict, path: Path, scoped: bool) -> None:
    if ("fact" in cond) == ("path" in cond):
        raise SourceError(path, cond.line, "a condition names exactly one of 'fact' or 'path'")
    if "path" in cond and not scoped:
        raise SourceError(
            path,
            cond.line_of("path"),
            "'path' is relative to an item: use it under 'each', 'file' or a quantifier",
        )
    if "fact" in cond:
        _validate_fact(str(cond["fact"]), path, cond.line_of("fact"))


def _validate_fact(name: str, path: Path, line: int | None) -> None:
    top = name.split(".")[0]
    if top not in FACTS:
        raise SourceError(path, line, f"unknown fact {name!r}{_suggest(top, FACTS)}")


def _apply_mapping(path: Path, benchmarks: dict[str, Benchmark]) -> None:
    data = _mapping(load_file(path), path, "mapping file")
    _known_keys(data, {"framework", "title", "benchmark", "controls", "clauses"}, path)
    framework = _required(data, "framework", str, path)
    bench_id = _required(data, "benchmark", str, path)
    bench = benchmarks.get(bench_id)
    if bench is None:
        raise SourceError(path, data.line_of("benchmark"), f"unknown benchmark {bench_id!r}")
    controls = _required(data, "controls", dict, path)
    for cid, clauses in controls.items():
        cid = str(cid)
        if cid not in bench.controls:
            raise SourceError(
                path,
                controls.line_of(cid) if isinstance(controls, LineDict) else None,
                f"unknown control {cid!r} in {bench_id}",
            )
        bench.controls[cid].mappings.setdefault(framework, []).extend(str(c) for c in clauses)


# -- small validation helpers -------------------------------------------------------------


def _mapping(value: Any, path: Path, what: str) -> LineDict:
    if not isinstance(value, LineDict):
        line = getattr(value, "line", None)
        raise SourceError(path, line, f"{what} must be a mapping")
    return value


def _known_keys(data: LineDict, allowed: Iterable[str], path: Path) -> None:
    allowed = set(allowed)
    for key in data:
        if key not in allowed:
            raise SourceError(
                path, data.line_of(key), f"unknown key {key!r}{_suggest(str(key), allowed)}"
            )


def _required(data: LineDict, key: str, kind: Any, path: Path) -> Any:
    if key not in data:
        raise SourceError(path, data.line, f"missing required key {key!r}")
    if not isinstance(data[key], kind):
        raise SourceError(path, data.line_of(key), f"{key!r} has the wrong type")
    return data[key]


def _bilingual(value: Any, path: Path, line: int | None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SourceError(path, line, "expected a mapping with 'en' and 'zh' texts")
    missing = [lang for lang in LANGS if not str(value.get(lang, "")).strip()]
    if missing:
        raise SourceError(
            path, getattr(value, "line", line), f"missing text in {', '.join(missing)}"
        )
    extra = set(value) - set(LANGS)
    if extra:
        raise SourceError(path, getattr(value, "line", line), f"unknown language {sorted(extra)}")
    return {lang: str(value[lang]).strip() for lang in LANGS}


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
