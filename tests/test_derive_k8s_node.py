"""Kubernetes node facts without a lab: the recorded lab bundle, then small crafted probes.

``tests/data/bundles/lab-k8s-nodes.json`` is real evidence from the k8s-* lab nodes (re-record
with ``python tests/lab/record_k8s_bundle.py``); every fact in
``tests/lab/k8s_expected_facts.yaml`` must come out of it, as it does live.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cisaudit.api import evaluate_bundle
from cisaudit.evaluate import FactSet, MissingFact, dig
from cisaudit.evidence import Section, read_bundle
from cisaudit.kinds.k8s_node.collect import collect_k8s_node, phase2_script, probe
from cisaudit.kinds.k8s_node.derive import (
    derive,
    node_version,
    parse_manifests,
    parse_processes,
    plan_phase2,
    split_records,
)
from cisaudit.kinds.k8s_node.settings import go_bool, go_duration, parse_feature_gates, parse_flags
from cisaudit.targets import Target
from cisaudit.transport.local import LocalTransport

BUNDLE = Path(__file__).parent / "data" / "bundles" / "lab-k8s-nodes.json"
EXPECTED = yaml.safe_load((Path(__file__).parent / "lab" / "k8s_expected_facts.yaml").read_text())
NONCE = "==CISAUDIT:00112233aabbccdd"
M = NONCE + "/"


def fact_mismatches(values: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Expected facts (dotted paths; "#count" compares a list's length) that differ."""
    wrong = []
    for path, want in expected.items():
        if path.endswith("#count"):
            got: Any = len(dig(values, path.removesuffix("#count")) or [])
        else:
            got = dig(values, path)
        if got != want:
            wrong.append(f"{path}: expected {want!r}, got {got!r}")
    return wrong


@pytest.fixture(scope="module")
def recorded() -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    _, targets = read_bundle(BUNDLE)
    return {t.name.removeprefix("lab-"): derive(t.sections) for t in targets}


def test_the_bundle_holds_every_lab_node(recorded) -> None:  # type: ignore[no-untyped-def]
    assert set(recorded) == set(EXPECTED)
    _, targets = read_bundle(BUNDLE)
    for target in targets:
        assert target.kind == "k8s-node" and target.remote_calls == 2
        assert target.platform_version == "v1.33.2"


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_recorded_facts(recorded, host: str) -> None:  # type: ignore[no-untyped-def]
    values, errors = recorded[host]
    assert errors == {}
    wrong = fact_mismatches(values, EXPECTED[host])
    assert not wrong, f"{host}:\n" + "\n".join(wrong)


def test_a_decoy_mentioning_compliant_flags_is_not_the_api_server(recorded) -> None:  # type: ignore[no-untyped-def]
    values, _ = recorded["k8s-cp-weak"]
    api = values["k8s"]["components"]["apiserver"]
    assert api["argv"][0] == "kube-apiserver" and "--anonymous-auth=false" not in api["argv"]
    assert api["settings"]["anonymous-auth"] == "true"


def test_encryption_keys_never_reach_the_evidence() -> None:
    text = BUNDLE.read_text()
    assert "c2VjcmV0IGlz" not in text and 'secret: \\"<redacted>\\"' in text  # JSON-escaped


def test_admission_plugins_in_effect(recorded) -> None:  # type: ignore[no-untyped-def]
    weak = recorded["k8s-cp-weak"][0]["k8s"]["components"]["apiserver"]
    assert "AlwaysAdmit" in weak["effective_admission_plugins"]
    assert "ServiceAccount" not in weak["effective_admission_plugins"]
    hardened = recorded["k8s-cp-hardened"][0]["k8s"]["components"]["apiserver"]
    assert {"NodeRestriction", "ServiceAccount", "NamespaceLifecycle"} <= set(
        hardened["effective_admission_plugins"]
    )


