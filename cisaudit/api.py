"""The library API: ``audit`` an inventory, ``evaluate`` recorded evidence.

The CLI is a thin shell over these functions; tests and other programs call them
directly. The pipeline: plan (which packs run on which target), collect (a bounded
thread pool, one SSH connection per target), derive (facts, per kind), evaluate (pure),
score. Faults are contained where they happen: a target that cannot be collected or
derived is that target's ERROR, a control that cannot be evaluated is that control's.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cisaudit import __version__
from cisaudit.catalog import Catalog, Control, Pack, apply_tailoring, tailor_frameworks
from cisaudit.catalog import load_catalog as _load_catalog
from cisaudit.catalog.frameworks import Framework
from cisaudit.evaluate import FactSet, evaluate
from cisaudit.evidence import (
    EvidenceError,
    EvidenceSpool,
    TargetEvidence,
    load_bundle,
    write_bundle,
)
from cisaudit.imagepolicy.policy import ImagePolicy
from cisaudit.imagepolicy.scans import ScanIndex
from cisaudit.kinds import CONTRACT, KINDS
from cisaudit.model import Offender, Result, Run, Status, TargetResult, dump_run
from cisaudit.rollup import rescore
from cisaudit.score import Report
from cisaudit.targets import Target
from cisaudit.waivers import WaiverSet, apply_waivers
from cisaudit.yamlsrc import LineDict

POLICY_PACK = "image-policy"


def load_catalog(
    root: Path | None = None,
    *,
    extra: Sequence[Path] = (),
    tailoring: dict[str, dict[str, Any]] | None = None,
    kinds: Iterable[str] | None = None,
    policy: bool = False,
) -> Catalog:
    """The catalog (built-in, plus the user packs in ``extra``), checked against the facts
    every kind of target offers; with ``kinds``, only the packs (and checks) for targets of
    those kinds, which is all a run needs; with ``policy``, the image-policy pack too."""
    catalog = _load_catalog(root, extra=extra, contract=CONTRACT, kinds=kinds, policy=policy)
    if tailoring is not None:
        source = getattr(tailoring, "source", "") or "tailoring"
        apply_tailoring(catalog, tailoring, source)
        tailor_frameworks(catalog, getattr(tailoring, "frameworks", None) or {}, source)
    return catalog


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def bulk_objects() -> Iterator[None]:
    """While the pipeline builds facts from large object lists (a 5,000-pod cluster makes
    millions of dicts and lists, none of them in cycles), the cyclic garbage collector
    runs rarely instead of every 700 allocations, which otherwise triples the time.

    This is the run's policy, set here where the run is orchestrated (never inside a
    pure function): reentrant, shared by the collection threads, and undone when the
    last holder leaves."""
    global _gc_holders, _gc_saved
    with _gc_lock:
        if _gc_holders == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(100_000, _gc_saved[1], _gc_saved[2])
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0:
                gc.set_threshold(*_gc_saved)


def load_tailoring(path: Path) -> dict[str, dict[str, Any]]:
    """A tailoring file::

        params: {<check slug or pack/control>: {<parameter>: value}}
        frameworks: {<framework id>: {<check slug>: {<parameter>: value}}}

    ``frameworks`` changes the values a framework judges against (an assessor agreed, say,
    that audit logs shipped to a central store may rotate locally after 30 days); the
    report says which values each verdict was judged against. Unknown checks, controls,
    frameworks and parameters are refused when the catalog applies it."""
    from cisaudit.yamlsrc import SourceError, load_file

    data = load_file(path)
    if not isinstance(data, LineDict) or not data or set(data) - {"params", "frameworks"}:
        raise SourceError(
            path,
            getattr(data, "line", None),
            "a tailoring file is a mapping of params: and frameworks:",
        )
    params = data.get("params") or LineDict()
    if not isinstance(params, LineDict) or not all(isinstance(v, dict) for v in params.values()):
        raise SourceError(
            path,
            data.line_of("params"),
            "params: maps a check slug or pack/control to {parameter: value}",
        )
    frameworks = data.get("frameworks") or LineDict()
    if not isinstance(frameworks, LineDict) or not all(
        isinstance(v, dict) and all(isinstance(p, dict) for p in v.values())
        for v in frameworks.values()
    ):
        raise SourceError(
            path,
            data.line_of("frameworks"),
            "frameworks: maps a framework id to {check slug: {parameter: value}}",
        )
    tailoring = Tailoring(params)
    tailoring.line, tailoring.key_lines = params.line, dict(getattr(params, "key_lines", {}))
    tailoring.source = str(path)  # errors about its entries name the file
    tailoring.frameworks = frameworks
    return tailoring


class Tailoring(LineDict):
    """A tailoring file's ``params`` (by check or control), with its ``frameworks``."""

    frameworks: dict[str, dict[str, dict[str, Any]]]


