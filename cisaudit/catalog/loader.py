"""The catalog: a library of checks and the packs that map control ids onto them.

Layout of a catalog folder (the built-in ``checks/``, or a user's ``--checks DIR``):

* ``library/**/<slug>.yaml``: one **check** per file, named by its stable slug
  (``container-privileged``): what it looks at (``check:``, a condition tree over facts
  with the closed operator set), its parameters with defaults, its texts in English and
  Chinese (audit steps, remediation), its remediation snippet and evidence.
* ``packs/<id>.yaml``: one **pack** per file: a benchmark version (``cis-docker-1.6.0``)
  or an organisation's own pack. It lists its sections and, for each control id, the
  check that decides it with this version's section, level, profiles and, when it words
  things differently, its own title and parameter values. A new benchmark version is a
  new pack file plus only the checks that really changed.
* ``mappings/*.yaml``: framework clauses mapped onto pack controls.

Everything is validated when loaded: unknown keys, operators, facts, parameters, check
slugs or sections, a bad regular expression, or a slug that disagrees with its file name
is a SourceError naming the file and line. Facts are checked against the contract the
caller passes (``cisaudit.api.load_catalog`` passes the kinds'), so this module imports
no kind.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.catalog.facts import FactsContract, Subject
from cisaudit.catalog.frameworks import Framework, load_framework
from cisaudit.catalog.operators import OPERATORS, UNARY, PatternError, compile_pattern, parse_mode
from cisaudit.model import ControlInfo
from cisaudit.yamlsrc import LineDict, SourceError, load_file

CHECK_KEYS = {
    "id": True,
    "title": True,
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
    "params": False,
}
PACK_KEYS = {
    "id": True,
    "name": True,
    "version": True,
    "target_kinds": True,
    "sections": True,
    "controls": True,
    "platform_versions": False,
    "type": False,
    "description": False,
}
PACK_CONTROL_KEYS = {"check", "section", "level", "profiles", "cis_assessment", "title", "params"}
PACK_TYPES = ("benchmark", "custom", "policy")
# Built-in packs loaded only when asked for (image-policy: with --policy).
OPTIONAL_PACKS = frozenset({"image-policy"})
LOGIC_KEYS = {
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


@dataclass(frozen=True)
class Param:
    """A parameter of a check: its default and what it means."""

    name: str
    default: Any
    description: str = ""


@dataclass
class Check:
    """One test over facts, shared by every pack that maps a control onto it."""

    slug: str
    title: dict[str, str]
    automated: bool
    targets: list[str]
    roles: list[str]
    texts: dict[str, dict[str, str]]  # description, rationale, impact, audit, remediation
    snippet: dict[str, str]
    references: list[str]
    logic: dict[str, Any] | None  # the ``check:`` block
    evidence_facts: list[str]
    evidence_fields: dict[str, list[str]]
    params: dict[str, Param]
    source: str
    applies_if: dict[str, Any] | None = None
    otherwise: str = ""


@dataclass
class Control:
    """A pack's control as evaluated: the pack's id, section and level over its check."""

    benchmark: str  # the pack id
    id: str
    section: str
    title: dict[str, str]
    level: int
    profiles: list[str]
    cis_assessment: str
    automated: bool
    targets: list[str]
    roles: list[str]
    texts: dict[str, dict[str, str]]
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
    check_slug: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # values, defaults < pack < tailoring
    evidence_sections: list[str] = field(default_factory=list)  # raw sections behind it
    subject: Subject | None = None  # how items of an ``each`` check are named in results

    @property
    def pack(self) -> str:
        return self.benchmark

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
            check=self.check_slug,
        )


@dataclass
class Pack:
    """A benchmark version or an organisation's own pack: sections and controls."""

    id: str
    name: str
    version: str
    target_kinds: list[str]
    sections: dict[str, dict[str, str]]
    controls: dict[str, Control]
    platform_versions: list[str] = field(default_factory=list)  # e.g. Kubernetes "1.32"
    type: str = "benchmark"  # benchmark (one per target, chosen by version) | custom | policy
    source: str = ""

    def ordered(self) -> list[Control]:
        return sorted(self.controls.values(), key=lambda c: control_sort_key(c.id))


