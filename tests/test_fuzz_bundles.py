"""Mutated evidence never crashes a run: each mutation of a recorded lab bundle (truncated,
wrong types, garbage, huge values, missing sections) ends in a complete results.json in
which only the mutated target is affected, and the other targets keep their verdicts."""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import pytest

from cisaudit.api import Selection, build_run, load_catalog
from cisaudit.evidence import Section, TargetEvidence, load_bundle
from cisaudit.model import Run

DATA = Path(__file__).parent / "data" / "bundles"
BUNDLES = [DATA / "lab-docker.json", DATA / "lab-k8s-nodes.json"]
CATALOG = load_catalog()


def _garbage(rng: random.Random, n: int) -> str:
    alphabet = '{}[]",:0123456789abc\x00\x1b\n\t\\/ -=é中\ud800'
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mutate_json(value: object, rng: random.Random) -> object:
    """Swap one node of a JSON document for a value of another type."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        value[key] = (
            _mutate_json(value[key], rng)
            if rng.random() < 0.6
            else rng.choice([None, 7, "x", [], {}, [1, "a"], {"a": {"b": None}}, True])
        )
    elif isinstance(value, list) and value:
        i = rng.randrange(len(value))
        value[i] = (
            _mutate_json(value[i], rng)
            if rng.random() < 0.6
            else rng.choice([None, 0, "str", {"k": []}, [[]]])
        )
    else:
        value = rng.choice([{}, [], "", -1, None, "9" * 400])
    return value


def _mutations(rng: random.Random, output: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [
        ("truncated", output[: rng.randrange(len(output) + 1)]),
        ("garbage", _garbage(rng, rng.randrange(1, 400))),
        ("empty", ""),
        ("huge line", "A" * 300_000 + output[:100]),
        ("warning first", "WARNING: something odd\n" + output),
        ("nul bytes", output.replace("\n", "\x00\n", 3)),
    ]
    try:
        doc = json.loads(output)
    except ValueError:
        doc = None
    if doc is not None:
        out.append(("wrong types", json.dumps(_mutate_json(copy.deepcopy(doc), rng))))
        out.append(
            (
                "list for object",
                json.dumps([doc]) if isinstance(doc, dict) else json.dumps({"x": doc}),
            )
        )
    return out


def _verdicts(run: Run) -> dict[str, dict[str, str]]:
    return {t.name: {r.control_id: r.status.value for r in t.results} for t in run.targets}


def _run(targets: list[TargetEvidence]) -> Run:
    # The benchmark is named: a mutated `docker info` hides the engine's version, and the
    # newest benchmark is then chosen (with that reason), which is right but another set.
    benchmarks = {t.kind for t in targets}
    named = "cis-docker-1.6.0" if benchmarks <= {"docker-host", "local"} else None
    run = build_run(
        targets, catalog=CATALOG, selection=Selection(benchmark=named), started="t", options={}
    )
    json.dumps(run.to_dict())  # results.json can be written: every value is serialisable
    return run


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.stem)
def test_every_mutation_ends_in_complete_results(bundle: Path) -> None:
    targets = load_bundle(bundle).targets
    baseline = _verdicts(_run(targets))
    rng = random.Random(20261204)
    slowest = 0.0
    tried = 0
    for victim in targets:
        names = sorted(victim.sections)
        for name in rng.sample(names, min(4, len(names))):
            for what, output in _mutations(rng, victim.sections[name].output):
                mutated = copy.copy(victim)
                mutated.sections = {
                    **victim.sections,
                    name: Section(
                        victim.sections[name].command, rng.choice([0, 0, 1, -1, 127]), output
                    ),
                }
                # With the other targets now and then (they must keep their verdicts);
                # alone otherwise, which keeps the test fast.
                others = [t for t in targets if t.name != victim.name] if tried % 8 == 0 else []
                started = time.perf_counter()
                run = _run([*others, mutated])
                slowest = max(slowest, time.perf_counter() - started)
                tried += 1
                verdicts = _verdicts(run)
                where = f"{victim.name}/{name} {what}"
                assert set(verdicts) == {victim.name} | {t.name for t in others}, where
                assert set(verdicts[victim.name]) == set(baseline[victim.name]), where
                for other in others:  # nothing leaks across targets
                    assert verdicts[other.name] == baseline[other.name], where
        dropped = copy.copy(victim)
        dropped.sections = {}
        assert set(_verdicts(_run([dropped]))[victim.name]) == set(baseline[victim.name])
    assert tried > 100
    assert slowest < 10, f"one mutated bundle took {slowest:.1f} s to evaluate"