def test_offline_evaluation_reads_the_bundle() -> None:
    outcome = evaluate_bundle(BUNDLE)
    assert [t.name for t in outcome.run.targets] == [
        "lab-k8s-cp-hardened",
        "lab-k8s-cp-partial",
        "lab-k8s-cp-weak",
        "lab-k8s-etcd",
        "lab-k8s-k3s",
        "lab-k8s-worker-hardened",
        "lab-k8s-worker-weak",
    ]


# -- command lines and component defaults ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["x", "--a=1", "--b", "2", "-c=3", "-d", "4"], {"a": "1", "b": "2", "c": "3", "d": "4"}),
        (
            ["x", "--profiling", "--bind-address", "0.0.0.0"],
            {"profiling": "true", "bind-address": "0.0.0.0"},
        ),
        (["x", "--v=2", "--v=4"], {"v": "4"}),  # the last repetition wins
        (["x", "--event-qps", "-1"], {"event-qps": "-1"}),  # a negative number is a value
        (
            ["x", "--anonymous-auth", "false"],
            {"anonymous-auth": "true"},
        ),  # a boolean takes no value
        (["x", "--flag=a=b,c"], {"flag": "a=b,c"}),
        (["x", "--", "--not-a-flag=1"], {}),
    ],
)
def test_flags_in_both_spellings(argv: list[str], flags: dict[str, str]) -> None:
    assert parse_flags(argv, frozenset({"profiling", "anonymous-auth"})) == flags


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0", "0s"),
        ("0s", "0s"),
        ("0m0s", "0s"),
        ("5m", "5m0s"),
        ("300s", "5m0s"),
        ("4h", "4h0m0s"),
        ("1h30m", "1h30m0s"),
        ("1.5h", "1h30m0s"),
        ("90s", "1m30s"),
        ("500ms", "500ms"),
        ("soon", "soon"),
    ],
)
def test_durations_are_spelled_as_go_prints_them(text: str, canonical: str) -> None:
    assert go_duration(text) == canonical


def test_booleans_and_feature_gates() -> None:
    assert [go_bool(v) for v in ("1", "t", "True", "0", "F", "FALSE", "yes")] == [
        "true",
        "true",
        "true",
        "false",
        "false",
        "false",
        "yes",
    ]
    assert parse_feature_gates("A=true, B=False,C=maybe") == {"A": True, "B": False, "C": "maybe"}


# -- crafted probe output ----------------------------------------------------------------------


def process(component: str, pid: int, argv: list[str], env: dict[str, str] | None = None) -> str:
    lines = [
        f"{M}PROC {component} {pid} 0",
        f"{M}EXE /usr/bin/{argv[0]}",
        f"{M}CWD /",
        f"{M}ARGV {len(argv)}",
        *argv,
    ]
    if env is not None:
        lines += [f"{M}ENV", *(f"{k}={v}" for k, v in env.items())]
    return "\n".join(lines)


def config(label: str, path: str, text: str | None) -> str:
    if text is None:
        return f"{M}MISSING {label} {path}"
    return f"{M}FILE {label} {path}\n{text}\n"


def node(
    processes: list[str],
    configs: list[str] = (),
    roles: list[str] = (),  # type: ignore[assignment]
    stat: str | None = "",
) -> dict[str, Section]:
    sections = {
        "id": Section("id -u", 0, "0"),
        "k8s.processes": Section("processes", 0, "\n".join([f"{M}PROCESSES", *processes]) + "\n"),
        "k8s.configs": Section("configs", 0, "\n".join([f"{M}CONFIGS", *configs]) + "\n"),
        "k8s.version": Section("versions", 0, ""),
        "k8s.target": Section("inventory", 0, json.dumps({"roles": list(roles)})),
    }
    if stat is not None:
        sections["host.stat"] = Section("stat", 0, stat)
    return sections


def component(values: dict[str, Any], name: str) -> dict[str, Any]:
    return values["k8s"]["components"][name]


