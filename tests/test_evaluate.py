"""Engine semantics that the case files rely on."""

from __future__ import annotations

from cisaudit.catalog import Control
from cisaudit.evaluate import FactSet, evaluate
from cisaudit.model import Status


def control(check: dict) -> Control:  # type: ignore[type-arg]
    return Control(
        benchmark="b",
        id="9.9",
        section="9",
        title={"en": "t", "zh": "t"},
        level=1,
        profiles=[],
        cis_assessment="Manual",
        automated=True,
        targets=[],
        roles=[],
        texts={},
        snippet={"kind": "shell", "text": "fix {names}"},
        references=[],
        check=check,
        evidence_facts=[],
        source="test",
    )


def test_an_error_on_a_field_of_the_items_makes_the_control_an_error() -> None:
    check = {"each": "cluster.pods", "test": {"path": "cis.automount_token", "op": "is_false"}}
    facts = FactSet(
        {"cluster": {"pods": [{"cis": {"name": "ns/Pod/a", "automount_token": None}}]}},
        {"cluster.pods.cis.automount_token": "serviceaccounts: 403 forbidden"},
    )
    result = evaluate(control(check), facts)
    assert result.status is Status.ERROR and "403" in result.reason


def test_an_error_on_a_part_of_a_fact_only_hits_controls_reading_it() -> None:
    facts = FactSet(
        {"cluster": {"pods": [], "roles": [{"cis": {"name": "r"}}]}},
        {"cluster.pods": "pods: 403 forbidden"},
    )
    roles = evaluate(
        control({"each": "cluster.roles", "test": {"path": "cis.name", "op": "is_set"}}), facts
    )
    pods = evaluate(
        control({"each": "cluster.pods", "test": {"path": "cis.name", "op": "is_set"}}), facts
    )
    assert roles.status is Status.PASS and pods.status is Status.ERROR


def test_evidence_keys_with_a_prefix_pattern() -> None:
    facts = FactSet(
        {"cluster": {"pods": []}, "_evidence_keys": ["k8s.api.pods", "k8s.api.version", "x"]}
    )
    each = control({"each": "cluster.pods", "test": {"path": "a", "op": "is_set"}})
    each.evidence_sections = ["k8s.api.*", "k8s.inventory"]  # as the catalog derives them
    result = evaluate(each, facts)
    assert (
        set(result.evidence) >= {"k8s.api.pods", "k8s.api.version"} and "x" not in result.evidence
    )


def test_the_catalog_names_the_evidence_behind_each_control() -> None:
    from cisaudit.api import load_catalog

    packs = load_catalog().packs
    assert packs["cis-kubernetes-1.12"].controls["5.2.2"].evidence_sections == [
        "k8s.api.*",
        "k8s.inventory",
    ]
    assert "docker.inspect" in packs["cis-docker-1.6.0"].controls["5.5"].evidence_sections


def test_an_operator_that_fails_on_a_value_is_that_controls_error() -> None:
    from cisaudit.api import _evaluate_safely

    broken = control({"test": {"fact": "engine.x", "op": "contains", "value": "a"}})
    result = _evaluate_safely(broken, FactSet({"engine": {"x": 7}}), {})
    assert result.status is Status.ERROR and "evaluation failed: TypeError" in result.reason
    assert result.pack == "b"