Benchmark = Pack  # the name results and reports use for a pack of type "benchmark"


def control_sort_key(control_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in control_id.split("."))


@dataclass(frozen=True)
class Selected:
    """The benchmark a target gets, and why (recorded in its results)."""

    pack: Pack
    reason: str


class Catalog:
    """All loaded packs (by id) and the checks they map onto (by slug)."""

    def __init__(
        self,
        packs: dict[str, Pack],
        checks: dict[str, Check] | None = None,
        *,
        known: set[str] | None = None,
    ) -> None:
        self.packs = packs
        self.checks = checks or {}
        # Every check slug and pack id the catalog folders hold, loaded for this run or not.
        self.known = known if known is not None else set(self.checks) | set(self.packs)
        # complete: every pack was loaded (the optional image-policy pack aside)
        self.complete = known is None or self.known - OPTIONAL_PACKS <= set(self.checks) | set(
            self.packs
        )
        self.frameworks: dict[str, Framework] = {}

    @property
    def benchmarks(self) -> dict[str, Pack]:
        return self.packs

    def get(self, pack_id: str) -> Pack:
        try:
            return self.packs[pack_id]
        except KeyError:
            known = ", ".join(sorted(self.packs)) or "none"
            raise KeyError(f"unknown benchmark or pack {pack_id!r} (known: {known})") from None

    def for_kind(self, kind: str, pack_type: str = "benchmark") -> list[Pack]:
        return [p for p in self.packs.values() if kind in p.target_kinds and p.type == pack_type]

    def extra_packs(self, kind: str) -> list[Pack]:
        """Packs that run beside the benchmark on every target of ``kind`` (an
        organisation's own packs, policy packs)."""
        return [p for p in self.packs.values() if p.type != "benchmark" and kind in p.target_kinds]

    def select(
        self, kind: str, platform_version: str | None = None, named: str | None = None
    ) -> Selected | None:
        """The benchmark for a target: the one named (when it applies to the kind), else
        the one covering the target's platform version, else the newest for the kind. The
        reason always says which rule chose it; none is ever chosen silently."""
        candidates = sorted(self.for_kind(kind), key=lambda p: control_sort_key(p.version))
        if named:
            pack = self.packs.get(named)
            if pack is not None and kind in pack.target_kinds:
                return Selected(pack, f"{named} was named (--benchmark)")
        if not candidates:
            return None
        minor = ".".join(platform_version.lstrip("v").split(".")[:2]) if platform_version else ""
        major = minor.split(".")[0] if minor else ""
        if minor:
            for pack in reversed(candidates):
                if minor in pack.platform_versions:
                    return Selected(pack, f"{pack.id} covers version {minor} of this {kind}")
                if major in pack.platform_versions:  # listed by major version (Docker Engine)
                    return Selected(pack, f"{pack.id} covers version {major} of this {kind}")
        newest = candidates[-1]
        covered = [p for p in candidates if p.platform_versions]
        if minor and covered:
            oldest = min(
                covered, key=lambda p: min(control_sort_key(v) for v in p.platform_versions)
            )
            lowest = min(control_sort_key(v) for v in oldest.platform_versions)
            if control_sort_key(minor) < lowest:
                return Selected(
                    oldest,
                    f"version {minor} of this {kind} is older than any benchmark covers; "
                    f"{oldest.id}, the oldest (for {', '.join(oldest.platform_versions)}), is used",
                )
        if minor and newest.platform_versions:
            return Selected(
                newest,
                f"no benchmark lists version {minor} of this {kind}; {newest.id} is the newest "
                f"for {kind} (it covers {', '.join(newest.platform_versions)})",
            )
        why = f"{newest.id} is the newest benchmark for {kind}"
        if named:
            why = f"{named} does not apply to {kind}; " + why
        return Selected(
            newest,
            why + ("" if len(candidates) == 1 else f" (of {', '.join(p.id for p in candidates)})"),
        )

    def pick(self, kind: str, platform_version: str | None = None) -> Pack | None:
        selected = self.select(kind, platform_version)
        return selected.pack if selected else None

    def applicable(self, pack: Pack, kind: str, roles: Sequence[str] = ()) -> list[Control]:
        """Controls of ``pack`` that apply to a target of this kind and these node roles."""
        chosen = []
        for control in pack.ordered():
            kinds = control.targets or pack.target_kinds
            if kind not in kinds:
                continue
            if control.roles and not set(control.roles) & set(roles):
                continue  # a node control for roles this node does not play
            chosen.append(control)
        return chosen