@dataclass
class Selection:
    """Which controls to run: benchmark, level, and control ids, sections or check slugs."""

    benchmark: str | None = None
    level: int | None = None
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    # Frameworks rolled up and rendered: None = every one mapped onto the packs judged.
    frameworks: Sequence[str] | None = None
    # The organisation's image policy (--policy) and scanner reports (--scanner-report):
    # the image-policy pack runs only with a policy, and only the controls it sets.
    policy: ImagePolicy | None = None
    scans: ScanIndex | None = None

    def matches(self, control: Control) -> bool:
        if control.benchmark == POLICY_PACK and (
            self.policy is None or control.check_slug not in self.policy.checks()
        ):
            return False
        if self.level is not None and control.level > self.level:
            return False
        if self.only and not any(_id_matches(control, p) for p in self.only):
            return False
        return not any(_id_matches(control, p) for p in self.skip)


def _id_matches(control: Control, pattern: str) -> bool:
    pattern = pattern.strip()
    return (
        control.id == pattern
        or control.id.startswith(pattern + ".")
        or control.section == pattern
        or control.check_slug == pattern
    )


@dataclass
class Outcome:
    run: Run
    # what each target returned: a list, or (from ``audit``) a spool on disk read back
    # one target at a time
    evidence: Sequence[TargetEvidence]

    @property
    def exit_code(self) -> int:
        return Report(self.run).exit_code

    def write(self, outdir: Path, *, gzip_evidence: bool = False) -> tuple[Path, Path]:
        """Write the evidence, then results.json bound to it (its name and SHA-256)."""
        outdir.mkdir(parents=True, exist_ok=True)
        evidence = outdir / ("evidence.json.gz" if gzip_evidence else "evidence.json")
        write_bundle(
            evidence,
            self.evidence,
            {
                "run_id": self.run.run_id,
                "tool": {"name": "cisaudit", "version": __version__},
                "scope": self.run.options.get("scope"),
            },
        )
        digest = hashlib.sha256()
        with open(evidence, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        self.run.evidence = {
            "file": evidence.name,
            "sha256": digest.hexdigest(),
            "run_id": self.run.run_id,
            "modified": [],
        }
        return self.write_results(outdir), evidence

    def write_results(self, outdir: Path) -> Path:
        outdir.mkdir(parents=True, exist_ok=True)
        results = outdir / "results.json"
        with open(results, "w", encoding="utf-8") as fh:
            dump_run(self.run, fh)
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
    waivers: WaiverSet | None = None,
    executor: str | None = None,
) -> Outcome:
    """Collect from every target (in parallel, bounded) and evaluate. Never raises for one
    bad target: it becomes ERROR results with the reason. Ctrl-C keeps what finished.

    ``executor``: None or "local" (threads here), or "dask://HOST:PORT" (shards collected
    on a Dask cluster's workers, cisaudit.scale); an unreachable scheduler raises
    ExecutorUnavailable before any work starts."""
    if isinstance(targets, str | Path):
        from cisaudit.inventory import load_inventory

        targets = load_inventory(targets).select(list(limit) if limit else None)
    targets = [
        replace(t, command_timeout=timeout, connect_timeout=min(timeout, t.connect_timeout))
        if timeout
        else t
        for t in targets
    ]
    selection = selection or Selection()
    catalog = catalog or load_catalog(policy=selection.policy is not None)
    started = _now()
    from cisaudit.scale import collect_on_dask, parse_executor

    address = parse_executor(executor)
    builder = RunBuilder(catalog, selection)
    spool = EvidenceSpool()
    judged: list[TargetResult | None] = [None] * len(targets)

    def arrived(
        position: int, evidence: TargetEvidence, result: TargetResult | None = None
    ) -> None:
        # judged (here, or on a Dask worker) and written to disk as each target answers;
        # only its results stay in memory
        judged[position] = builder.share(result if result is not None else builder.judge(evidence))
        spool.add(evidence)
        if progress is not None:
            progress(evidence.name, evidence)

    if address is not None:
        interrupted = collect_on_dask(
            address,
            targets,
            accept_new_host_keys=accept_new_host_keys,
            concurrency=concurrency,
            sink=arrived,
            catalog=catalog,
            selection=selection,
            absorb=lambda shard: builder.absorb(shard.controls, shard.sections),
        )
    else:
        interrupted = _collect_here(targets, concurrency, accept_new_host_keys, arrived)
    for position, target in enumerate(targets):
        if judged[position] is None:
            missing = _not_collected(target, interrupted)
            judged[position] = builder.judge(missing)
            spool.add(missing)
    spool.order([t.name for t in targets])
    run = builder.run(
        [r for r in judged if r is not None],
        started=started,
        options=_options(selection, concurrency, timeout),
        interrupted=interrupted,
        waivers=waivers,
    )
    return Outcome(run, spool)


