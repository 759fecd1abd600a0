"""Evaluation: a pure function from (control, facts) to a Result.

No I/O and no globals: the same facts always give the same verdict, which is what lets
``cisaudit evaluate`` re-run an audit offline and lets tests run on recorded facts.

Facts are a nested dict; ``errors`` maps a top-level fact name to the reason it could not
be collected. A control that needs a fact that could not be collected is ``ERROR`` with
that reason: never a silent PASS or FAIL.

``out_of_reach`` maps facts that a kind of target cannot show at all (the host's files and
processes behind an engine reached only over its API) to the reason. A control that needs
one is ``NOT_APPLICABLE`` with that reason, unless it is decided without it: ``any``
with another branch true, ``all`` with another branch false (three-valued logic).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cisaudit.catalog import Control
from cisaudit.catalog.operators import OPERATORS, describe
from cisaudit.model import Offender, Result, Status


@dataclass
class FactSet:
    """The facts of one target, plus the reasons for those that could not be collected."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    scope: str | None = None  # the collection an ``each`` check iterates
    params: dict[str, Any] = field(default_factory=dict)  # the control's parameter values
    out_of_reach: dict[str, str] = field(default_factory=dict)
    reached: frozenset[str] = frozenset()  # parts of an out-of-reach fact that were seen

    def get(self, name: str) -> Any:
        parts = name.split(".")
        # An error may be recorded for a whole fact ("containers") or a part of one
        # ("cluster.pods": that kind was forbidden while the rest of the cluster was read).
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in self.errors:
                raise MissingFact(prefix, self.errors[prefix])
            if prefix in self.out_of_reach and name not in self.reached:
                raise OutOfReach(prefix, self.out_of_reach[prefix])
        if parts[0] not in self.values:
            raise MissingFact(parts[0], f"fact {parts[0]!r} was not collected for this target")
        return dig(self.values, name)

    def check_item_path(self, path: str) -> None:
        """Inside ``each``: an error recorded for a field of the collection's items (e.g.
        ``cluster.pods.cis.automount_token``) makes every read of that field an ERROR."""
        if self.scope:
            name = f"{self.scope}.{path}"
            for key, reason in self.errors.items():
                if name == key or name.startswith(key + "."):
                    raise MissingFact(key, reason)
            for key, reason in self.out_of_reach.items():
                if name == key or name.startswith(key + "."):
                    raise OutOfReach(key, reason)

    def scoped(self, collection: str | None) -> FactSet:
        return replace(self, scope=collection)

    def with_params(self, params: dict[str, Any]) -> FactSet:
        return replace(self, params=params)

    def param(self, name: str) -> Any:
        return self.params[name]


class MissingFact(Exception):
    def __init__(self, fact: str, reason: str) -> None:
        super().__init__(reason)
        self.fact = fact
        self.reason = reason


class OutOfReach(MissingFact):
    """The fact exists on the target, but this kind of target cannot show it."""


