"""Drift between runs: the comparison rules on hand-made digests, and the commands
(history, diff, trend, prune, report --run, scan --baseline --fail-on new, --notify)
on recorded lab evidence with a store of the test's own."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cisaudit.cli import main
from cisaudit.drift import compare
from cisaudit.notify import parse

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "bundles" / "lab-docker.json"
A = {"run": "a", "started_at": "2026-12-01", "scope": "s", "benchmarks": ["cis-docker-1.6.0"]}
B = {"run": "b", "started_at": "2026-12-02", "scope": "s", "benchmarks": ["cis-docker-1.6.0"]}


def _digest(**controls: list[Any]) -> dict[str, Any]:
    return {
        "reachable": True,
        "error": None,
        "controls": {k.replace("_", "."): v for k, v in controls.items()},
    }


def test_new_fixed_still_and_changed() -> None:
    a = {
        "web-1": _digest(
            c5_4=["FAIL", "FAIL", ["container:db", "container:web"], []],
            c2_2=["FAIL", "FAIL", [], []],
            c2_3=["PASS", "PASS", [], []],
            c2_4=["FAIL", "FAIL", [], []],
            c2_5=["FAIL", "FAIL", [], []],
        )
    }
    b = {
        "web-1": _digest(
            c5_4=["FAIL", "FAIL", ["container:db", "container:cache"], []],
            c2_2=["PASS", "PASS", [], []],
            c2_3=["ERROR", "ERROR", [], []],
            c2_4=["ERROR", "ERROR", [], []],
            c2_5=["WAIVED", "FAIL", [], []],
        )
    }
    found = compare(A, B, a, b, {"c5.4"}, {"c5.4"})
    assert [(r["control"], r["object"]) for r in found.new_failures] == [
        ("c5.4", "container:cache")
    ]
    assert [(r["control"], r["object"]) for r in found.fixed] == [
        ("c2.2", ""),
        ("c5.4", "container:web"),
    ]
    assert [(r["control"], r["object"]) for r in found.still_failing] == [("c5.4", "container:db")]
    # could-not-tell is never fixed; a waived failure is a change, not a fix
    assert {(r["control"], r["before"], r["after"]) for r in found.changed} == {
        ("c2.3", "PASS", "ERROR"),
        ("c2.4", "FAIL", "ERROR"),
        ("c2.5", "FAIL", "WAIVED"),
    }
    assert found.drifted


def test_recreated_container_under_the_same_name_is_no_drift() -> None:
    # The digest knows objects by kind and name, never by container id.
    a = {"web-1": _digest(c5_4=["FAIL", "FAIL", ["container:legacy"], []])}
    b = {"web-1": _digest(c5_4=["FAIL", "FAIL", ["container:legacy"], []])}
    found = compare(A, B, a, b, set(), set())
    assert not found.drifted and len(found.still_failing) == 1


def test_targets_controls_scopes_and_benchmarks() -> None:
    a = {"web-1": _digest(), "old": _digest()}
    b = {"web-1": _digest(), "new": _digest()}
    other = {**B, "scope": "t", "benchmarks": ["cis-docker-1.8.0"]}
    found = compare(A, other, a, b, {"x/1.1", "x/1.2"}, {"x/1.2", "y/1.3"})
    assert found.targets_added == ["new"] and found.targets_removed == ["old"]
    assert found.controls_added == ["y/1.3"] and found.controls_removed == ["x/1.1"]
    assert any("different scopes" in n for n in found.notes)
    assert any("benchmarks differ" in n for n in found.notes)


def test_per_object_waiver_is_a_change_not_a_fix() -> None:
    a = {"h": _digest(c5_11=["FAIL", "FAIL", ["container:a", "container:b"], []])}
    b = {"h": _digest(c5_11=["FAIL", "FAIL", ["container:b"], ["container:a"]])}
    found = compare(A, B, a, b, set(), set())
    assert found.fixed == [] and found.changed[0]["object"] == "container:a"


# -- the commands ---------------------------------------------------------------------------


def _run(*args: str, store: str) -> Any:
    return CliRunner().invoke(main, [*args, "--store", store], catch_exceptions=False)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_history_diff_trend_and_fail_on_new(tmp_path: Path, store: str) -> None:
    first = _run("evaluate", str(BUNDLE), "-o", str(tmp_path / "1"), "--scope", "lab", store=store)
    assert first.exit_code == 1
    assert "no earlier run of this scope" in first.output
    # the same evidence again: no new failure, so --fail-on new passes
    second = _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "2"),
        "--scope",
        "lab",
        "--fail-on",
        "new",
        store=store,
    )
    assert second.exit_code == 0, second.output
    assert "0 new failure(s)" in second.output
    # a waiver file makes waived failures "other changes"
    waivers = tmp_path / "w.yaml"
    waivers.write_text(
        "waivers:\n  - id: W\n    controls: ['2.2']\n    reason: r\n"
        "    approved_by: a\n    expires: 2027-06-01\n"
    )
    third = _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "3"),
        "--scope",
        "lab",
        "--waivers",
        str(waivers),
        store=store,
    )
    assert third.exit_code == 1
    history = json.loads(_run("history", "--json", store=store).output)
    assert len(history) == 3 and {h["scope"] for h in history} == {"lab"}
    assert history[0]["score"] > history[1]["score"]  # waived failures leave the score
    diff = _run("diff", "--json", store=store)
    assert diff.exit_code == 0
    found = json.loads(diff.output)
    assert found["counts"]["new_failures"] == 0 and found["counts"]["changed"] == 5
    assert {c["after"] for c in found["changed"]} == {"WAIVED"}
    backwards = _run("diff", history[0]["id"][:10], history[2]["id"][:10], "--json", store=store)
    # backwards, the failures the waiver accepted are new again
    assert backwards.exit_code == 1
    assert json.loads(backwards.output)["counts"]["new_failures"] == 5
    trend = json.loads(_run("trend", "--json", "--target", "lab-weak", store=store).output)
    assert [len(p["series"]) for p in trend["points"]] == [1, 1, 1]
    groups = json.loads(_run("trend", "--json", "--group", "nope", store=store).output)
    assert all(p["series"] == {} for p in groups["points"])
    assert _run("prune", "--keep", "30d", "--dry-run", store=store).exit_code == 0


def test_fail_on_new_exits_1_for_a_new_failure(tmp_path: Path, store: str) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text(
        "waivers:\n  - id: W\n    controls: ['2.2']\n    reason: r\n"
        "    approved_by: a\n    expires: 2027-06-01\n"
    )
    _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "1"),
        "--scope",
        "ci",
        "--waivers",
        str(waivers),
        store=store,
    )
    # without the waiver, the 2.2 failures are new against the baseline
    again = _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "2"),
        "--scope",
        "ci",
        "--fail-on",
        "new",
        "--baseline",
        "last",
        store=store,
    )
    assert again.exit_code == 1
    assert "5 new failure(s)" in again.output


def test_unreachable_store_keeps_the_results_and_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(BUNDLE),
            "-o",
            str(tmp_path / "o"),
            "--store",
            "postgresql://audit:pw@127.0.0.1:1/cisaudit",
        ],
    )
    assert result.exit_code == 3
    assert "will NOT be stored" in result.output and "pw@" not in result.output
    assert (tmp_path / "o" / "results.json").exists()


def test_no_store(tmp_path: Path, store: str) -> None:
    result = _run("evaluate", str(BUNDLE), "-o", str(tmp_path / "o"), "--no-store", store=store)
    assert result.exit_code == 1 and "Stored run" not in result.output
    assert json.loads(_run("history", "--json", store=store).output) == []


def test_report_renders_a_stored_run_with_its_changes(tmp_path: Path, store: str) -> None:
    for i in range(2):
        _run("evaluate", str(BUNDLE), "-o", str(tmp_path / str(i)), "--scope", "lab", store=store)
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--run",
            "last",
            "--store",
            store,
            "-o",
            str(tmp_path / "rep"),
            "--format",
            "html,csv",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert 'id="changes"' in html and "Changes since" in html
    assert (tmp_path / "rep" / "evidence.json").exists()  # rebuilt from the store
    bad = CliRunner().invoke(main, ["report", "--run", "nope", "--store", store])
    assert bad.exit_code == 2 and "no run 'nope'" in bad.output
    both = CliRunner().invoke(main, ["report"])
    assert both.exit_code == 2 and "either RESULTS" in both.output


# -- notifications --------------------------------------------------------------------------


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []
    reply = b'{"errcode": 0}'
    code = 200

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        self.send_response(type(self).code)
        self.end_headers()
        self.wfile.write(type(self).reply)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Any:
    _Hook.received = []
    _Hook.reply, _Hook.code = b'{"errcode": 0}', 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Hook
    server.shutdown()


def test_notifications_generic_and_presets(tmp_path: Path, store: str, hook: Any) -> None:
    base, handler = hook
    _run("evaluate", str(BUNDLE), "-o", str(tmp_path / "1"), "--scope", "n", store=store)
    result = _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "2"),
        "--scope",
        "n",
        "--notify",
        f"{base}/generic?token=SECRET1",
        "--notify",
        f"dingtalk+{base}/robot/send?access_token=SECRET2",
        "--notify",
        f"wecom+{base}/wecom",
        "--notify",
        f"feishu+{base}/feishu",
        "--notify",
        f"slack+{base}/slack",
        store=store,
    )
    assert result.exit_code == 1
    assert "SECRET" not in result.output
    bodies = dict(handler.received)
    generic = bodies["/generic?token=SECRET1"]
    assert generic["event"] == "cisaudit.run" and generic["run"]["stored"] is True
    assert generic["drift"]["counts"]["new_failures"] == 0 and generic["baseline"]["id"]
    assert "新增不通过 0" in generic["text"]["zh"]
    assert bodies["/robot/send?access_token=SECRET2"]["msgtype"] == "markdown"
    assert "content" in bodies["/wecom"]["markdown"]
    assert bodies["/feishu"]["msg_type"] == "text"
    assert "text" in bodies["/slack"]


def test_a_failed_notification_never_fails_the_run(tmp_path: Path, store: str, hook: Any) -> None:
    base, handler = hook
    handler.reply = b'{"errcode": 310000, "errmsg": "keywords not in content"}'
    result = _run(
        "evaluate",
        str(BUNDLE),
        "-o",
        str(tmp_path / "1"),
        "--notify",
        f"dingtalk+{base}/robot",
        "--notify",
        "http://127.0.0.1:1/down",
        store=store,
    )
    assert result.exit_code == 1  # the audit's own code
    assert "dingtalk refused the message: 310000" in result.output
    assert "http://127.0.0.1 (json): FAILED" in result.output
    assert json.loads(_run("history", "--json", store=store).output)  # stored all the same
    bad = _run(
        "evaluate", str(BUNDLE), "-o", str(tmp_path / "2"), "--notify", "ftp://x", store=store
    )
    assert bad.exit_code == 2


def test_presets_by_host() -> None:
    assert parse("https://oapi.dingtalk.com/robot/send?access_token=x")[0] == "dingtalk"
    assert parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x")[0] == "wecom"
    assert parse("https://open.feishu.cn/open-apis/bot/v2/hook/x")[0] == "feishu"
    assert parse("https://hooks.slack.com/services/x")[0] == "slack"
    assert parse("https://example.com/hook") == ("json", "https://example.com/hook")


def test_namespaces_and_team_labels_are_groups_with_trends(tmp_path: Path, store: str) -> None:
    from cisaudit.api import audit
    from cisaudit.store import Store
    from cisaudit.targets import Target

    dump = DATA / "k8s" / "cluster-weak"
    run = audit([Target(name="prod", kind="k8s-cluster", path=str(dump), groups=["k8s"])]).run
    groups = run.summary["groups"]
    # 5.3.2: ci, monitoring and shop have no NetworkPolicy; payments and kube-flannel do
    assert groups["ns:prod/payments"]["score"] == 100.0
    assert groups["ns:prod/shop"]["counts"]["FAIL"] == 1
    assert groups["team:storefront"]["counts"] == groups["ns:prod/shop"]["counts"]
    assert groups["k8s"]["counts"]["FAIL"] > 1  # the inventory group: the whole cluster
    Store(store).save(run, None, scope="cluster")
    trend = json.loads(_run("trend", "--json", "--group", "team:storefront", store=store).output)
    assert trend["points"][0]["series"] == {"group:team:storefront": [66.7, 66.7]}


def test_a_second_scan_of_a_locked_scope_is_skipped(tmp_path: Path, store: str) -> None:
    from cisaudit.store import Store

    inventory = tmp_path / "inv.yml"
    inventory.write_text(f"hosts:\n  lab-weak:\n    kind: bundle\n    path: {BUNDLE}\n")
    with Store(store).lock("locked-scope"):
        result = _run(
            "scan",
            "-i",
            str(inventory),
            "-o",
            str(tmp_path / "o"),
            "--scope",
            "locked-scope",
            "--no-progress",
            store=store,
        )
    assert result.exit_code == 3
    assert "Skipped: another audit of scope 'locked-scope' is running" in result.output
    assert not (tmp_path / "o" / "results.json").exists()
    # once the first audit is over, the scope can be audited again
    again = _run(
        "scan",
        "-i",
        str(inventory),
        "-o",
        str(tmp_path / "o"),
        "--scope",
        "locked-scope",
        "--no-progress",
        store=store,
    )
    assert again.exit_code in (0, 1), again.output
