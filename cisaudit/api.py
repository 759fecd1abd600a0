"""The library API: ``audit`` an inventory, ``evaluate`` recorded evidence.

The CLI is a thin shell over these two functions; tests and other programs call them
directly. Collection runs in a bounded thread pool (one SSH connection per target);
evaluation and scoring are pure.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cisaudit import __version__
from cisaudit.catalog import Benchmark, Catalog, Control, load_catalog
from cisaudit.evidence import EvidenceError, TargetEvidence, load_bundle, write_bundle
from cisaudit.evaluate import FactSet, evaluate
from cisaudit.model import Result, Run, Status, TargetResult
from cisaudit.score import Report
from cisaudit.targets import Target


@dataclass
class Selection:
    """Which controls to run: by benchmark, level and id/section filters."""

    benchmark: str | None = None
    level: int | None = None
    only: Sequence[str] = ()
    skip: Sequence[str] = ()

    def matches(self, control: Control) -> bool:
        if self.level is not None and control.level > self.level:
            return False
        if self.only and not any(_id_matches(control, p) for p in self.only):
            return False
        return not any(_id_matches(control, p) for p in self.skip)


def _id_matches(control: Control, pattern: str) -> bool:
    pattern = pattern.strip()
    return (
        control.id == pattern or control.id.startswith(pattern + ".") or control.section == pattern
    )


@dataclass
class Outcome:
    run: Run
    evidence: list[TargetEvidence]

    @property
    def exit_code(self) -> int:
        return Report(self.run).exit_code

    def write(self, outdir: Path, *, gzip_evidence: bool = False) -> tuple[Path, Path]:
        """Write the evidence, then results.json bound to it (its name and SHA-256)."""
        import hashlib

        outdir.mkdir(parents=True, exist_ok=True)
        evidence = outdir / ("evidence.json.gz" if gzip_evidence else "evidence.json")
        write_bundle(
            evidence,
            self.evidence,
            {"run_id": self.run.run_id, "tool": {"name": "cisaudit", "version": __version__}},
        )
        self.run.evidence = {
            "file": evidence.name,
            "sha256": hashlib.sha256(evidence.read_bytes()).hexdigest(),
            "run_id": self.run.run_id,
            "modified": [],
        }
        return self.write_results(outdir), evidence

    def write_results(self, outdir: Path) -> Path:
        import json

        outdir.mkdir(parents=True, exist_ok=True)
        results = outdir / "results.json"
        results.write_text(
            json.dumps(self.run.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8"
        )
        return results


ProgressFn = Callable[[str, TargetEvidence | None], None]


def audit(
    targets: Iterable[Target] | str | Path,
    *,
    selection: Selection | None = None,
    concurrency: int = 16,
    timeout: float | None = None,
    accept_new_host_keys: bool = False,
    limit: Sequence[str] | None = None,
    catalog: Catalog | None = None,
    progress: ProgressFn | None = None,
) -> Outcome:
    """Collect from every target (in parallel, bounded) and evaluate. Never raises for one
    bad target: it becomes ERROR results with the reason. Ctrl-C keeps what finished."""
    if isinstance(targets, str | Path):
        from cisaudit.inventory import load_inventory

        targets = load_inventory(targets).select(list(limit) if limit else None)
    targets = [
        replace(t, command_timeout=timeout, connect_timeout=min(timeout, t.connect_timeout))
        if timeout
        else t
        for t in targets
    ]
    catalog = catalog or load_catalog()
    selection = selection or Selection()
    started = _now()
    collected: dict[str, TargetEvidence] = {}
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="cisaudit")
    futures: dict[Future[TargetEvidence], Target] = {
        pool.submit(collect_target, t, accept_new_host_keys): t for t in targets
    }
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                target = futures[future]
                collected[target.name] = future.result()
                if progress:
                    progress(target.name, collected[target.name])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    ordered = [collected.get(t.name) or _not_collected(t, interrupted) for t in targets]
    run = build_run(
        ordered,
        catalog=catalog,
        selection=selection,
        started=started,
        options=_options(selection, concurrency, timeout),
        interrupted=interrupted,
    )
    return Outcome(run, ordered)


MANAGED_ROLES = ("control-plane", "etcd")

# How each kind of target is reached and how its facts are derived. Entries are
# "module:function" so that optional dependencies (kubernetes) load only when used.
COLLECTORS: dict[str, tuple[str, str | None]] = {
    "docker-host": ("cisaudit.kinds.docker.collect:collect_docker_host", "ssh"),
    "local": ("cisaudit.kinds.docker.collect:collect_docker_host", "local"),
    "k8s-node": ("cisaudit.kinds.k8s_node.collect:collect_k8s_node", "ssh"),
    "k8s-cluster": ("cisaudit.kinds.k8s_cluster.collect:collect_k8s_cluster", None),
}
DERIVERS: dict[str, str] = {
    "docker-host": "cisaudit.kinds.docker.derive:derive",
    "local": "cisaudit.kinds.docker.derive:derive",
    "k8s-node": "cisaudit.kinds.k8s_node.derive:derive",
    "k8s-cluster": "cisaudit.kinds.k8s_cluster.derive:derive",
}


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def collect_target(target: Target, accept_new_host_keys: bool = False) -> TargetEvidence:
    """Reach one target and collect its evidence; failures are recorded, not raised.

    This is the fault boundary of collection: whatever goes wrong with one target (a
    refused jump channel, a bug met on one host's odd output) becomes that target's
    error with the reason, and every other target is audited as usual."""
    try:
        return _collect_target(target, accept_new_host_keys)
    except Exception as exc:  # the boundary: recorded as this target's error, never lost
        return TargetEvidence(
            name=target.name,
            kind=target.kind,
            address=target.address,
            groups=list(target.groups),
            roles=list(target.roles),
            collected_at=_now(),
            error=f"collection failed: {_describe(exc)}",
        )


def _describe(exc: BaseException) -> str:
    from cisaudit.redact import scrub_text

    return scrub_text(f"{type(exc).__name__}: {exc}")[:1000]


def _collect_target(target: Target, accept_new_host_keys: bool) -> TargetEvidence:
    from cisaudit.transport import TransportError
    from cisaudit.transport.local import LocalTransport
    from cisaudit.transport.ssh import SSHTransport

    if target.kind == "bundle":
        return _from_bundle(target)
    if target.kind not in COLLECTORS:
        return TargetEvidence(
            name=target.name,
            kind=target.kind,
            address=target.address,
            groups=list(target.groups),
            error=f"targets of kind {target.kind!r} are not supported",
        )
    collector_ref, transport_kind = COLLECTORS[target.kind]
    try:
        collector = _load(collector_ref)
    except ImportError as exc:
        return TargetEvidence(
            name=target.name,
            kind=target.kind,
            address=target.address,
            groups=list(target.groups),
            collected_at=_now(),
            error=f"collector for {target.kind} unavailable: {exc}",
        )
    if transport_kind is None:
        return collector(target)
    try:
        transport = (
            LocalTransport(target)
            if transport_kind == "local"
            else SSHTransport(target, accept_new_host_keys=accept_new_host_keys)
        )
    except TransportError as exc:
        return TargetEvidence(
            name=target.name,
            kind=target.kind,
            address=target.address,
            groups=list(target.groups),
            roles=list(target.roles),
            collected_at=_now(),
            error=str(exc),
        )
    try:
        return collector(target, transport)
    finally:
        transport.close()


def _from_bundle(target: Target) -> TargetEvidence:
    try:
        recorded = load_bundle(Path(target.path or "")).targets
    except EvidenceError as exc:
        return TargetEvidence(name=target.name, kind="bundle", error=f"cannot use bundle: {exc}")
    for item in recorded:
        if item.name == target.name or len(recorded) == 1:
            return item
    return TargetEvidence(name=target.name, kind="bundle", error="target not found in bundle")


def evaluate_bundle(
    path: Path,
    *,
    selection: Selection | None = None,
    catalog: Catalog | None = None,
    allow_modified_evidence: bool = False,
) -> Outcome:
    """Re-evaluate a recorded evidence bundle offline: same facts, same verdicts.

    The bundle's hashes are checked first: a section whose output no longer matches
    its SHA-256 makes this raise EvidenceError, unless ``allow_modified_evidence``; the
    results then list those sections (``run.evidence["modified"]``) and reports say so."""
    bundle = load_bundle(path, allow_modified=allow_modified_evidence)
    run = build_run(
        bundle.targets,
        catalog=catalog or load_catalog(),
        selection=selection or Selection(),
        started=_now(),
        options={"evaluated_from": str(path), "original_run_id": bundle.meta.get("run_id")},
    )
    run.evidence = {
        "file": path.name,
        "sha256": bundle.sha256,
        "run_id": bundle.meta.get("run_id"),
        "modified": bundle.modified,
    }
    return Outcome(run, bundle.targets)


def build_run(
    evidence: list[TargetEvidence],
    *,
    catalog: Catalog,
    selection: Selection,
    started: str,
    options: dict[str, Any],
    interrupted: bool = False,
) -> Run:
    targets: list[TargetResult] = []
    controls = {}
    sections: dict[str, dict[str, dict[str, str]]] = {}
    for item in evidence:
        bench = _benchmark_for(item, catalog, selection)
        chosen = (
            [c for c in catalog.applicable(bench, item.kind, item.roles) if selection.matches(c)]
            if bench
            else []
        )
        if bench and item.kind == "k8s-cluster":
            # Node-side control-plane controls, reported NOT_APPLICABLE when the provider
            # runs the control plane (a managed cluster): nobody can SSH to those nodes.
            chosen += [
                c
                for c in catalog.applicable(bench, "k8s-node", MANAGED_ROLES)
                if c.roles
                and set(c.roles) <= set(MANAGED_ROLES)
                and selection.matches(c)
                and c not in chosen
            ]
        for control in chosen:
            controls[control.key] = control.info()
        if bench:
            sections[bench.id] = bench.sections
        targets.append(evaluate_target(item, bench, chosen))
    run = Run(
        run_id=str(uuid.uuid4()),
        tool_version=__version__,
        started_at=started,
        finished_at=_now(),
        benchmarks=sorted(sections),
        options=options,
        targets=targets,
        controls=controls,
        sections=sections,
        interrupted=interrupted,
    )
    run.summary = Report(run).summary()
    return run


def _benchmark_for(
    item: TargetEvidence, catalog: Catalog, selection: Selection
) -> Benchmark | None:
    if selection.benchmark:
        bench = catalog.benchmarks.get(selection.benchmark)
        return (
            bench
            if bench and item.kind in bench.target_kinds
            else catalog.pick(item.kind, item.platform_version)
        )
    return catalog.pick(item.kind, item.platform_version)


def evaluate_target(
    item: TargetEvidence, bench: Benchmark | None, controls: list[Control]
) -> TargetResult:
    result = TargetResult(
        name=item.name,
        kind=item.kind,
        address=item.address,
        groups=item.groups,
        benchmark=bench.id if bench else "",
        reachable=item.error is None,
        error=item.error,
        started_at=item.collected_at,
        duration_s=item.duration_s,
        remote_calls=item.remote_calls,
    )
    if bench is None:
        result.reachable = False
        result.error = item.error or f"no benchmark for targets of kind {item.kind!r}"
        return result
    if item.error is not None:
        result.results = [
            Result(c.id, Status.ERROR, reason=f"target not audited: {item.error}") for c in controls
        ]
        return result
    try:
        values, errors = _load(DERIVERS[item.kind])(item.sections)
        result.facts_summary = {**_facts_summary(values), "fact_errors": errors}
    except Exception as exc:  # one target's unreadable evidence: that target's ERROR
        reason = f"its evidence could not be read into facts: {_describe(exc)}"
        result.reachable = False
        result.error = reason
        result.results = [Result(c.id, Status.ERROR, reason=reason) for c in controls]
        return result
    facts = FactSet(values, errors)
    node_side = [
        c for c in controls if item.kind == "k8s-cluster" and "k8s-cluster" not in c.targets
    ]
    if node_side and not (values.get("cluster") or {}).get("managed"):
        controls = [c for c in controls if c not in node_side]  # the nodes' own targets judge them
        node_side = []
    result.results = [_evaluate_safely(c, facts) for c in controls if c not in node_side] + [
        Result(
            c.id,
            Status.NOT_APPLICABLE,
            reason="managed control plane: the provider operates these nodes and gives no SSH "
            "access to them; ask the provider for its attestation",
        )
        for c in node_side
    ]
    return result


def _evaluate_safely(control: Control, facts: FactSet) -> Result:
    """One control's verdict; a failure while evaluating it is that control's ERROR."""
    try:
        return evaluate(control, facts)
    except Exception as exc:  # the boundary: this control could not be judged
        return Result(control.id, Status.ERROR, reason=f"evaluation failed: {_describe(exc)}")


def _facts_summary(values: dict[str, Any]) -> dict[str, Any]:
    """A few headline facts for reports (engine/platform version, object counts, OS)."""
    if "summary" in values:  # derivers for other kinds provide their own
        return dict(values["summary"])
    return {
        "engine_version": (values.get("engine") or {}).get("server_version"),
        "containers": len(values.get("containers") or []),
        "images": len(values.get("images") or []),
        "os": ((values.get("host") or {}).get("os") or {}).get("PRETTY_NAME"),
        "audit_uid": (values.get("host") or {}).get("uid"),
    }


def _not_collected(target: Target, interrupted: bool) -> TargetEvidence:
    reason = "interrupted before this target finished" if interrupted else "not collected"
    return TargetEvidence(
        name=target.name,
        kind=target.kind,
        address=target.address,
        groups=list(target.groups),
        error=reason,
    )


def _options(selection: Selection, concurrency: int, timeout: float | None) -> dict[str, Any]:
    return {
        "benchmark": selection.benchmark,
        "level": selection.level,
        "only": list(selection.only),
        "skip": list(selection.skip),
        "concurrency": concurrency,
        "timeout": timeout,
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