def dig(data: Any, path: str) -> Any:
    """Follow a dotted path through dicts (and list indices); missing -> None."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None:
            return None
    return current


@dataclass
class Trace:
    """What a condition looked at: (subject path, observed value, expectation) triples."""

    seen: list[tuple[str, Any, str]] = field(default_factory=list)

    def add(self, where: str, observed: Any, expected: str) -> None:
        self.seen.append((where, observed, expected))


def check_condition(cond: dict[str, Any], facts: FactSet, item: Any, trace: Trace) -> bool:
    """Evaluate one condition tree. ``item`` is the current subject for ``path`` lookups."""
    if "all" in cond:
        unknown: OutOfReach | None = None
        for part in cond["all"]:
            try:
                if not check_condition(part, facts, item, trace):
                    return False
            except OutOfReach as exc:
                unknown = unknown or exc
        if unknown is not None:
            raise unknown
        return True
    if "any" in cond:
        sub = Trace()
        unknown = None
        try:
            for part in cond["any"]:
                try:
                    if check_condition(part, facts, item, sub):
                        return True
                except OutOfReach as exc:
                    unknown = unknown or exc
        finally:
            trace.seen.extend(sub.seen)
        if unknown is not None:
            raise unknown
        return False
    if "not" in cond:
        sub = Trace()
        ok = not check_condition(cond["not"], facts, item, sub)
        trace.seen.extend((w, o, f"not ({e})") for w, o, e in sub.seen)
        return ok
    if "fact" in cond:
        subject = facts.get(cond["fact"])
    else:
        facts.check_item_path(cond["path"])
        subject = dig(item, cond["path"])
    where = str(cond.get("label") or cond.get("fact") or cond.get("path"))
    for quantifier in ("any_item", "every_item", "no_item"):
        if quantifier in cond:
            items = subject or []
            inner = cond[quantifier]
            hits = [x for x in items if check_condition(inner, facts, x, Trace())]
            trace.add(
                where,
                items if quantifier != "every_item" else len(items),
                quantifier.replace("_", " "),
            )
            if quantifier == "any_item":
                return bool(hits)
            if quantifier == "every_item":
                return len(hits) == len(items)
            return not hits
    expected = _value(cond.get("value"), facts)
    op = cond["op"]
    ok = OPERATORS[op](subject, expected)
    trace.add(str(where), subject, describe(op, expected))
    return ok


def _value(value: Any, facts: FactSet) -> Any:
    """A condition's expected value: a literal, ``{fact: NAME}`` or ``{param: NAME}``."""
    if isinstance(value, dict) and "fact" in value:
        return facts.get(value["fact"])
    if isinstance(value, dict) and "param" in value:
        return facts.param(value["param"])
    return value


def evaluate(control: Control, facts: FactSet, params: dict[str, Any] | None = None) -> Result:
    """Decide one control on one target's facts, with its parameters (the control's own
    values unless ``params`` gives others)."""
    facts = facts.with_params(dict(control.params if params is None else params))
    if control.applies_if is not None:
        try:
            if not check_condition(control.applies_if, facts, None, Trace()):
                return Result(
                    control.id,
                    Status.NOT_APPLICABLE,
                    reason=control.otherwise,
                    evidence=_evidence(control, facts),
                )
        except MissingFact as missing:
            return _missing(control, facts, missing)
    if not control.automated or control.check is None:
        return _manual(control, facts)
    check = control.check
    try:
        if "when" in check and not check_condition(check["when"], facts, None, Trace()):
            return Result(
                control.id,
                Status.NOT_APPLICABLE,
                reason=check["otherwise"],
                evidence=_evidence(control, facts),
            )
        if "each" in check:
            return _evaluate_each(control, check, facts)
        if "file" in check:
            return _evaluate_file(control, check, facts)
        return _evaluate_host(control, check, facts)
    except MissingFact as missing:
        return _missing(control, facts, missing)


def _missing(control: Control, facts: FactSet, missing: MissingFact) -> Result:
    """A fact the control needs is out of this target's reach (NOT_APPLICABLE) or could
    not be collected (ERROR), with the reason."""
    if isinstance(missing, OutOfReach):
        return Result(
            control.id,
            Status.NOT_APPLICABLE,
            reason=missing.reason,
            evidence=_evidence(control, facts),
        )
    return Result(
        control.id,
        Status.ERROR,
        reason=f"could not collect {missing.fact}: {missing.reason}",
        evidence=_evidence(control, facts),
    )


def _evaluate_host(control: Control, check: dict[str, Any], facts: FactSet) -> Result:
    trace = Trace()
    ok = check_condition(check["test"], facts, None, trace)
    observed, expected = _summarise(trace)
    if ok and _needs_review(check, facts, None):
        return _review(control, check, observed, expected, _evidence(control, facts))
    return Result(
        control.id,
        Status.PASS if ok else Status.FAIL,
        observed=observed,
        expected=expected,
        remediation=_snippet(control, ok, params=facts.params),
        evidence=_evidence(control, facts),
    )