def _collect_here(
    targets: Sequence[Target],
    concurrency: int,
    accept_new_host_keys: bool,
    sink: Callable[[int, TargetEvidence], None],
) -> bool:
    """Collect on this machine, ``concurrency`` targets at once, handing each target's
    evidence to ``sink`` (with its position) as it arrives; whether Ctrl-C stopped it."""
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="cisaudit")
    futures: dict[Future[TargetEvidence], int] = {
        pool.submit(collect_target, t, accept_new_host_keys): n for n, t in enumerate(targets)
    }
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                sink(futures.pop(future), future.result())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return interrupted


def collect_target(target: Target, accept_new_host_keys: bool = False) -> TargetEvidence:
    """Reach one target and collect its evidence; failures are recorded, not raised.

    This is the fault boundary of collection: whatever goes wrong with one target (a
    refused jump channel, a bug met on one host's odd output) becomes that target's
    error with the reason, and every other target is audited as usual."""
    try:
        with bulk_objects():
            return _collect_target(target, accept_new_host_keys)
    except Exception as exc:  # the boundary: recorded as this target's error, never lost
        return _failed(target, f"collection failed: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    from cisaudit.redact import scrub_text

    return scrub_text(f"{type(exc).__name__}: {exc}")[:1000]


def _failed(target: Target, error: str, kind: str | None = None) -> TargetEvidence:
    return TargetEvidence(
        name=target.name,
        kind=kind or target.kind,
        address=target.address,
        groups=list(target.groups),
        roles=list(target.roles),
        collected_at=_now(),
        error=error,
    )


def _collect_target(target: Target, accept_new_host_keys: bool) -> TargetEvidence:
    from cisaudit.transport import TransportError

    if target.kind == "bundle":
        return _from_bundle(target)
    kind = KINDS.get(target.kind)
    if kind is None:
        return _failed(target, f"targets of kind {target.kind!r} are not supported")
    try:
        collector = kind.load(kind.collect)
    except ImportError as exc:
        return _failed(target, f"collector for {target.kind} unavailable: {exc}")
    if kind.transport is None:
        options = {"accept_new_host_keys": accept_new_host_keys} if kind.ssh_options else {}
        evidence: TargetEvidence = collector(target, **options)
        return evidence
    try:
        if kind.transport == "local":
            from cisaudit.transport.local import LocalTransport

            transport: Any = LocalTransport(target)
        else:
            from cisaudit.transport.ssh import SSHTransport

            transport = SSHTransport(target, accept_new_host_keys=accept_new_host_keys)
    except TransportError as exc:
        return _failed(target, str(exc))
    try:
        collected: TargetEvidence = collector(target, transport)
        if target.kind_source == "default" and collected.error is None:
            collected = _what_runs_here(target, transport, collected)
        return collected
    finally:
        transport.close()


def _node_roles(node: TargetEvidence, roles: list[str]) -> list[str]:
    """The roles the node probe shows beside those the process list showed: etcd embedded
    in K3s, say, has no process of its own."""
    from cisaudit.kinds.k8s_node.derive import derive as derive_node

    try:
        shown = derive_node(node.sections)[0]["k8s"]["detected_roles"]
    except Exception:  # the evaluation reports unreadable evidence; detection adds nothing
        shown = []
    order = ("control-plane", "etcd", "worker")
    return [r for r in order if r in roles or r in shown]


def _what_runs_here(target: Target, transport: Any, evidence: TargetEvidence) -> TargetEvidence:
    """For a host the inventory gave no kind (a Docker host by default): let what it runs
    decide, over the same connection. A kubelet, an API server or etcd adds the Kubernetes
    node benchmark (with the roles they show); a host with Kubernetes components and no
    Docker engine is a Kubernetes node only; a host with neither says so, instead of a
    page of ERRORs. Explicit ``kind`` and ``roles`` in the inventory always win."""
    from cisaudit.kinds.docker.collect import detect, engine_version

    runs = detect(evidence.sections)
    evidence.detected = runs
    roles = [
        role
        for role, shown in (
            # a K3s server runs the control plane and a kubelet in one process
            ("control-plane", "kube-apiserver" in runs or "k3s" in runs),
            ("etcd", "etcd" in runs),
            ("worker", bool({"kubelet", "k3s", "k3s-agent"} & set(runs))),
        )
        if shown
    ]
    # `docker info` exits 0 with only client details when no engine answers: the engine's
    # own version says one did
    docker = "dockerd" in runs or engine_version(evidence.sections) is not None
    listed = ", ".join(runs) or "none of dockerd, kubelet, kube-apiserver, etcd, k3s, rke2"
    evidence.kind_source = f"default; the host runs: {listed}"
    if not roles:
        if not docker:
            evidence.nothing = (
                "nothing cisaudit audits runs on this host: no Docker engine and no Kubernetes "
                "component (dockerd, kubelet, kube-apiserver, etcd, k3s, rke2)"
            )
        return evidence
    kind = KINDS["k8s-node"]
    node: TargetEvidence = kind.load(kind.collect)(
        replace(target, kind="k8s-node", roles=tuple(roles)), transport
    )
    if node.error:
        evidence.kind_source += f"; the Kubernetes node probe failed: {node.error}"
        return evidence
    node.roles = _node_roles(node, roles)
    node.detected = runs
    if not docker:  # a Kubernetes node without Docker: that is all it is
        node.kind_source = evidence.kind_source + "; audited as a Kubernetes node"
        node.remote_calls = transport.calls
        return node
    evidence.also = ["k8s-node"]
    evidence.roles = node.roles
    evidence.kind_source += "; audited as a Docker host and a Kubernetes node"
    for name, section in node.sections.items():
        evidence.sections[f"k8s-node:{name}"] = section
    evidence.remote_calls = transport.calls
    return evidence


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
    waivers: WaiverSet | None = None,
) -> Outcome:
    """Re-evaluate a recorded evidence bundle offline: same facts, same verdicts.

    The bundle's hashes are checked first: a section whose output no longer matches
    its SHA-256 makes this raise EvidenceError, unless ``allow_modified_evidence``; the
    results then list those sections (``run.evidence["modified"]``) and reports say so."""
    bundle = load_bundle(path, allow_modified=allow_modified_evidence)
    run = build_run(
        bundle.targets,
        catalog=catalog or load_catalog(policy=bool(selection and selection.policy)),
        selection=selection or Selection(),
        started=_now(),
        options={
            **_options(selection or Selection(), None, None),
            "evaluated_from": str(path),
            "original_run_id": bundle.meta.get("run_id"),
            "recorded_scope": bundle.meta.get("scope"),
        },
        waivers=waivers,
    )
    run.evidence = {
        "file": path.name,
        "sha256": bundle.sha256,
        "run_id": bundle.meta.get("run_id"),
        "modified": bundle.modified,
    }
    return Outcome(run, bundle.targets)