def load_catalog(
    root: Path | None = None,
    *,
    extra: Sequence[Path] = (),
    contract: FactsContract | None = None,
    tailoring: dict[str, dict[str, Any]] | None = None,
    kinds: Iterable[str] | None = None,
    policy: bool = False,
) -> Catalog:
    """Load the built-in catalog at ``root`` and the user packs in ``extra`` folders
    (with ``policy``, also the built-in image-policy pack under ``root/policy``).

    ``contract``: the facts checks may name (without it, fact names are not checked and
    results name no evidence sections). ``tailoring``: parameter values by check slug or
    ``pack/control``, over the checks' defaults and the packs' own values. ``kinds``: load
    only the packs for these kinds of target, and only the checks they use (a run needs
    no more; every file loaded is validated as fully as ever). User packs may give their
    texts in English alone."""
    root = root or default_checks_dir()
    if not root.is_dir():
        raise SourceError(root, None, "control catalog folder not found")
    loader = _Loader(contract, None if kinds is None else set(kinds))
    loader.load_folder(root, bilingual=True)
    if policy:
        loader.load_folder(root / "policy", bilingual=True)
    for folder in extra:
        if not Path(folder).is_dir():
            raise SourceError(folder, None, "checks folder not found")
        loader.load_folder(Path(folder), bilingual=False)
    # the image-policy pack is loaded only with --policy; mappings may name it regardless
    catalog = Catalog(
        loader.packs, loader.checks, known=set(loader.library) | loader.pack_ids | OPTIONAL_PACKS
    )
    for folder in (root, *extra):
        mappings_dir = Path(folder) / "mappings"
        if mappings_dir.is_dir():
            for path in sorted(mappings_dir.glob("*.yaml")):
                _add_framework(catalog, load_framework(path, catalog))
    if tailoring:
        apply_tailoring(catalog, tailoring, "tailoring")
    return catalog


def tailor_frameworks(
    catalog: Catalog, values: dict[str, dict[str, dict[str, Any]]], source: str
) -> None:
    """Set the parameter values a framework judges against (a tailoring file's
    ``frameworks:``); unknown frameworks, checks and parameters are errors."""

    def line(mapping: Any, key: Any) -> int | None:
        return mapping.line_of(key) if hasattr(mapping, "line_of") else None

    for framework_id, checks in values.items():
        framework = catalog.frameworks.get(str(framework_id))
        if framework is None:
            raise SourceError(
                source,
                line(values, framework_id),
                f"unknown framework {framework_id!r} (known: {', '.join(sorted(catalog.frameworks))})",
            )
        for slug, params in checks.items():
            check = catalog.checks.get(str(slug))
            if check is None:
                if slug in catalog.known:
                    continue
                raise SourceError(source, line(checks, slug), f"unknown check {slug!r}")
            for name in params:
                if name not in check.params:
                    raise SourceError(
                        source,
                        line(params, name),
                        f"{slug}: unknown parameter {name!r} (parameters: "
                        f"{', '.join(sorted(check.params)) or 'none'})",
                    )
            framework.params[str(slug)] = {**framework.params.get(str(slug), {}), **params}


