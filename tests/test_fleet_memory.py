"""What keeps a large fleet's results small on the client: texts and verdict pairs that
every target repeats are held once (issue #12)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cisaudit import api
from cisaudit.evidence import load_bundle

BUNDLE = Path(__file__).resolve().parent / "data" / "bundles" / "lab-docker.json"


def _fleet(size: int) -> tuple[api.RunBuilder, list]:  # type: ignore[type-arg]
    base = load_bundle(BUNDLE).targets
    builder = api.RunBuilder(api.load_catalog(), api.Selection())
    judged = [
        builder.share(builder.judge(dataclasses.replace(base[i % 2], name=f"h{i}")))
        for i in range(size)
    ]
    return builder, judged


def test_repeated_texts_are_held_once_and_unchanged() -> None:
    builder, (a, b, c, d) = _fleet(4)  # a and c are the same host, b and d another
    alone = api.RunBuilder(api.load_catalog(), api.Selection()).judge(
        dataclasses.replace(load_bundle(BUNDLE).targets[0], name="h0")
    )
    assert [r.to_dict() for r in a.results] == [r.to_dict() for r in alone.results]
    shared = [
        (x, y)
        for x, y in zip(a.results, c.results, strict=True)
        if x.remediation and x.remediation == y.remediation
    ]
    assert shared and all(x.remediation is y.remediation for x, y in shared)
    assert all(
        x.reason is y.reason
        for x, y in zip(a.results, c.results, strict=True)
        if x.reason == y.reason
    )


def test_verdict_pairs_are_shared_across_targets_and_written_as_lists(tmp_path: Path) -> None:
    builder, judged = _fleet(6)
    run = builder.run(judged, started="", options={})
    pairs = [
        pair
        for framework in run.frameworks.values()
        for verdict in framework["verdicts"].values()
        for pair in verdict["targets"].values()
    ]
    assert pairs and len({id(p) for p in pairs}) <= len(set(pairs))
    outcome_file = tmp_path / "results.json"
    with open(outcome_file, "w", encoding="utf-8") as fh:
        api.dump_run(run, fh)
    import json

    written = json.loads(outcome_file.read_text())
    some = next(iter(next(iter(written["frameworks"].values()))["verdicts"].values()))
    assert all(isinstance(v, list) and len(v) == 2 for v in some["targets"].values())


def test_values_alike_on_hosts_built_alike_are_held_once() -> None:
    _, (a, b, c, _) = _fleet(4)
    pairs = list(zip(a.results, c.results, strict=True))
    observed = [(x, y) for x, y in pairs if isinstance(x.observed, dict) and x.observed]
    assert observed and all(x.observed is y.observed for x, y in observed)
    assert all(x.evidence is y.evidence for x, y in pairs if x.evidence)
    offenders = [(x, y) for x, y in pairs if x.offenders]
    assert offenders and all(x.offenders is y.offenders for x, y in offenders)
    # another host's different values are its own
    assert any(
        x.observed != y.observed and x.observed is not y.observed
        for x, y in zip(a.results, b.results, strict=True)
    )


def test_a_waiver_on_one_target_leaves_the_objects_it_shares_with_another() -> None:
    import datetime as dt

    from cisaudit.waivers import KnownControl, KnownControls, apply_waivers, parse_waivers

    weak = next(t for t in load_bundle(BUNDLE).targets if t.name == "lab-weak")
    builder = api.RunBuilder(api.load_catalog(), api.Selection())
    judged = [builder.share(builder.judge(dataclasses.replace(weak, name=n))) for n in "ac"]
    a, c = judged  # the same host under two names
    index, failing = next((i, r) for i, r in enumerate(a.results) if len(r.offenders) > 1)
    assert c.results[index].offenders is failing.offenders
    before = [o.name for o in c.results[index].offenders]
    first = failing.offenders[0]
    run = builder.run(judged, started="", options={})
    catalog = api.load_catalog()
    known = KnownControls(
        KnownControl(p.id, k.id, k.check_slug)
        for p in catalog.packs.values()
        for k in p.controls.values()
    )
    text = (
        "waivers:\n  - id: W-1\n"
        f'    controls: ["{failing.control_id}"]\n'
        f'    targets: ["{a.name}"]\n'
        f'    objects: ["{first.kind}:{first.name}"]\n'
        "    reason: accepted\n    approved_by: A\n    expires: 2027-01-31\n"
    )
    today = dt.date(2026, 12, 1)
    apply_waivers(run, parse_waivers(text, "w.yaml", known, today=today), as_of=today)
    assert first.name not in [o.name for o in a.results[index].offenders]
    assert [o.name for o in c.results[index].offenders] == before


def test_long_lists_are_left_alone() -> None:
    """A cluster's thousands of offending pods are its own: not encoded to be looked up."""
    from cisaudit.model import Offender, Result, Status, TargetResult

    builder = api.RunBuilder(api.load_catalog(), api.Selection())

    def target(name: str, count: int) -> TargetResult:
        pods = [Offender("pod", f"ns/p{i}", {"privileged": True}) for i in range(count)]
        result = Result("5.2.2", Status.FAIL, offenders=pods, evidence=["cluster.pods"])
        return builder.share(TargetResult(name=name, kind="k8s-cluster", results=[result]))

    long_a, long_b = target("a", 5000), target("b", 5000)
    assert long_a.results[0].offenders is not long_b.results[0].offenders
    short_a, short_b = target("c", 3), target("d", 3)
    assert short_a.results[0].offenders is short_b.results[0].offenders
    assert long_a.results[0].evidence is short_b.results[0].evidence  # keys: always shared