# -- plan and evaluate ----------------------------------------------------------------------


@dataclass
class _Planned:
    """The packs one target runs: its benchmark (chosen by version or name, with the
    reason) and every other pack that applies to its kind."""

    benchmark: Pack | None
    reason: str
    packs: list[Pack]


def plan(item: TargetEvidence, catalog: Catalog, selection: Selection) -> _Planned:
    version = item.platform_version
    kind = KINDS.get(item.kind)
    if version is None and kind is not None and kind.version and item.error is None:
        try:  # evidence recorded before its version was kept
            version = kind.load(kind.version)(item.sections)
        except Exception:  # noqa: BLE001 - a version is a preference, never a failure
            version = None
    chosen = catalog.select(item.kind, version, selection.benchmark)
    extra = catalog.extra_packs(item.kind)
    if chosen is None:
        return _Planned(None, f"no benchmark for targets of kind {item.kind!r}", extra)
    return _Planned(chosen.pack, chosen.reason, [chosen.pack, *extra])


_SHARED_MAX = 200_000  # entries in each of RunBuilder's tables of shared texts and values
_SHARED_ITEMS = 64  # longer lists and mappings are not looked up


def _offender_json(value: Any) -> Any:
    if isinstance(value, Offender):
        return [value.kind, value.name, value.id, value.observed]
    raise TypeError(type(value).__name__)