def apply_tailoring(catalog: Catalog, values: dict[str, dict[str, Any]], source: str) -> None:
    """Set parameter values by check slug (every control on it) or by ``pack/control``.
    An entry for a check or pack this run did not load (another kind's) is left aside; an
    entry nobody knows is an error naming the file and line."""

    def line(mapping: Any, key: Any) -> int | None:
        return mapping.line_of(key) if hasattr(mapping, "line_of") else None

    for key, params in values.items():
        if "/" in str(key):
            pack_id, _, control_id = str(key).rpartition("/")
            pack = catalog.packs.get(pack_id)
            if pack is None and pack_id in catalog.known:
                continue
            if pack is None or control_id not in pack.controls:
                raise SourceError(source, line(values, key), f"unknown control {key!r}")
            targets = [pack.controls[control_id]]
        else:
            if key not in catalog.checks:
                if key in catalog.known:
                    continue
                raise SourceError(
                    source,
                    line(values, key),
                    f"unknown check {key!r}{_suggest(str(key), catalog.known)}",
                )
            targets = [
                c
                for p in catalog.packs.values()
                for c in p.controls.values()
                if c.check_slug == key
            ]
        for control in targets:
            for name, value in (params or {}).items():
                if name not in control.params:
                    raise SourceError(
                        source,
                        line(params, name),
                        f"{key}: unknown parameter {name!r} (parameters: "
                        f"{', '.join(sorted(control.params)) or 'none'})",
                    )
                control.params[name] = value