def _evaluate_file(control: Control, check: dict[str, Any], facts: FactSet) -> Result:
    name = check["file"]
    record = facts.get(f"files.{name}")
    facts = facts.scoped(f"files.{name}")  # errors on one field of the record, e.g. audited
    evidence = _evidence(control, facts)
    if record is None:
        return Result(
            control.id,
            Status.NOT_APPLICABLE,
            evidence=evidence,
            reason=f"{name.replace('_', ' ')}: not present on this host",
        )
    path = record.get("path", name)
    if record.get("error"):
        return Result(
            control.id, Status.ERROR, reason=f"{path}: {record['error']}", evidence=evidence
        )
    if not record.get("exists"):
        return Result(
            control.id,
            Status.NOT_APPLICABLE,
            reason=f"{path} does not exist",
            observed={"path": path, "exists": False},
            evidence=evidence,
        )
    trace = Trace()
    ok = check_condition(check["test"], facts, record, trace)
    _, expected = _summarise(trace)
    observed = {"path": path, **{where: obs for where, obs, _ in trace.seen}}
    if ok and _needs_review(check, facts, record):
        return _review(
            control,
            check,
            observed,
            expected,
            evidence,
            [Offender(kind="file", name=path, observed=observed)],
        )
    offenders = [] if ok else [Offender(kind="file", name=path, observed=observed)]
    return Result(
        control.id,
        Status.PASS if ok else Status.FAIL,
        observed=observed,
        expected=expected,
        offenders=offenders,
        evidence=evidence,
        remediation=_snippet(control, ok, path=path, params=facts.params),
    )


def _evaluate_each(control: Control, check: dict[str, Any], facts: FactSet) -> Result:
    collection = check["each"]
    items = facts.get(collection) or []
    facts = facts.scoped(collection)
    if "where" in check:
        items = [x for x in items if check_condition(check["where"], facts, x, Trace())]
    evidence = _evidence(control, facts)
    if not items:
        # Usually nothing to judge (NOT_APPLICABLE); for a collection of *offending* things
        # (e.g. roles with wildcards) an empty list is the passing case: empty_status: PASS.
        reason = check.get("empty", f"no {collection.replace('_', ' ')} to check")
        status = Status(check.get("empty_status", Status.NOT_APPLICABLE.value))
        return Result(
            control.id,
            status,
            reason=reason,
            evidence=evidence,
            observed={"checked": 0, "failing": 0} if status is Status.PASS else None,
        )
    subject = control.subject
    name_path = check.get("name", subject.name if subject else "cis.name")
    id_paths = subject.id if subject else ("cis.id",)
    kind = check.get("kind", collection.rstrip("s"))
    offenders, reviews, unjudged = [], [], []
    unreached: OutOfReach | None = None
    for item in items:
        malformed = dig(item, "cis.malformed")
        if malformed:
            # a manifest the derivation could not read: that object is unknown, not failed
            unjudged.append(
                Offender(kind=kind, name=str(dig(item, name_path)), observed=str(malformed))
            )
            continue
        trace = Trace()
        try:
            ok = check_condition(check["test"], facts, item, trace)
        except OutOfReach as exc:
            # decided by a fact this target cannot show: neither passed nor failed
            unreached = unreached or exc
            continue
        if not ok:
            observed, _ = _summarise(trace)
            offenders.append(
                Offender(
                    kind=kind,
                    name=str(dig(item, name_path)),
                    id=_identity(item, id_paths),
                    observed=observed,
                )
            )
        elif _needs_review(check, facts, item):
            reviews.append(
                Offender(
                    kind=kind,
                    name=str(dig(item, name_path)),
                    id=_identity(item, id_paths),
                )
            )
    expected = _expected_of(check["test"], facts)
    observed = {"checked": len(items), "failing": len(offenders)}
    if unjudged:
        observed["unreadable"] = len(unjudged)
    unread = (
        f"; {len(unjudged)} could not be read: "
        + "; ".join(str(o.observed) for o in unjudged[:3])
        + (" ..." if len(unjudged) > 3 else "")
        if unjudged
        else ""
    )
    if offenders:
        names = ", ".join(o.name for o in offenders[:5]) + (" ..." if len(offenders) > 5 else "")
        return Result(
            control.id,
            Status.FAIL,
            reason=f"{len(offenders)} of {len(items)} {collection.replace('_', ' ')} fail: {names}"
            + unread,
            observed=observed,
            expected=expected,
            offenders=offenders,
            evidence=evidence,
            remediation=_snippet(
                control, False, names=[o.name for o in offenders], params=facts.params
            ),
        )
    if unreached is not None:
        return _missing(control, facts, unreached)
    if unjudged:
        return Result(
            control.id,
            Status.ERROR,
            reason=f"the other {len(items) - len(unjudged)} "
            f"{collection.replace('_', ' ')} pass{unread}",
            observed=observed,
            expected=expected,
            offenders=unjudged,
            evidence=evidence,
        )
    if reviews:
        return _review(control, check, observed, expected, evidence, reviews)
    return Result(control.id, Status.PASS, observed=observed, expected=expected, evidence=evidence)


