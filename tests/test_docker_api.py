"""kind: docker-api on recorded facts: the engine sections of recorded lab hosts, as the
API collector writes them, are judged as over SSH; host-only controls are NOT_APPLICABLE
("API-only target"); what the connection proves decides 2.7; the evaluator's three-valued
logic; the inventory's checks of docker_host and the TLS settings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cisaudit.api import Selection, build_run
from cisaudit.catalog import load_catalog
from cisaudit.evaluate import FactSet, OutOfReach, Trace, check_condition
from cisaudit.evidence import Section, TargetEvidence, load_bundle
from cisaudit.inventory import InventoryError, load_inventory
from cisaudit.model import Status

BUNDLE = Path(__file__).parent / "data" / "bundles" / "lab-docker.json"
ENGINE_SECTIONS = (
    "docker.info",
    "docker.inspect",
    "docker.images",
    "docker.history",
    "docker.networks",
)


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


@pytest.fixture(scope="module")
def recorded() -> dict[str, TargetEvidence]:
    return {t.name: t for t in load_bundle(BUNDLE).targets}


def _as_api(host: TargetEvidence, connection: dict, top: dict | None = None) -> TargetEvidence:
    """What the API collector would have written for this host's engine."""
    sections = {k: v for k, v in host.sections.items() if k in ENGINE_SECTIONS}
    version = json.loads(host.sections["docker.version"].output)
    sections["docker.version"] = Section(
        "GET /version", 0, json.dumps({"Server": version.get("Server")})
    )
    sections["api.connection"] = Section("the connection", 0, json.dumps(connection))
    sections["docker.top"] = Section("GET /containers/{id}/top", 0, json.dumps(top or {}))
    return dataclasses.replace(
        host, name=f"api-{host.name}", kind="docker-api", sections=sections, also=[], roles=[]
    )


def _run(catalog, *targets: TargetEvidence):  # type: ignore[no-untyped-def]
    return build_run(
        list(targets),
        catalog=catalog,
        selection=Selection(),
        started="2026-12-05T00:00:00Z",
        options={},
    )


def _by_id(target) -> dict:  # type: ignore[no-untyped-def]
    return {r.control_id: r for r in target.results}


@pytest.mark.parametrize("host", ["lab-hardened", "lab-weak", "lab-traps", "lab-swarm"])
def test_what_the_api_shows_is_judged_as_over_ssh(catalog, recorded, host: str) -> None:  # type: ignore[no-untyped-def]
    api = _as_api(recorded[host], {"scheme": "unix", "docker_host": "unix:///run/docker.sock"})
    run = _run(catalog, recorded[host], api)
    over_ssh, over_api = (_by_id(t) for t in run.targets)
    assert over_api.keys() == over_ssh.keys()
    api_only = judged = 0
    for control_id, result in over_api.items():
        if result.status is Status.NOT_APPLICABLE and (result.reason or "").startswith(
            "API-only target"
        ):
            api_only += 1
            continue
        assert result.status is not Status.ERROR, (control_id, result.reason)
        if control_id == "5.7" and result.status is Status.PASS:
            continue  # processes come from docker top (none recorded here)
        assert result.status == over_ssh[control_id].status, (
            control_id,
            result.reason,
            over_ssh[control_id].reason,
        )
        judged += 1
    assert api_only >= 40 and judged >= 40, (api_only, judged)
    # the host's files, audit rules and dockerd's flags are out of reach, never ERRORs
    for control_id in ("1.1.3", "3.1", "3.15", "2.10"):
        assert over_api[control_id].status is Status.NOT_APPLICABLE, control_id
        assert "API-only target" in (over_api[control_id].reason or "")


def test_the_connection_decides_tls_on_tcp(catalog, recorded) -> None:  # type: ignore[no-untyped-def]
    base = {"scheme": "tcp", "docker_host": "tcp://engine:2376", "tls": True}
    refused = _as_api(recorded["lab-bare"], {**base, "client_cert_required": True})
    answered = _as_api(recorded["lab-bare"], {**base, "client_cert_required": False})
    unknown = _as_api(recorded["lab-bare"], {**base, "client_cert_required": None})
    socket = _as_api(recorded["lab-bare"], {"scheme": "unix"})
    run = _run(catalog, refused, answered, unknown, socket)
    refused_r, answered_r, unknown_r, socket_r = (_by_id(t)["2.7"] for t in run.targets)
    assert refused_r.status is Status.PASS, refused_r.reason
    assert answered_r.status is Status.FAIL, answered_r.reason
    assert answered_r.observed is False  # tlsverify, as the engine showed it
    assert unknown_r.status is Status.NOT_APPLICABLE and "API-only" in (unknown_r.reason or "")
    assert socket_r.status is Status.NOT_APPLICABLE  # listening on TCP is not shown