class _Loader:
    def __init__(self, contract: FactsContract | None, kinds: set[str] | None = None) -> None:
        self.contract = contract
        self.kinds = kinds
        self.packs: dict[str, Pack] = {}
        self.checks: dict[str, Check] = {}
        self.check_sources: dict[str, Path] = {}
        self.library: dict[str, Path] = {}  # slug -> file, of every folder loaded so far
        self.bilingual: dict[str, bool] = {}
        self.pack_ids: set[str] = set()

    def load_folder(self, folder: Path, *, bilingual: bool) -> None:
        library = folder / "library"
        packs = folder / "packs"
        if not packs.is_dir() and not library.is_dir():
            raise SourceError(folder, None, "a checks folder holds packs/ and library/ folders")
        for path in sorted(library.rglob("*.yaml")) if library.is_dir() else []:
            if path.stem in self.library:
                raise SourceError(
                    path,
                    None,
                    f"check {path.stem!r} is already defined in {self.library[path.stem]}",
                )
            self.library[path.stem] = path
            self.bilingual[path.stem] = bilingual
        if self.kinds is None:  # everything: every check, whether a pack uses it or not
            for slug in list(self.library):
                self.check(slug)
        for path in sorted(packs.glob("*.yaml")) if packs.is_dir() else []:
            self.pack_ids.add(path.stem)
            pack = self.load_pack(path, bilingual=bilingual)
            if pack is None:
                continue
            if pack.id in self.packs:
                raise SourceError(
                    path,
                    None,
                    f"pack {pack.id!r} is already loaded from {self.packs[pack.id].source}",
                )
            self.packs[pack.id] = pack

    def check(self, slug: str) -> Check | None:
        """The check ``slug``, loaded (and validated) on first use; None when unknown."""
        if slug not in self.checks and slug in self.library:
            path = self.library[slug]
            self.checks[slug] = self.load_check(path, bilingual=self.bilingual[slug])
            self.check_sources[slug] = path
        return self.checks.get(slug)

    # -- checks ----------------------------------------------------------------------------

    def load_check(self, path: Path, *, bilingual: bool) -> Check:
        data = _mapping(load_file(path), path, "check file")
        _known_keys(data, set(CHECK_KEYS), path)
        for key, required in CHECK_KEYS.items():
            if required and key not in data:
                raise SourceError(path, data.line, f"missing required key {key!r}")
        slug = str(data["id"])
        if path.stem != slug:
            raise SourceError(
                path, data.line_of("id"), f"id {slug!r} must equal the file name {path.stem!r}"
            )
        automated = data["automated"]
        if not isinstance(automated, bool):
            raise SourceError(path, data.line_of("automated"), "automated must be true or false")
        params = _params(data, path)
        logic = data.get("check")
        if automated and logic is None:
            raise SourceError(path, data.line, "an automated check needs a 'check'")
        if not automated and logic is not None:
            raise SourceError(path, data.line_of("check"), "a manual check must not have a 'check'")
        if logic is not None:
            self._validate_logic(logic, path, params)
        if "applies_if" in data:
            # Applicability of the whole control, manual ones included (e.g. swarm-only items).
            self._validate_cond(data["applies_if"], path, scoped=False, params=params)
            if "otherwise" not in data:
                raise SourceError(
                    path,
                    data.line_of("applies_if"),
                    "'applies_if' needs an 'otherwise' reason for NOT_APPLICABLE",
                )
        evidence, evidence_fields = self._evidence_facts(data, path)
        texts = {}
        for key in ("description", "rationale", "impact", "audit", "remediation"):
            if key in data:
                texts[key] = _texts(data[key], path, data.line_of(key), bilingual)
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
            raise SourceError(path, data.line, "an automated check needs a remediation 'snippet'")
        return Check(
            slug=slug,
            title=_texts(data["title"], path, data.line_of("title"), bilingual),
            automated=automated,
            targets=[str(t) for t in data.get("targets", [])],
            roles=[str(r) for r in data.get("roles", [])],
            texts=texts,
            snippet=dict(snippet),
            references=[str(r) for r in data.get("references", [])],
            logic=logic,
            evidence_facts=evidence,
            evidence_fields=evidence_fields,
            params=params,
            source=str(path),
            applies_if=data.get("applies_if"),
            otherwise=str(data.get("otherwise", "")),
        )

    def _evidence_facts(self, data: LineDict, path: Path) -> tuple[list[str], dict[str, list[str]]]:
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
                    raise SourceError(
                        path, line, f"evidence {name!r}: 'fields' needs a list of paths"
                    )
                fields[name] = [str(f) for f in wanted]
            else:
                name = str(entry)
                if self._is_collection(name):
                    raise SourceError(
                        path,
                        line,
                        f"evidence {name!r} is a collection of whole objects; name the fields "
                        f"to show: {{fact: {name}, fields: [cis.name, ...]}}",
                    )
            self._validate_fact(name, path, line)
            names.append(name)
        return names, fields

    def _is_collection(self, name: str) -> bool:
        """Facts that are lists of whole objects (inspect data, API objects) or groups of them."""
        parts = name.split(".")
        if name in ("swarm.info", "engine.info", "engine.version", "daemon.config"):
            return True
        if self.contract is None:
            return parts[0] in ("containers", "images", "networks") or (
                parts[0] == "cluster" and len(parts) == 2
            )
        return (
            name in self.contract.subjects
            or any(name.startswith(p) for p in self.contract.subject_prefixes)
        ) and (name in self.contract.subjects or len(parts) == 2)

    def _validate_logic(self, logic: Any, path: Path, params: dict[str, Param]) -> None:
        logic = _mapping(logic, path, "check")
        _known_keys(logic, LOGIC_KEYS, path)
        if "test" not in logic:
            raise SourceError(path, logic.line, "check needs a 'test'")
        if "each" in logic and "file" in logic:
            raise SourceError(path, logic.line, "a check takes 'each' or 'file', not both")
        scoped = "each" in logic or "file" in logic
        if (
            "each" in logic
            and self.contract is not None
            and self.contract.subject(str(logic["each"])) is None
        ):
            known = list(self.contract.subjects) + [
                f"{p}..." for p in self.contract.subject_prefixes
            ]
            raise SourceError(
                path,
                logic.line_of("each"),
                f"unknown collection {logic['each']!r}{_suggest(str(logic['each']), known)}",
            )
        if "file" in logic:
            self._validate_fact(f"files.{logic['file']}", path, logic.line_of("file"))
        if "when" in logic:
            self._validate_cond(logic["when"], path, scoped=False, params=params)
        for key in ("test", "review", "where"):
            if key in logic:
                self._validate_cond(logic[key], path, scoped=scoped, params=params)
        if logic.get("empty_status", "NOT_APPLICABLE") not in ("PASS", "NOT_APPLICABLE"):
            raise SourceError(
                path, logic.line_of("empty_status"), "empty_status must be PASS or NOT_APPLICABLE"
            )
        if "when" in logic and "otherwise" not in logic:
            raise SourceError(
                path, logic.line_of("when"), "'when' needs an 'otherwise' reason for NOT_APPLICABLE"
            )

    def _validate_cond(
        self, cond: Any, path: Path, *, scoped: bool, params: dict[str, Param]
    ) -> None:
        cond = _mapping(cond, path, "condition")
        for combinator in ("all", "any"):
            if combinator in cond:
                _known_keys(cond, {combinator, "label"}, path)
                items = cond[combinator]
                if not isinstance(items, list) or not items:
                    raise SourceError(path, cond.line, f"'{combinator}' needs a non-empty list")
                for item in items:
                    self._validate_cond(item, path, scoped=scoped, params=params)
                return
        if "not" in cond:
            _known_keys(cond, {"not", "label"}, path)
            self._validate_cond(cond["not"], path, scoped=scoped, params=params)
            return
        quantifier = next((q for q in QUANTIFIERS if q in cond), None)
        if quantifier:
            _known_keys(cond, {quantifier, "path", "fact", "label"}, path)
            self._validate_subject_ref(cond, path, scoped)
            self._validate_cond(cond[quantifier], path, scoped=True, params=params)
            return
        _known_keys(cond, COND_LEAF_KEYS, path)
        self._validate_subject_ref(cond, path, scoped)
        op = cond.get("op")
        if op not in OPERATORS:
            raise SourceError(
                path, cond.line_of("op"), f"unknown operator {op!r}{_suggest(str(op), OPERATORS)}"
            )
        if op not in UNARY and "value" not in cond:
            raise SourceError(path, cond.line_of("op"), f"operator {op!r} needs a 'value'")
        value = cond.get("value")
        if isinstance(value, dict):
            if set(value) - {"fact", "param"} or len(value) != 1:
                raise SourceError(
                    path,
                    cond.line_of("value"),
                    "a value is a literal, {fact: NAME} or {param: NAME}",
                )
            if "fact" in value:
                self._validate_fact(str(value["fact"]), path, cond.line_of("value"))
            elif str(value["param"]) not in params:
                raise SourceError(
                    path,
                    cond.line_of("value"),
                    f"unknown parameter {value['param']!r}{_suggest(str(value['param']), params)}"
                    " (declare it under params:)",
                )
            else:
                value = params[str(value["param"])].default
        if op == "mode_at_most":
            try:
                parse_mode(value)
            except ValueError as exc:
                raise SourceError(path, cond.line_of("value"), str(exc)) from None
        if op in ("matches", "not_matches"):
            try:
                compile_pattern(str(value))
            except PatternError as exc:
                raise SourceError(path, cond.line_of("value"), str(exc)) from None

    def _validate_subject_ref(self, cond: LineDict, path: Path, scoped: bool) -> None:
        if ("fact" in cond) == ("path" in cond):
            raise SourceError(path, cond.line, "a condition names exactly one of 'fact' or 'path'")
        if "path" in cond and not scoped:
            raise SourceError(
                path,
                cond.line_of("path"),
                "'path' is relative to an item: use it under 'each', 'file' or a quantifier",
            )
        if "fact" in cond:
            self._validate_fact(str(cond["fact"]), path, cond.line_of("fact"))

    def _validate_fact(self, name: str, path: Path, line: int | None) -> None:
        if self.contract is None:
            return
        top = name.split(".")[0]
        if top not in self.contract.facts:
            raise SourceError(
                path, line, f"unknown fact {name!r}{_suggest(top, self.contract.facts)}"
            )

    # -- packs -------------------------------------------------------------------------------

    def load_pack(self, path: Path, *, bilingual: bool) -> Pack | None:
        meta = _mapping(load_file(path), path, "pack file")
        _known_keys(meta, set(PACK_KEYS), path)
        for key, required in PACK_KEYS.items():
            if required and key not in meta:
                raise SourceError(path, meta.line, f"missing required key {key!r}")
        pack_id = _required(meta, "id", str, path)
        if pack_id != path.stem:
            raise SourceError(
                path, meta.line_of("id"), f"id {pack_id!r} must equal the file name {path.stem!r}"
            )
        pack_type = str(meta.get("type", "benchmark" if bilingual else "custom"))
        if pack_type not in PACK_TYPES:
            raise SourceError(path, meta.line_of("type"), f"type must be one of {PACK_TYPES}")
        kinds = _required(meta, "target_kinds", list, path)
        if self.kinds is not None and not self.kinds & {str(k) for k in kinds}:
            return None  # not for any target of this run
        sections = {}
        for sid, titles in _required(meta, "sections", dict, path).items():
            sections[str(sid)] = _texts(titles, path, meta["sections"].line_of(sid), bilingual)
        controls: dict[str, Control] = {}
        entries = _required(meta, "controls", dict, path)
        for cid, entry in entries.items():
            control = self._control(
                path, pack_id, str(cid), entry, entries.line_of(cid), sections, bilingual
            )
            controls[control.id] = control
        return Pack(
            id=pack_id,
            name=_required(meta, "name", str, path),
            version=str(_required(meta, "version", (str, int, float), path)),
            target_kinds=[str(k) for k in _required(meta, "target_kinds", list, path)],
            sections=sections,
            controls=controls,
            platform_versions=[str(v) for v in meta.get("platform_versions", [])],
            type=pack_type,
            source=str(path),
        )

    def _control(
        self,
        path: Path,
        pack_id: str,
        cid: str,
        entry: Any,
        line: int,
        sections: dict[str, Any],
        bilingual: bool,
    ) -> Control:
        entry = _mapping(entry, path, f"control {cid}")
        _known_keys(entry, PACK_CONTROL_KEYS, path)
        for key in ("check", "section", "level"):
            if key not in entry:
                raise SourceError(path, entry.line, f"control {cid}: missing {key!r}")
        slug = str(entry["check"])
        check = self.check(slug)
        if check is None:
            raise SourceError(
                path,
                entry.line_of("check"),
                f"control {cid}: unknown check {slug!r}{_suggest(slug, self.library)}",
            )
        section = str(entry["section"])
        if section not in sections:
            raise SourceError(
                path, entry.line_of("section"), f"control {cid}: unknown section {section!r}"
            )
        if not cid.startswith(section.split(".")[0]):
            raise SourceError(
                path, entry.line_of("section"), f"control {cid} is not in section {section}"
            )
        level = entry["level"]
        if level not in (1, 2):
            raise SourceError(path, entry.line_of("level"), f"control {cid}: level must be 1 or 2")
        values = {name: p.default for name, p in check.params.items()}
        for name, value in (entry.get("params") or {}).items():
            if name not in check.params:
                raise SourceError(
                    path,
                    entry.line_of("params"),
                    f"control {cid}: check {slug} has no parameter {name!r}",
                )
            values[name] = value
        title = (
            _texts(entry["title"], path, entry.line_of("title"), bilingual)
            if "title" in entry
            else check.title
        )
        logic = check.logic
        subject = None
        if logic and "each" in logic and self.contract is not None:
            subject = self.contract.subject(str(logic["each"]))
        tops = _fact_tops(logic or {}) + [f.split(".")[0] for f in check.evidence_facts]
        if logic and "each" in logic:
            tops.append(str(logic["each"]).split(".")[0])
        if logic and "file" in logic:
            tops.append("files")
        if check.applies_if:
            tops.extend(_fact_tops(check.applies_if))
        return Control(
            benchmark=pack_id,
            id=cid,
            section=section,
            title=title,
            level=level,
            profiles=[str(p) for p in entry.get("profiles", [])],
            cis_assessment=str(entry.get("cis_assessment", "")),
            automated=check.automated,
            targets=list(check.targets),
            roles=list(check.roles),
            texts=check.texts,
            snippet=check.snippet,
            references=check.references,
            check=logic,
            evidence_facts=check.evidence_facts,
            source=check.source,
            applies_if=check.applies_if,
            otherwise=check.otherwise,
            evidence_fields=check.evidence_fields,
            check_slug=slug,
            params=values,
            evidence_sections=self.contract.sections_of(dict.fromkeys(tops))
            if self.contract
            else [],
            subject=subject,
        )