_VALUE_JSON = json.JSONEncoder(ensure_ascii=False, default=_offender_json)


class RunBuilder:
    """Judges targets one at a time as their evidence arrives, then makes the Run: a
    fleet's evidence need not be held until every target has answered."""

    def __init__(self, catalog: Catalog, selection: Selection) -> None:
        self.catalog, self.selection = catalog, selection
        self.controls: dict[str, Any] = {}
        self.sections: dict[str, dict[str, dict[str, str]]] = {}
        self._texts: dict[str, str] = {}
        self._values: dict[bytes, Any] = {}
        self._lists: dict[tuple[str, ...], list[str]] = {}

    def judge(self, item: TargetEvidence) -> TargetResult:
        """Evaluate one target (and the other kinds it was also audited as)."""
        catalog, selection = self.catalog, self.selection
        planned = plan(item, catalog, selection)
        with bulk_objects():
            result, judged = evaluate_target(item, planned, catalog, selection)
            for extra_kind in item.also:
                view = _view(item, extra_kind)
                extra, extra_judged = evaluate_target(
                    view, plan(view, catalog, selection), catalog, selection
                )
                _merge(result, extra, f"{extra_kind}:")
                judged = judged + extra_judged
        for control in judged:
            self.controls[control.key] = control.info()
            self.sections[control.benchmark] = catalog.packs[control.benchmark].sections
        return result

    def share(self, result: TargetResult) -> TargetResult:
        """The same texts and values once for the whole fleet.

        A control's reason, expectation and remediation snippet mostly read alike on
        every target, and so do what it observed, the objects that broke it and the
        evidence it read, where the hosts are built alike. Each target's copies (or a
        Dask worker's, unpickled here) would cost 16 KB a target for the texts and about
        30 more for the rest. Results are never changed once judged, so sharing is safe.
        """
        shared = self._texts
        for r in (*result.results, *(x for rs in result.variants.values() for x in rs)):
            for name in ("reason", "remediation", "expected"):
                text = getattr(r, name)
                if type(text) is str and len(text) < 4096:
                    kept = shared.get(text)
                    if kept is None:
                        if len(shared) >= _SHARED_MAX:
                            continue
                        kept = shared[text] = text
                    setattr(r, name, kept)
            if r.evidence:
                key = tuple(r.evidence)
                kept_list = self._lists.get(key)
                if kept_list is None and len(self._lists) < _SHARED_MAX:
                    kept_list = self._lists[key] = r.evidence
                r.evidence = kept_list or r.evidence
            for name in ("observed", "expected"):
                value = getattr(r, name)
                if type(value) is dict or type(value) is list:
                    setattr(r, name, self._value(value))
            if r.offenders:
                r.offenders = self._value(r.offenders)
        return result

    def _value(self, value: Any) -> Any:
        """``value``, or an equal one already held. Equal means the same JSON, which is
        all a result is ever turned into; the table is keyed by a digest of it, so values
        that no other target repeats cost a few bytes more, not a second copy."""
        if len(value) > _SHARED_ITEMS:
            return value  # a cluster's thousands of offending pods: unique, and costly to encode
        try:
            text = _VALUE_JSON.encode(value)
        except (TypeError, ValueError):
            return value
        if len(text) >= 4096:
            return value
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        kept = self._values.get(digest)
        if kept is None:
            if len(self._values) >= _SHARED_MAX:
                return value
            kept = self._values[digest] = value
        return kept

    def absorb(
        self, controls: Mapping[str, Any], sections: Mapping[str, dict[str, dict[str, str]]]
    ) -> None:
        """The controls and sections of targets judged elsewhere (a Dask worker)."""
        self.controls.update(controls)
        self.sections.update(sections)

    def run(
        self,
        targets: list[TargetResult],
        *,
        started: str,
        options: dict[str, Any],
        interrupted: bool = False,
        waivers: WaiverSet | None = None,
        as_of: dt.date | None = None,
    ) -> Run:
        """The run of ``targets`` (judged here): waivers applied, scored, rolled up."""
        run = Run(
            run_id=str(uuid.uuid4()),
            tool_version=__version__,
            started_at=started,
            finished_at=_now(),
            benchmarks=sorted(self.sections),
            options=options,
            targets=targets,
            controls=self.controls,
            sections=self.sections,
            interrupted=interrupted,
        )
        run.frameworks = {
            f.id: _definition(f, set(self.sections), {c.check for c in self.controls.values()})
            for f in select_frameworks(self.catalog, self.selection, set(self.sections))
        }
        apply_waivers(run, waivers, as_of)
        finish_run(run)
        return run