def test_kubelet_flag_over_drop_in_over_file_over_default() -> None:
    sections = node(
        [
            process(
                "kubelet",
                10,
                [
                    "kubelet",
                    "--config",
                    "/var/lib/kubelet/config.yaml",
                    "--config-dir=/etc/kubernetes/kubelet.conf.d",
                    "--event-qps=9",
                ],
            )
        ],
        [
            config(
                "kubelet.config",
                "/var/lib/kubelet/config.yaml",
                "readOnlyPort: 10255\neventRecordQPS: 3\nauthentication:\n  x509:\n"
                "    clientCAFile: pki/ca.crt\n",
            ),
            config(
                "kubelet.dropin", "/etc/kubernetes/kubelet.conf.d/10-a.conf", "readOnlyPort: 1\n"
            ),
            config(
                "kubelet.dropin",
                "/etc/kubernetes/kubelet.conf.d/20-b.conf",
                "readOnlyPort: 0\nauthentication: {webhook: {enabled: false}}\n",
            ),
        ],
    )
    values, errors = derive(sections)
    kubelet = component(values, "kubelet")
    assert errors == {}
    assert (
        kubelet["settings"]["read-only-port"],
        kubelet["setting_sources"]["read-only-port"],
    ) == ("0", "config")
    assert (kubelet["settings"]["event-qps"], kubelet["setting_sources"]["event-qps"]) == (
        "9",
        "flag",
    )
    assert kubelet["settings"]["authentication-token-webhook"] == "false"
    # relative paths in a kubelet configuration file are relative to that file
    assert kubelet["settings"]["client-ca-file"] == "/var/lib/kubelet/pki/ca.crt"
    assert (
        kubelet["settings"]["anonymous-auth"],
        kubelet["setting_sources"]["anonymous-auth"],
    ) == ("false", "default")


def test_kubelet_without_a_config_file_keeps_the_legacy_defaults() -> None:
    values, _ = derive(node([process("kubelet", 10, ["/usr/bin/kubelet", "--kubeconfig=/k.conf"])]))
    settings = component(values, "kubelet")["settings"]
    assert (
        settings["anonymous-auth"],
        settings["authorization-mode"],
        settings["read-only-port"],
    ) == ("true", "AlwaysAllow", "10255")
    assert (
        values["files"]["kubelet_config"] is None and values["files"]["kubelet_client_ca"] is None
    )


def test_an_unreadable_kubelet_config_is_an_error_not_a_default() -> None:
    values, errors = derive(
        node(
            [process("kubelet", 10, ["kubelet", "--config=/var/lib/kubelet/config.yaml"])],
            [config("kubelet.config", "/var/lib/kubelet/config.yaml", None)],
            roles=["worker"],
        )
    )
    assert "k8s.components.kubelet.settings" in errors
    facts = FactSet(values, errors)
    with pytest.raises(MissingFact):
        facts.get("k8s.components.kubelet.settings.anonymous-auth")
    assert facts.get("k8s.components.kubelet.running") is True


def test_etcd_config_file_silences_flags_and_environment() -> None:
    argv = ["etcd", "--config-file=/etc/etcd/etcd.conf.yml", "--client-cert-auth=false"]
    text = (
        "name: e1\nclient-transport-security:\n  client-cert-auth: true\n"
        "peer-transport-security:\n  auto-tls: true\n"
    )
    values, errors = derive(
        node(
            [process("etcd", 5, argv, {"ETCD_PEER_AUTO_TLS": "false"})],
            [config("etcd.config", "/etc/etcd/etcd.conf.yml", text)],
        )
    )
    settings = component(values, "etcd")["settings"]
    assert errors == {}
    assert (settings["client-cert-auth"], settings["peer-auto-tls"]) == ("true", "true")
    assert settings["data-dir"] == "e1.etcd"  # ${name}.etcd