def _fact_tops(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if "fact" in node and isinstance(node["fact"], str):
            found.append(node["fact"].split(".")[0])
        for value in node.values():
            found.extend(_fact_tops(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_fact_tops(value))
    return found


def _params(data: LineDict, path: Path) -> dict[str, Param]:
    raw = data.get("params") or {}
    if not isinstance(raw, dict):
        raise SourceError(path, data.line_of("params"), "params must be a mapping")
    params = {}
    for name, spec in raw.items():
        spec = _mapping(spec, path, f"parameter {name}")
        _known_keys(spec, {"default", "description"}, path)
        if "default" not in spec:
            raise SourceError(path, spec.line, f"parameter {name!r} needs a default")
        description = spec.get("description", "")
        params[str(name)] = Param(
            str(name),
            spec["default"],
            description if isinstance(description, str) else str(description.get("en", "")),
        )
    return params


def _add_framework(catalog: Catalog, framework: Framework) -> None:
    """Register a framework and note, on each control, the items it gives evidence for.

    A mapping names the controls of one benchmark version; the same checks under another
    version of that benchmark (CIS Docker 1.8.0's 2.8 is 1.6.0's 2.7) give the same
    evidence, so each item is extended to them: a mapping is written once."""
    if framework.id in catalog.frameworks:
        raise SourceError(framework.source, None, f"framework {framework.id!r} is defined twice")
    by_check: dict[tuple[str, str], list[str]] = {}
    for pack in catalog.packs.values():
        for control in pack.controls.values():
            by_check.setdefault((pack.name, control.check_slug), []).append(control.key)
    for item in framework.items:
        for role in ("controls", "supporting"):
            keys = getattr(item, role)
            extra = []
            for key in keys:
                pack_id, _, control_id = key.partition("/")
                pack = catalog.packs[pack_id]
                slug = pack.controls[control_id].check_slug
                extra += [k for k in by_check.get((pack.name, slug), []) if k not in keys]
            keys.extend(dict.fromkeys(extra))
    catalog.frameworks[framework.id] = framework
    for item in framework.items:
        for key in item.controls + item.supporting:
            pack_id, _, control_id = key.partition("/")
            control = catalog.packs[pack_id].controls[control_id]
            control.mappings.setdefault(framework.id, []).append(item.id)


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


def _texts(value: Any, path: Path, line: int | None, bilingual: bool) -> dict[str, str]:
    """A text in English and Chinese; a user's own pack may give English alone (reports
    then show the English text in Chinese documents too)."""
    if isinstance(value, str) and not bilingual:
        value = {"en": value}
    if not isinstance(value, dict):
        raise SourceError(path, line, "expected a mapping with 'en' and 'zh' texts")
    required = LANGS if bilingual else ("en",)
    missing = [lang for lang in required if not str(value.get(lang, "")).strip()]
    if missing:
        raise SourceError(
            path, getattr(value, "line", line), f"missing text in {', '.join(missing)}"
        )
    extra = set(value) - set(LANGS)
    if extra:
        raise SourceError(path, getattr(value, "line", line), f"unknown language {sorted(extra)}")
    return {lang: str(value[lang]).strip() for lang in LANGS if str(value.get(lang, "")).strip()}


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = [
    "Benchmark",
    "Catalog",
    "Check",
    "Control",
    "Pack",
    "Param",
    "Selected",
    "apply_tailoring",
    "control_sort_key",
    "default_checks_dir",
    "load_catalog",
]
