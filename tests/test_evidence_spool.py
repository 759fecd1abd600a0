"""The evidence spool: targets' evidence kept on disk as they finish, read back one at
a time, written out as the same bundle; results.json written a target at a time."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cisaudit import api, model
from cisaudit.evidence import EvidenceSpool, Section, TargetEvidence, load_bundle, write_bundle

BUNDLE = Path(__file__).resolve().parent / "data" / "bundles" / "lab-docker.json"


def _item(name: str, output: str) -> TargetEvidence:
    return TargetEvidence(
        name=name,
        kind="docker-host",
        groups=["g"],
        sections={"docker.info": Section("docker info", 0, output), "x": Section("x", 1, "")},
    )


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_spool_writes_the_same_bundle(tmp_path: Path, suffix: str) -> None:
    items = [_item(f"h{i}", 'é\n"quoted" \\ ' * i) for i in range(5)]
    spool = EvidenceSpool(tmp_path)
    for item in reversed(items):  # targets finish in any order
        spool.add(item)
    spool.order([i.name for i in items])
    assert [e.to_dict() for e in spool] == [e.to_dict() for e in items]
    assert spool[2].to_dict() == items[2].to_dict() and len(spool) == 5
    assert [e.name for e in spool[1:3]] == ["h1", "h2"]
    assert spool.get("nope") is None
    meta = {"run_id": "r", "tool": {"name": "cisaudit", "version": "1"}, "scope": None}
    spooled = write_bundle(tmp_path / f"a{suffix}", spool, meta)
    listed = write_bundle(tmp_path / f"b{suffix}", items, meta)
    a, b = load_bundle(spooled), load_bundle(listed)
    assert a.meta == b.meta
    assert [t.to_dict() for t in a.targets] == [t.to_dict() for t in b.targets]


def test_a_later_copy_replaces_the_earlier(tmp_path: Path) -> None:
    spool = EvidenceSpool(tmp_path)
    spool.add(_item("h", "old"))
    spool.add(_item("h", "new"))
    assert len(spool) == 1 and spool[0].sections["docker.info"].output == "new"


def test_dump_run_is_the_run_as_json() -> None:
    outcome = api.evaluate_bundle(BUNDLE)
    out = io.StringIO()
    api.dump_run(outcome.run, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(outcome.run.to_dict()))


def test_to_dict_is_every_field_with_sections_as_evidence_last() -> None:
    import dataclasses

    for target in load_bundle(BUNDLE).targets:
        target.params = {"docker": {"allowed_registries": ["r.example"]}}
        expected = dataclasses.asdict(target)
        expected["evidence"] = expected.pop("sections")
        got = target.to_dict()
        assert got == expected and list(got) == list(expected)
        got["groups"].append("changed")  # a copy: the target is not changed through it
        assert "changed" not in target.groups


def test_a_large_output_is_spooled_in_blocks_and_reads_back_the_same(tmp_path: Path) -> None:
    from cisaudit import evidence

    big = ('é"\\\n\t\x01 ' * 50_000) + "end"  # escapes and non-ASCII across block edges
    item = _item("big", big)
    spool = EvidenceSpool(tmp_path)
    old_block = evidence._BLOCK
    evidence._BLOCK = 4099  # an odd size, so blocks end mid-escape as often as not
    try:
        spool.add(item)
    finally:
        evidence._BLOCK = old_block
    back = spool.get("big")
    assert back is not None and back.sections["docker.info"].output == big
    assert json.loads(spool._text("big")) == item.to_dict()


def test_frameworks_are_written_piece_by_piece_as_one_encoding_would() -> None:
    value = {"mlps": {"verdicts": {"a": {"targets": {"h": ["x", "y"]}}, "b": {}}, "n": 1.5}}
    whole = json.JSONEncoder(ensure_ascii=False).encode(value)
    for depth in (0, 1, 2, 3):
        out = io.StringIO()
        model._write_compact(out, value, json.JSONEncoder(ensure_ascii=False), depth)
        assert out.getvalue() == whole