def build_run(
    evidence: Iterable[TargetEvidence],
    *,
    catalog: Catalog,
    selection: Selection,
    started: str,
    options: dict[str, Any],
    interrupted: bool = False,
    waivers: WaiverSet | None = None,
    as_of: dt.date | None = None,
) -> Run:
    """Evaluate every target, apply the waivers, score, and roll the frameworks up."""
    builder = RunBuilder(catalog, selection)
    return builder.run(
        [builder.judge(item) for item in evidence],
        started=started,
        options=options,
        interrupted=interrupted,
        waivers=waivers,
        as_of=as_of,
    )


def _view(item: TargetEvidence, kind: str) -> TargetEvidence:
    """The evidence of one more kind a host was audited as (its prefixed sections)."""
    prefix = f"{kind}:"
    return replace(
        item,
        kind=kind,
        also=[],
        sections={k[len(prefix) :]: v for k, v in item.sections.items() if k.startswith(prefix)},
    )


def _merge(result: TargetResult, extra: TargetResult, prefix: str) -> None:
    """One target's results of another kind, beside its own (evidence keys prefixed)."""
    for item in extra.results:
        item.evidence = [prefix + key for key in item.evidence]
    result.results += extra.results
    result.packs += [p for p in extra.packs if p not in result.packs]
    result.evidence_sha256.update({prefix + k: v for k, v in extra.evidence_sha256.items()})
    for framework, variants in extra.variants.items():
        result.variants.setdefault(framework, []).extend(variants)
    result.selection += f"; also {extra.benchmark}: {extra.selection}"