def _identity(item: Any, paths: tuple[str, ...]) -> Any:
    for path in paths:
        found = dig(item, path)
        if found:
            return found
    return None


def _needs_review(check: dict[str, Any], facts: FactSet, item: Any) -> bool:
    """A passing subject that a person must still confirm (the check's ``review``)."""
    return "review" in check and check_condition(check["review"], facts, item, Trace())


def _review(
    control: Control,
    check: dict[str, Any],
    observed: Any,
    expected: Any,
    evidence: list[str],
    offenders: list[Offender] | None = None,
) -> Result:
    return Result(
        control.id,
        Status.MANUAL,
        reason=check.get("review_reason", "needs review"),
        observed=observed,
        expected=expected,
        offenders=offenders or [],
        evidence=evidence,
    )


def _manual(control: Control, facts: FactSet) -> Result:
    observed = {}
    for name in control.evidence_facts:
        try:
            value = facts.get(name)
        except MissingFact as missing:
            observed[name] = f"(not collected: {missing.reason})"
            continue
        fields = control.evidence_fields.get(name)
        observed[name] = _project(value, fields) if fields else value
    return Result(
        control.id,
        Status.MANUAL,
        reason="needs a reviewer's judgement; see the audit steps",
        observed=observed or None,
        evidence=_evidence(control, facts),
    )


def _project(value: Any, fields: list[str]) -> Any:
    """Only the named fields of an object, of each object of a list, or of each list of a
    group of lists ({validating: [...], mutating: [...]})."""
    if isinstance(value, list):
        return [_project(item, fields) for item in value]
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return {key: _project(items, fields) for key, items in value.items()}
    if isinstance(value, dict):
        return {name: dig(value, name) for name in fields}
    return value


def _summarise(trace: Trace) -> tuple[Any, Any]:
    if not trace.seen:
        return None, None
    if len(trace.seen) == 1:
        _, observed, expected = trace.seen[0]
        return observed, expected
    return (
        {where: obs for where, obs, _ in trace.seen},
        {where: exp for where, _, exp in trace.seen},
    )


def _expected_of(cond: dict[str, Any], facts: FactSet) -> Any:
    """The expectation in words, for per-item checks (independent of any one item)."""
    if "op" in cond:
        given = cond.get("value")
        try:
            value = _value(given, facts)
        except MissingFact:
            value = given["fact"] if isinstance(given, dict) else given
        return f"{cond.get('label') or cond.get('path') or cond.get('fact')}: {describe(cond['op'], value)}"
    for key in ("all", "any"):
        if key in cond:
            joiner = " and " if key == "all" else " or "
            return joiner.join(str(_expected_of(c, facts)) for c in cond[key])
    if "not" in cond:
        return f"not ({_expected_of(cond['not'], facts)})"
    quantifier = next(q for q in ("any_item", "every_item", "no_item") if q in cond)
    inner = _expected_of(cond[quantifier], facts)
    return f"{quantifier.replace('_', ' ')} of {cond.get('label') or cond.get('path') or cond.get('fact')}: {inner}"


def _snippet(
    control: Control,
    ok: bool,
    *,
    path: str | None = None,
    names: list[str] | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    """The remediation snippet specialised for this target (only for failures)."""
    if ok:
        return ""
    text = control.snippet.get("text", "")
    for name, value in (params or {}).items():
        text = text.replace("{" + name + "}", str(value))
    if path:
        text = text.replace("{path}", path)
    if names is not None:
        text = text.replace("{names}", " ".join(names))
    return text


def _evidence(control: Control, facts: FactSet) -> list[str]:
    """The raw evidence sections behind this control that this target has (a section
    ``x.*`` of the facts contract stands for every section named ``x....``)."""
    available = facts.values.get("_evidence_keys")
    keys: list[str] = []
    for key in control.evidence_sections:
        if key.endswith(".*"):
            keys.extend(k for k in available or [] if k.startswith(key[:-1]))
        elif available is None or key in available:
            keys.append(key)
    return list(dict.fromkeys(keys))