def test_etcd_flag_over_environment_over_default() -> None:
    env = {"ETCD_CLIENT_CERT_AUTH": "true", "ETCD_PEER_CLIENT_CERT_AUTH": "true"}
    values, _ = derive(node([process("etcd", 5, ["etcd", "--client-cert-auth=false"], env)]))
    etcd = component(values, "etcd")
    assert etcd["settings"]["client-cert-auth"] == "false"
    assert (
        etcd["settings"]["peer-client-cert-auth"],
        etcd["setting_sources"]["peer-client-cert-auth"],
    ) == ("true", "env")
    assert (etcd["settings"]["auto-tls"], etcd["setting_sources"]["auto-tls"]) == (
        "false",
        "default",
    )
    assert etcd["settings"]["data-dir"] == "default.etcd"
    assert values["files"]["etcd_data_dir"]["path"] == "/default.etcd"  # from etcd's cwd


def test_kube_proxy_config_file_wins_over_its_flags() -> None:
    values, _ = derive(
        node(
            [
                process(
                    "proxy",
                    7,
                    ["kube-proxy", "--config=/c.yaml", "--metrics-bind-address=127.0.0.1:10249"],
                )
            ],
            [config("proxy.config", "/c.yaml", "metricsBindAddress: 0.0.0.0:10249\n")],
        )
    )
    proxy = component(values, "proxy")
    assert proxy["settings"]["metrics-bind-address"] == "0.0.0.0:10249"
    assert proxy["ignored_flags"] == ["metrics-bind-address"]


def test_unset_control_plane_flags_read_as_their_real_defaults() -> None:
    values, _ = derive(
        node(
            [
                process("apiserver", 1, ["kube-apiserver"]),
                process("controller_manager", 2, ["kube-controller-manager"]),
                process("scheduler", 3, ["kube-scheduler"]),
            ]
        )
    )
    api = component(values, "apiserver")["settings"]
    assert (api["anonymous-auth"], api["profiling"], api["authorization-mode"]) == (
        "true",
        "true",
        "AlwaysAllow",
    )
    assert api["service-account-extend-token-expiration"] == "true"
    for name in ("controller_manager", "scheduler"):
        assert component(values, name)["settings"]["bind-address"] == "0.0.0.0"
        assert component(values, name)["settings"]["profiling"] == "true"


def test_a_component_the_role_needs_but_the_node_lacks_is_an_error() -> None:
    values, errors = derive(
        node([process("kubelet", 10, ["kubelet"])], roles=["control-plane", "worker"])
    )
    assert set(errors) == {
        "k8s.components.apiserver",
        "k8s.components.controller_manager",
        "k8s.components.scheduler",
    }
    assert "kube-apiserver" in errors["k8s.components.apiserver"]
    assert component(values, "proxy")["source"] is None and "k8s.components.proxy" not in errors


def test_a_stopped_component_is_read_from_its_manifest() -> None:
    manifest = (
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-scheduler\n"
        "    image: registry.k8s.io/kube-scheduler:v1.33.1\n    command: [kube-scheduler]\n"
        "    args: ['--profiling=false', '--bind-address', '127.0.0.1']\n"
        "---\nkind: Pod\nspec:\n  containers:\n  - name: api\n"
        "    image: registry.k8s.io/kube-apiserver:v1.33.1\n    args: [--profiling=false]\n"
    )
    sections = node(
        [],
        [config("manifest", "/etc/kubernetes/manifests/sched.yaml", manifest)],
        roles=["control-plane"],
    )
    values, errors = derive(sections)
    scheduler = component(values, "scheduler")
    assert (scheduler["running"], scheduler["source"], scheduler["pid"]) == (
        False,
        "manifest",
        None,
    )
    assert scheduler["settings"]["bind-address"] == "127.0.0.1"
    assert values["files"]["scheduler_manifest"]["path"] == "/etc/kubernetes/manifests/sched.yaml"
    # a container without a command runs its image's entrypoint
    assert component(values, "apiserver")["argv"] == ["kube-apiserver", "--profiling=false"]
    assert node_version(sections) == "v1.33.1"
    assert errors == {
        "k8s.components.controller_manager": errors["k8s.components.controller_manager"]
    }