def finish_run(run: Run) -> None:
    """Score the run and roll its frameworks up (again, after waivers or a subset)."""
    rescore(run)


def _definition(framework: Framework, packs: set[str], checks: set[str]) -> dict[str, Any]:
    """A framework as this run carries it: only the controls of the packs judged and the
    parameters of the checks used, so that a run means the same whichever catalog (all
    kinds, or only the kinds audited) it was made with."""
    data = framework.to_dict()
    data["params"] = {k: v for k, v in data["params"].items() if k in checks}
    for item in data["items"]:
        for key in ("controls", "supporting"):
            item[key] = [k for k in item[key] if k.split("/", 1)[0] in packs]
    return data


def select_frameworks(catalog: Catalog, selection: Selection, packs: set[str]) -> list[Framework]:
    """The frameworks named in the selection (unknown ones are a KeyError naming the
    known ones), or every framework mapped onto the packs judged."""
    if selection.frameworks is not None:
        unknown = [f for f in selection.frameworks if f not in catalog.frameworks]
        if unknown:
            raise KeyError(
                f"unknown framework(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(catalog.frameworks))}"
            )
        return [catalog.frameworks[f] for f in dict.fromkeys(selection.frameworks)]
    return [f for f in catalog.frameworks.values() if f.packs() & packs]


def evaluate_target(
    item: TargetEvidence, planned: _Planned, catalog: Catalog, selection: Selection
) -> tuple[TargetResult, list[Control]]:
    """Every control of every planned pack on one target, and the controls judged (the
    run lists only those, so its counts are of controls somebody judged)."""
    result = TargetResult(
        name=item.name,
        kind=item.kind,
        address=item.address,
        groups=item.groups,
        benchmark=planned.benchmark.id if planned.benchmark else "",
        reachable=item.error is None,
        error=item.error,
        started_at=item.collected_at,
        duration_s=item.duration_s,
        remote_calls=item.remote_calls,
        packs=[p.id for p in planned.packs],
        selection=planned.reason,
        kind_source=item.kind_source,
        detected=list(item.detected),
    )
    kind = KINDS.get(item.kind)
    chosen = [
        c
        for pack in planned.packs
        for c in catalog.applicable(pack, item.kind, item.roles)
        if selection.matches(c)
    ]
    if not planned.packs or kind is None:
        result.reachable = False
        result.error = item.error or planned.reason
        return result, []
    if item.nothing:  # reachable, and nothing to audit: no results, not ERRORs
        result.selection = item.nothing
        return result, []
    if item.error is not None:
        result.results = [
            _result(c, Status.ERROR, f"target not audited: {item.error}") for c in chosen
        ]
        return result, chosen
    try:
        values, errors = kind.load(kind.derive)(item.sections)
        if selection.policy is not None:
            from cisaudit.imagepolicy import enrich

            enrich(values, selection.policy, selection.scans)
        result.facts_summary = {**dict(values.get("summary") or {}), "fact_errors": errors}
        stand_ins = (
            [
                pair
                for pack in planned.packs
                for pair in kind.load(kind.stand_ins)(catalog, pack, values, selection.matches)
            ]
            if kind.stand_ins
            else []
        )
    except Exception as exc:  # one target's unreadable evidence: that target's ERROR
        reason = f"its evidence could not be read into facts: {_describe(exc)}"
        result.reachable = False
        result.error = reason
        result.results = [_result(c, Status.ERROR, reason) for c in chosen]
        return result, chosen
    facts = FactSet(
        values,
        errors,
        out_of_reach=dict(values.get("_out_of_reach") or {}),
        reached=frozenset(values.get("_reached") or ()),
    )
    overrides = _target_params(item)
    result.results = [_evaluate_safely(c, facts, overrides) for c in chosen] + [
        _result(c, Status.NOT_APPLICABLE, reason) for c, reason in stand_ins
    ]
    result.evidence_sha256 = {name: s.sha256 for name, s in item.sections.items()}
    result.variants = _variants(chosen, facts, overrides, catalog, selection, result.results)
    return result, chosen + [c for c, _ in stand_ins]