def test_container_processes_come_from_docker_top(catalog, recorded) -> None:  # type: ignore[no-untyped-def]
    host = recorded["lab-weak"]
    containers = json.loads(host.sections["docker.inspect"].output)
    running = [c for c in containers if c["State"]["Running"]]
    assert running
    top = {
        c["Id"]: {"Titles": ["PID", "UID", "COMMAND"], "Processes": [["4242", "0", "sshd"]]}
        for c in running
    }
    with_sshd = _by_id(_run(catalog, _as_api(host, {"scheme": "unix"}, top)).targets[0])
    assert with_sshd["5.7"].status is Status.FAIL, with_sshd["5.7"].reason
    failing = _as_api(host, {"scheme": "unix"})
    failing.sections["docker.top"] = Section("GET top", 1, "", "container abc: 500 Server Error")
    broken = _by_id(_run(catalog, failing).targets[0])
    assert broken["5.7"].status is Status.ERROR and "500" in (broken["5.7"].reason or "")


def test_a_daemon_fact_out_of_reach_decides_nothing_unless_another_branch_does() -> None:
    facts = FactSet(
        {"engine": {"userns": True, "live": False}, "daemon": {}},
        out_of_reach={"daemon": "API-only target: dockerd's flags"},
    )
    hidden = {"fact": "daemon.options.userns-remap", "op": "is_set"}
    shown_true = {"fact": "engine.userns", "op": "is_true"}
    shown_false = {"fact": "engine.live", "op": "is_true"}
    assert check_condition({"any": [hidden, shown_true]}, facts, None, Trace()) is True
    assert check_condition({"all": [hidden, shown_false]}, facts, None, Trace()) is False
    for undecided in (
        {"any": [hidden, shown_false]},
        {"all": [hidden, shown_true]},
        {"not": hidden},
    ):
        with pytest.raises(OutOfReach):
            check_condition(undecided, facts, None, Trace())
    reached = dataclasses.replace(facts, reached=frozenset({"daemon.options.tlsverify"}))
    assert reached.get("daemon.options.tlsverify") is None  # seen: not out of reach


@pytest.mark.parametrize(
    "argv,version,expected",
    [
        (["--tls", "--tlscacert", "/ca.pem"], "20.10.24+dfsg1", True),  # verified by default
        (["--tls", "--tlscacert", "/ca.pem"], "27.3.1", True),
        (["--tls", "--tlsverify=false"], "26.1.5", False),  # only an explicit false turns it off
        (["--tls"], "19.03.15", False),  # older engines did not verify unless told
        (["--tls"], None, None),  # unknown engine: left unset
        (["--tlsverify"], "19.03.15", True),
    ],
)
def test_tlsverify_is_the_engines_effective_default(argv, version, expected) -> None:  # type: ignore[no-untyped-def]
    from cisaudit.kinds.docker.derive import derive

    cmdline = (
        "pid 1\nuid 0\nexe /usr/bin/dockerd\n/usr/bin/dockerd\n-H\ntcp://0.0.0.0:2376\n"
        + "\n".join(argv)
    )
    sections = {"dockerd.cmdline": Section("cmdline", 0, cmdline)}
    if version:
        sections["docker.info"] = Section("info", 0, json.dumps({"ServerVersion": version}))
    values, _ = derive(sections)
    assert values["daemon"]["options"].get("tlsverify") == expected
    if expected is not None and "--tlsverify" not in " ".join(argv):
        assert "default of dockerd" in values["daemon"]["sources"]["tlsverify"]


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    return path


def test_docker_api_inventory_entries(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    key.chmod(0o600)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    path = _inventory(
        tmp_path,
        f"""hosts:
  tls-engine:
    kind: docker-api
    docker_host: tcp://10.0.4.7:2376
    tls_ca: {ca}
    tls_cert: {ca}
    tls_key: {key}
  ssh-engine:
    kind: docker-api
    docker_host: ssh://audit@[2001:db8::7]:2222
    known_hosts: {tmp_path}/known
  local-engine:
    kind: docker-api
    docker_host: unix:///var/run/docker.sock
""",
    )
    targets = {t.name: t for t in load_inventory(path).select(None)}
    assert targets["tls-engine"].tls_key == str(key) and targets["tls-engine"].tls_verify
    assert targets["ssh-engine"].describe() == "ssh://audit@[2001:db8::7]:2222"
    assert targets["local-engine"].kind == "docker-api"


@pytest.mark.parametrize(
    "entry,line,words",
    [
        ("docker_host: 10.0.4.7:2376", 4, "not an engine address"),
        ("docker_host: http://10.0.4.7:2375", 4, "tcp://HOST:2376"),
        ("docker_host: tcp://bad host:2376", 4, "not an engine address"),
        ("docker_host: tcp://10.0.4.7:99999", 4, "out of range"),
        ("docker_host: ssh://u@h\n    tls_ca: /etc/hostname", 5, "applies to tcp://"),
        ("docker_host: tcp://h:2376\n    key: /etc/hostname", 5, "applies to ssh://"),
        ("docker_host: tcp://h:2376\n    tls_cert: /etc/hostname", 5, "go together"),
        ("tls_ca: /etc/hostname", 2, "needs docker_host"),
        ("docker_host: tcp://h:2376\n    tls_ca: /no/such/ca.pem", 5, "is not a file"),
    ],
)
def test_bad_docker_api_entries_name_the_line(
    tmp_path: Path, entry: str, line: int, words: str
) -> None:
    path = _inventory(tmp_path, f"hosts:\n  engine:\n    kind: docker-api\n    {entry}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line == line, str(caught.value)
    assert words in caught.value.message