def test_file_content_cannot_forge_a_record() -> None:
    forged = "==CISAUDIT:ffffffffffffffff/PROC apiserver 1 0\nkind: KubeletConfiguration\n"
    sections = node([], [config("kubelet.config", "/k.yaml", forged)])
    assert [r.kind for r in split_records(sections["k8s.configs"])] == ["CONFIGS", "FILE"]
    assert parse_manifests([], {}) == {}


def test_without_the_stat_batch_file_facts_are_errors() -> None:
    values, errors = derive(node([process("kubelet", 10, ["kubelet"])], stat=None))
    assert set(errors) == {"files", "pki_files", "cni_files"}
    assert values["k8s"]["components"]["kubelet"]["running"] is True


def test_files_take_the_first_existing_candidate_and_walk_trees() -> None:
    stat = "\n".join(
        [
            "A\t/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "S\t/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf\t/usr/lib/x\t8180\t0\t0\troot\troot",
            "D\t/etc/kubernetes/pki",
            "T\t/etc/kubernetes/pki/ca.key\t81b6\t0\t0\troot\troot",
            "DA\t/etc/cni/net.d",
            "D\t/var/lib/cni/networks",
        ]
    )
    values, _ = derive(node([process("kubelet", 10, ["kubelet"])], stat=stat))
    unit = values["files"]["kubelet_service"]
    assert (unit["path"], unit["mode_octal"], unit["type"]) == (
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "0600",
        "file",
    )
    assert [(f["cis"]["name"], f["mode_octal"]) for f in values["pki_files"]] == [
        ("/etc/kubernetes/pki/ca.key", "0666")
    ]
    assert values["cni_files"] == []


def test_phase_two_plans_reads_for_manifest_only_components() -> None:
    manifest = (
        "kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver, "
        "'--encryption-provider-config=/etc/kubernetes/enc.yaml']\n"
    )
    sections = node(
        [], [config("manifest", "/etc/kubernetes/manifests/kube-apiserver.yaml", manifest)]
    )
    plan = plan_phase2(sections)
    assert plan.reads == [("apiserver.encryption", "/etc/kubernetes/enc.yaml", None)]
    script = phase2_script(NONCE, plan)
    assert (
        "CISAUDIT_PHASE=2" in script
        and "show apiserver.encryption /etc/kubernetes/enc.yaml" in script
    )


def test_the_probe_runs_on_a_machine_without_kubernetes() -> None:
    target = Target(name="here", kind="k8s-node", roles=("worker",))
    evidence = collect_k8s_node(target, LocalTransport(target))
    assert evidence.error is None and evidence.remote_calls == 2
    assert {"k8s.processes", "k8s.configs", "k8s.version", "host.stat", "k8s.target"} <= set(
        evidence.sections
    )
    assert probe().count("sec ") >= 6
    values, errors = derive(evidence.sections)
    assert "k8s.components.kubelet" in errors or values["k8s"]["components"]["kubelet"]["running"]
    assert values["files"]["pki_dir"]["path"] == "/etc/kubernetes/pki"


def test_an_unreadable_etcd_environment_is_an_error() -> None:
    lines = process("etcd", 5, ["etcd", "--client-cert-auth=true"]) + f"\n{M}ENV unreadable"
    values, errors = derive(node([lines], roles=["etcd"]))
    assert "root" in errors["k8s.components.etcd.settings"]
    assert FactSet(values, errors).get("k8s.components.etcd.running") is True