def _variants(
    chosen: list[Control],
    facts: FactSet,
    overrides: Mapping[str, Mapping[str, Any]],
    catalog: Catalog,
    selection: Selection,
    judged: list[Result],
) -> dict[str, list[Result]]:
    """Controls judged again for each framework that sets its own values of their
    parameters (only where those differ from the values already used)."""
    frameworks = (
        [catalog.frameworks[f] for f in selection.frameworks if f in catalog.frameworks]
        if selection.frameworks is not None
        else list(catalog.frameworks.values())
    )
    by_id = {(r.pack, r.control_id): r for r in judged}
    variants: dict[str, list[Result]] = {}
    for framework in frameworks:
        for control in chosen:
            values = framework.params.get(control.check_slug)
            base = by_id.get((control.benchmark, control.id))
            if not values or base is None:
                continue
            if {**(base.params or {}), **values} == (base.params or {}):
                continue  # the framework asks for the values already used
            variant = _evaluate_safely(control, facts, overrides, values)
            variants.setdefault(framework.id, []).append(variant)
    return variants


def _result(control: Control, status: Status, reason: str) -> Result:
    return Result(control.id, status, reason=reason, pack=control.benchmark)


def _target_params(item: TargetEvidence) -> Mapping[str, Mapping[str, Any]]:
    """Parameter values set for this target in the inventory (``vars.cisaudit_params``),
    recorded with its evidence so that offline evaluation judges alike."""
    return item.params or {}


def _evaluate_safely(
    control: Control,
    facts: FactSet,
    overrides: Mapping[str, Mapping[str, Any]],
    pinned: Mapping[str, Any] | None = None,
) -> Result:
    """One control's verdict; a failure while evaluating it is that control's ERROR.

    Parameter values, later ones winning: the check's default and the tailoring file
    (``control.params``), the target's own values from the inventory, and, when judging
    for a framework, the values that framework requires (``pinned``)."""
    params = {
        **control.params,
        **overrides.get(control.check_slug, {}),
        **overrides.get(control.key, {}),
        **(pinned or {}),
    }
    try:
        result = evaluate(control, facts, params)
    except Exception as exc:  # the boundary: this control could not be judged
        result = Result(control.id, Status.ERROR, reason=f"evaluation failed: {_describe(exc)}")
    result.pack = control.benchmark
    if params:
        result.params = params
    return result


def _not_collected(target: Target, interrupted: bool) -> TargetEvidence:
    reason = "interrupted before this target finished" if interrupted else "not collected"
    return TargetEvidence(
        name=target.name,
        kind=target.kind,
        address=target.address,
        groups=list(target.groups),
        error=reason,
    )


def _options(
    selection: Selection, concurrency: int | None, timeout: float | None
) -> dict[str, Any]:
    policy = selection.policy
    return {
        "policy": {"file": policy.path, "sha256": policy.sha256, "rules": policy.checks()}
        if policy is not None
        else None,
        "scanner_reports": selection.scans.describe() if selection.scans is not None else None,
        "frameworks": list(selection.frameworks) if selection.frameworks is not None else None,
        "benchmark": selection.benchmark,
        "level": selection.level,
        "only": list(selection.only),
        "skip": list(selection.skip),
        "concurrency": concurrency,
        "timeout": timeout,
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