SCHED_ARGV = [
    "kube-scheduler",
    "--config=/etc/kubernetes/scheduler-config.yaml",
    "--profiling=false",
    "--kubeconfig=/etc/kubernetes/scheduler.conf",
    "--bind-address=127.0.0.1",
]


@pytest.mark.parametrize(
    "text,profiling,kubeconfig",
    [
        # the file's enableProfiling wins over --profiling, which --config makes ignored
        (
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
            "enableProfiling: true\nclientConnection:\n  kubeconfig: /etc/kubernetes/sched.kubeconfig\n",
            "true",
            "/etc/kubernetes/sched.kubeconfig",
        ),
        # absent from the file: profiling defaults to on there too, whatever the flag says
        (
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n",
            "true",
            None,
        ),
        ("enableProfiling: false\n", "false", None),
    ],
)
def test_scheduler_config_file_replaces_its_deprecated_flags(text, profiling, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    values, errors = derive(
        node(
            [process("scheduler", 9, SCHED_ARGV)],
            [config("scheduler.config", "/etc/kubernetes/scheduler-config.yaml", text)],
        )
    )
    scheduler = component(values, "scheduler")
    assert scheduler["settings"]["profiling"] == profiling
    assert scheduler["setting_sources"]["profiling"] in ("config", "default")
    assert scheduler["settings"].get("kubeconfig") == kubeconfig
    assert scheduler["settings"]["bind-address"] == "127.0.0.1"  # a serving flag still applies
    assert scheduler["ignored_flags"] == ["kubeconfig", "profiling"]
    assert not [k for k in errors if "scheduler" in k]


def test_an_unreadable_scheduler_config_is_an_error() -> None:
    _, errors = derive(
        node(
            [process("scheduler", 9, SCHED_ARGV)],
            [config("scheduler.config", "/etc/kubernetes/scheduler-config.yaml", None)],
        )
    )
    assert "scheduler-config.yaml" in errors["k8s.components.scheduler.settings"]


def test_a_manifest_only_scheduler_config_is_read_in_phase_two() -> None:
    manifest = (
        "kind: Pod\nspec:\n  containers:\n  - command: [kube-scheduler, "
        "'--config=/etc/kubernetes/scheduler-config.yaml']\n"
    )
    sections = node(
        [], [config("manifest", "/etc/kubernetes/manifests/kube-scheduler.yaml", manifest)]
    )
    plan = plan_phase2(sections)
    assert ("scheduler.config", "/etc/kubernetes/scheduler-config.yaml", None) in plan.reads


def k3s_component(component: str, argv: list[str], where: str = "/var/log/k3s.log") -> str:
    return "\n".join(
        [
            f"{M}PROC {component} 300 0",
            f"{M}EXE /usr/local/bin/k3s",
            f"{M}CWD /",
            f"{M}FROM {where}",
            f"{M}ARGV {len(argv)}",
            *argv,
        ]
    )


def test_k3s_components_come_from_its_log_and_use_its_layout() -> None:
    sections = node(
        [
            f"{M}DISTRO k3s 300",
            k3s_component(
                "apiserver",
                [
                    "kube-apiserver",
                    "--anonymous-auth=false",
                    "--encryption-provider-config=/e.json",
                ],
            ),
            k3s_component(
                "kubelet",
                ["kubelet", "--kubeconfig=/var/lib/rancher/k3s/agent/kubelet.kubeconfig"],
            ),
        ],
        roles=["control-plane", "worker"],
    )
    values, _ = derive(sections)
    api = component(values, "apiserver")
    assert api["running"] and api["argv_from"] == "/var/log/k3s.log"
    assert api["settings"]["anonymous-auth"] == "false"
    assert values["k8s"]["distribution"]["name"] == "k3s"
    assert "/var/log/k3s.log" in values["summary"]["distribution_how"]
    plan = plan_phase2(sections)
    assert ("apiserver.encryption", "/e.json", None) in plan.reads  # followed in phase 2
    assert plan.trees[0] == "/var/lib/rancher/k3s/server/tls"
    assert "apiserver_manifest" not in plan.candidates  # no static pods
    assert "super_admin_conf" not in plan.candidates  # kubeadm's alone
    assert plan.candidates["admin_conf"] == [
        ("/var/lib/rancher/k3s/server/cred/admin.kubeconfig", None)
    ]
    assert plan.candidates["kubelet_kubeconfig"] == [
        ("/var/lib/rancher/k3s/agent/kubelet.kubeconfig", 300)
    ]


def test_k3s_without_its_log_says_so_on_each_component_its_roles_need() -> None:
    sections = node(
        [f"{M}DISTRO k3s 300", f"{M}NOLOG no Running line in journald or /var/log/k3s.log"],
        roles=["control-plane"],
    )
    _, errors = derive(sections)
    reason = errors["k8s.components.apiserver"]
    assert "K3s runs on this node (pid 300)" in reason and "/var/log/k3s.log" in reason


def test_rke2_defaults_to_its_own_locations() -> None:
    sections = node([f"{M}DISTRO rke2 200"], roles=["control-plane"])
    plan = plan_phase2(sections)
    assert plan.candidates["apiserver_manifest"] == [
        ("/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml", None)
    ]
    assert plan.trees[0] == "/var/lib/rancher/rke2/server/tls"
    assert plan.candidates["kubelet_service"][0][0].endswith("rke2-server.service")


def test_the_k3s_probe_parses_its_log_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The probe's own shell, on a log as K3s writes it (no k3s process here: the function
    is called with a made-up pid)."""
    import subprocess

    log = tmp_path / "k3s.log"
    log.write_text(
        'time="2026-12-05T01:00:00Z" level=info msg="Starting k3s v1.33.2+k3s1"\n'
        'time="2026-12-05T01:00:00Z" level=info msg="Running kube-apiserver --a=1 --b=two"\n'
        'time="2026-12-05T01:00:01Z" level=info msg="Running kubelet --read-only-port=0"\n'
        'time="2026-12-05T02:00:00Z" level=info msg="Running kube-apiserver --a=2"\n'
    )
    text = probe()
    helpers = text[text.index("pid_named() {") : text.index("processes() {")]
    script = (
        f"M='{M}'\n{helpers}\nK3S_LOGS='{log}'\nP_k3s=$$\n"
        "journalctl() { return 1; }\nk3s_components\n"
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    processes = parse_processes(Section("p", 0, f"{M}PROCESSES\n" + out))
    assert processes["apiserver"].argv == ["kube-apiserver", "--a=2"]  # the last start wins
    assert processes["kubelet"].argv == ["kubelet", "--read-only-port=0"]
    assert processes["apiserver"].origin == str(log)


@pytest.mark.parametrize(
    "version,argv,name",
    [
        (
            "Kubernetes v1.31.2-eks-7f9249a",
            ["kubelet", "--config=/etc/kubernetes/kubelet/config.json"],
            "eks",
        ),
        (
            "Kubernetes v1.30.5-gke.1014001",
            ["kubelet", "--config=/home/kubernetes/kubelet-config.yaml"],
            "gke",
        ),
        (
            "Kubernetes v1.31.1",
            ["kubelet", "--azure-container-registry-config=/etc/kubernetes/azure.json"],
            "aks",
        ),
        ("Kubernetes v1.31.1", ["kubelet", "--config=/var/lib/kubelet/config.yaml"], "kubeadm"),
    ],
)
def test_managed_worker_nodes_say_which_variant_was_used(version, argv, name) -> None:  # type: ignore[no-untyped-def]
    sections = node([process("kubelet", 5, argv)], roles=["worker"])
    sections["k8s.version"] = Section("versions", 0, f"kubelet {version}\n")
    values, _ = derive(sections)
    assert values["k8s"]["distribution"]["name"] == name
    assert values["summary"]["distribution"] == name
