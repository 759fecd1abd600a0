"""Builds the sample runs that the report tests and the benchmark render.

Run it as a script to refresh ``sample-results.json`` and ``sample-evidence.json``
beside it::

    python tests/data/report/samples.py

The small sample covers every status, offenders, evidence keys, a host that could not
be audited, two benchmarks, framework mappings and hostile strings (a container named
``<script>alert(1)</script>``, a host name with ``&"'<>``). ``synthetic_run`` builds a
fleet of any size for the benchmark.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from cisaudit.model import (  # noqa: E402
    ControlInfo,
    Offender,
    Result,
    Run,
    Status,
    TargetResult,
)
from cisaudit.rollup import rescore  # noqa: E402
from cisaudit.score import Report  # noqa: E402
from cisaudit.waivers import KnownControls, apply_waivers, parse_waivers  # noqa: E402

DOCKER = "cis-docker-1.6.0"
K8S = "cis-kubernetes-1.12"
HOSTILE_CONTAINER = "<script>alert(1)</script>"
HOSTILE_HOST = "web&\"'<>01"

SECTIONS: dict[str, dict[str, dict[str, str]]] = {
    DOCKER: {
        "1": {"en": "Host Configuration", "zh": "主机配置"},
        "2": {"en": "Docker daemon configuration", "zh": "Docker 守护进程配置"},
        "5": {"en": "Container Runtime", "zh": "容器运行时"},
        "6": {"en": "Docker Security Operations", "zh": "Docker 安全运维"},
    },
    K8S: {
        "4": {"en": "Worker Nodes", "zh": "工作节点"},
    },
}


def _control(
    cid: str,
    bench: str,
    title_en: str,
    title_zh: str,
    *,
    level: int = 1,
    automated: bool = True,
    snippet: str = "",
    mappings: dict[str, list[str]] | None = None,
) -> ControlInfo:
    return ControlInfo(
        id=cid,
        benchmark=bench,
        section=cid.split(".")[0],
        title={"en": title_en, "zh": title_zh},
        level=level,
        profiles=[f"Level {level}"],
        automated=automated,
        cis_assessment="Automated" if automated else "Manual",
        description={"en": f"{title_en}.", "zh": f"{title_zh}。"},
        rationale={
            "en": f"If this is not done ({title_en.lower()}), an attacker has an easier path.",
            "zh": f"若未{title_zh}，攻击者更容易得手。",
        },
        remediation={"en": f"Make sure to: {title_en.lower()}.", "zh": f"请确保：{title_zh}。"},
        snippet=snippet,
        snippet_kind="shell" if snippet else "",
        audit={"en": "Inspect the configuration.", "zh": "检查配置。"},
        references=["https://docs.docker.com/engine/security/"],
        mappings=mappings or {},
    )


def sample_controls() -> dict[str, ControlInfo]:
    controls = [
        _control(
            "1.1.1",
            DOCKER,
            "Ensure a separate partition for containers has been created",
            "确保为容器创建了单独的分区",
            mappings={"djbh-2.0": ["8.1.4.2"]},
        ),
        _control(
            "1.1.3",
            DOCKER,
            "Ensure auditing is configured for the Docker daemon",
            "确保为 Docker 守护进程配置了审计",
            level=1,
            snippet="echo '-w /usr/bin/dockerd -k docker' >> /etc/audit/rules.d/docker.rules",
            mappings={"djbh-2.0": ["8.1.4.3"], "pci-dss-4.0": ["10.2.1"]},
        ),
        _control(
            "2.2",
            DOCKER,
            "Ensure network traffic is restricted between containers",
            "确保限制默认网桥上容器之间的网络流量",
            snippet='{ "icc": false }',
            mappings={"pci-dss-4.0": ["1.3.1"]},
        ),
        _control(
            "2.14", DOCKER, "Ensure Userland Proxy is Disabled", "确保禁用用户态代理", level=2
        ),
        _control(
            "2.16",
            DOCKER,
            "Ensure that experimental features are not used in production",
            "确保生产环境中不使用实验性功能",
            level=2,
        ),
        _control(
            "5.5",
            DOCKER,
            "Ensure sensitive host system directories are not mounted",
            "确保容器中未挂载主机敏感目录",
            snippet="docker run --rm -v /srv/app:/app:ro IMAGE",
            mappings={"djbh-2.0": ["8.1.4.2"], "pci-dss-4.0": ["2.2.1"]},
        ),
        _control(
            "5.10",
            DOCKER,
            "Ensure that the memory usage for containers is limited",
            "确保限制容器的内存使用量",
            snippet="docker update --memory 512m CONTAINER",
        ),
        _control(
            "5.31",
            DOCKER,
            "Ensure that the Docker socket is not mounted inside containers",
            "确保容器内未挂载 Docker 套接字",
            mappings={"pci-dss-4.0": ["2.2.1"]},
        ),
        _control(
            "6.1",
            DOCKER,
            "Ensure that image sprawl is avoided",
            "确保避免镜像泛滥",
            automated=False,
        ),
        _control(
            "4.2.1",
            K8S,
            "Ensure that the --anonymous-auth argument is set to false",
            "确保 --anonymous-auth 参数设置为 false",
            snippet="--anonymous-auth=false",
            mappings={"djbh-2.0": ["8.1.4.1"]},
        ),
        _control(
            "4.2.6",
            K8S,
            "Ensure that the --make-iptables-util-chains argument is true",
            "确保 --make-iptables-util-chains 参数设置为 true",
            level=1,
        ),
    ]
    return {f"{c.benchmark}/{c.id}": c for c in controls}


def _ev(command: str, output: str, rc: int = 0) -> dict[str, Any]:
    return {
        "command": command,
        "rc": rc,
        "output": output,
        "sha256": hashlib.sha256(output.encode()).hexdigest(),
    }


def _docker_results(name: str, weak: bool) -> list[Result]:
    hostile = Offender(kind="container", name=HOSTILE_CONTAINER, observed="/:/host", id="c0ffee01")
    return [
        Result(
            "1.1.1",
            Status.PASS,
            observed="/var/lib/docker on /dev/sdb1",
            expected="separate partition",
            evidence=["mounts"],
        ),
        Result(
            "1.1.3",
            Status.FAIL if weak else Status.PASS,
            reason="no audit rule watches /usr/bin/dockerd",
            observed="no rule",
            expected="-w /usr/bin/dockerd -k docker",
            evidence=["auditctl"],
            remediation="echo '-w /usr/bin/dockerd -k docker' >> /etc/audit/rules.d/docker.rules"
            if weak
            else "",
        ),
        Result(
            "2.2",
            Status.FAIL,
            reason="icc is enabled on the default bridge",
            observed={"icc": True},
            expected={"icc": False},
            evidence=["daemon_json", "docker_info"],
            remediation="# /etc/docker/daemon.json on " + name + '\n{ "icc": false }',
        ),
        Result(
            "2.14",
            Status.FAIL,
            reason="userland-proxy is enabled",
            observed={"userland-proxy": True},
            expected={"userland-proxy": False},
            evidence=["daemon_json"],
        ),
        Result("2.16", Status.NOT_APPLICABLE, reason="experimental mode not available"),
        Result(
            "5.5",
            Status.FAIL if weak else Status.PASS,
            reason="a container mounts / from the host",
            observed="1 container mounts sensitive host paths",
            expected="no mount of /, /boot, /dev, /etc, /lib, /proc, /sys, /usr",
            offenders=[hostile] if weak else [],
            evidence=["docker_inspect"],
            remediation="docker rm -f c0ffee01 && docker run --rm -v /srv/app:/app:ro IMAGE"
            if weak
            else "",
        ),
        Result(
            "5.10",
            Status.ERROR,
            reason="permission denied reading container config",
            evidence=["docker_inspect"],
        ),
        Result(
            "5.31",
            Status.PASS,
            observed="no socket mounts",
            expected="no socket mounts",
            evidence=["docker_inspect"],
        ),
        Result("6.1", Status.MANUAL, reason="review image inventory with the owners"),
    ]


def _docker_evidence(weak: bool) -> dict[str, Any]:
    inspect = [
        {
            "Id": "c0ffee01",
            "Name": "/" + HOSTILE_CONTAINER,
            "Mounts": [{"Source": "/", "Destination": "/host"}] if weak else [],
        }
    ]
    long_info = "\n".join(f"Line {i}: Storage Driver: overlay2 <b>&amp;</b>" for i in range(80))
    return {
        "mounts": _ev("findmnt -no SOURCE,TARGET /var/lib/docker", "/dev/sdb1 /var/lib/docker\n"),
        "auditctl": _ev("auditctl -l", "No rules\n" if weak else "-w /usr/bin/dockerd -k docker\n"),
        "daemon_json": _ev("cat /etc/docker/daemon.json", '{"log-driver": "json-file"}\n'),
        "docker_info": _ev("docker info --format '{{json .}}'", long_info),
        "docker_inspect": _ev("docker inspect $(docker ps -q)", json.dumps(inspect, indent=1)),
    }


def sample_run() -> tuple[Run, dict[str, Any]]:
    """The small sample: returns the run and the evidence document."""
    controls = sample_controls()
    targets: list[TargetResult] = []
    evidence: dict[str, Any] = {}
    for i, (name, weak) in enumerate(
        [("docker-01", False), (HOSTILE_HOST, True), ("docker-03", True)]
    ):
        targets.append(
            TargetResult(
                name=name,
                kind="docker-host",
                address=f"10.0.0.{11 + i}",
                groups=["prod", "web"],
                benchmark=DOCKER,
                started_at=f"2026-11-22T08:00:0{i}Z",
                duration_s=2.5 + i,
                remote_calls=1,
                facts_summary={"docker_version": "26.1.4", "containers": 1},
                results=_docker_results(name, weak),
            )
        )
        evidence[name] = {"evidence": _docker_evidence(weak)}
    targets.append(
        TargetResult(
            name="docker-04",
            kind="docker-host",
            address="10.0.0.14",
            groups=["prod"],
            benchmark=DOCKER,
            reachable=False,
            error="ssh: connect to 10.0.0.14:22 timed out after 10 s",
            results=[
                Result(cid.split("/")[1], Status.ERROR, reason="host unreachable")
                for cid in controls
                if cid.startswith(DOCKER)
            ],
        )
    )
    targets.append(
        TargetResult(
            name="k8s-worker-1",
            kind="k8s-node",
            address="10.0.1.21",
            groups=["k8s"],
            benchmark=K8S,
            started_at="2026-11-22T08:00:09Z",
            duration_s=3.1,
            remote_calls=1,
            results=[
                Result(
                    "4.2.1",
                    Status.FAIL,
                    reason="kubelet allows anonymous requests",
                    observed="--anonymous-auth=true",
                    expected="--anonymous-auth=false",
                    evidence=["kubelet_cmdline"],
                    remediation="sed -i 's/--anonymous-auth=true/--anonymous-auth=false/' "
                    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
                ),
                Result(
                    "4.2.6",
                    Status.PASS,
                    observed="true",
                    expected="true",
                    evidence=["kubelet_cmdline"],
                ),
            ],
        )
    )
    evidence["k8s-worker-1"] = {
        "evidence": {
            "kubelet_cmdline": _ev(
                "ps -o args= -C kubelet",
                "/usr/bin/kubelet --anonymous-auth=true --make-iptables-util-chains=true\n",
            ),
        }
    }
    run = Run(
        run_id="run-20261122-080000",
        tool_version="0.1.0",
        started_at="2026-11-22T08:00:00Z",
        finished_at="2026-11-22T08:00:15Z",
        benchmarks=[DOCKER, K8S],
        options={"profile": "Level 2", "inventory": "inv.yml"},
        targets=targets,
        controls=controls,
        sections=SECTIONS,
    )
    for target in targets:
        target.evidence_sha256 = {
            k: v["sha256"] for k, v in evidence.get(target.name, {}).get("evidence", {}).items()
        }
    run.frameworks = {SAMPLE_FRAMEWORK["id"]: json.loads(json.dumps(SAMPLE_FRAMEWORK))}
    waivers = parse_waivers(
        SAMPLE_WAIVERS, "waivers.yaml", KnownControls.from_run(run), today=SAMPLE_DAY
    )
    apply_waivers(run, waivers, as_of=SAMPLE_DAY)
    rescore(run)
    return run, {"schema_version": "1.0", "run_id": run.run_id, "targets": evidence}


SAMPLE_DAY = dt.date(2026, 11, 22)
# One waiver applied (2.14 everywhere), one for some containers, one expired, one unused.
SAMPLE_WAIVERS = """
waivers:
  - id: W-2026-042
    controls: ["2.14"]
    targets: ["group:web"]
    reason: legacy NAT needs the userland proxy
    approved_by: Li Wei (CISO)
    ticket: OPS-42
    expires: 2026-12-31
  - id: W-2026-043
    controls: ["cis-docker-1.6.0:5.5"]
    targets: ["docker-03"]
    objects: ["container:<script>*"]
    reason: backup agent reads the host root until it moves to snapshots
    approved_by: 王芳
    ticket: OPS-77
    expires: 2027-02-28
  - id: W-2025-007
    controls: ["2.2"]
    reason: expired exception
    approved_by: Li Wei
    expires: 2025-12-31
  - id: W-2026-050
    controls: ["4.2.6"]
    targets: ["nowhere-*"]
    reason: matches nothing
    approved_by: Li Wei
    expires: 2027-01-31
"""
_TEXT = {"en": "", "zh": ""}
SAMPLE_FRAMEWORK: dict[str, Any] = {
    "id": "mlps-2.0-l3",
    "name": {"en": "MLPS 2.0 level 3 (sample)", "zh": "等保 2.0 第三级（样例）"},
    "standard": {"en": "GB/T 28448-2019", "zh": "GB/T 28448-2019"},
    "vocabulary": "mlps",
    "description": {
        "en": "A sample framework for the report tests.",
        "zh": "报告测试用的样例框架。",
    },
    "params": {},
    "items": [
        {
            "id": "L3-CES1-01",
            "clause": "8.1.4.1 a)",
            "test_unit": "",
            "layer": {"en": "Secure computing environment", "zh": "安全计算环境"},
            "control_point": {"en": "Identification and authentication", "zh": "身份鉴别"},
            "requirement_set": "general",
            "title": {
                "en": "Users are identified and authenticated",
                "zh": "对用户进行身份标识和鉴别",
            },
            "objects": ["docker-host", "k8s-node"],
            "coverage": "full",
            "procedure": {},
            "controls": [f"{K8S}/4.2.1"],
            "supporting": [],
            "note": {},
            "group": "",
        },
        {
            "id": "L3-CES1-17",
            "clause": "8.1.4.4 a)",
            "test_unit": "",
            "layer": {"en": "Secure computing environment", "zh": "安全计算环境"},
            "control_point": {"en": "Intrusion prevention", "zh": "入侵防范"},
            "requirement_set": "general",
            "title": {"en": "Only needed components are installed", "zh": "遵循最小安装原则"},
            "objects": ["docker-host"],
            "coverage": "partial",
            "procedure": {},
            "controls": [f"{DOCKER}/5.5", f"{DOCKER}/5.31", f"{DOCKER}/2.14"],
            "supporting": [f"{DOCKER}/2.2"],
            "note": {},
            "group": "",
        },
        {
            "id": "L3-ABS1-01",
            "clause": "8.1.3.1 a)",
            "test_unit": "",
            "layer": {"en": "Secure area boundary", "zh": "安全区域边界"},
            "control_point": {"en": "Boundary protection", "zh": "边界防护"},
            "requirement_set": "general",
            "title": {
                "en": "Cross-boundary traffic passes controlled ports",
                "zh": "跨边界访问经受控接口",
            },
            "objects": ["docker-host"],
            "coverage": "full",
            "procedure": {},
            "controls": [f"{DOCKER}/2.2"],
            "supporting": [],
            "note": {},
            "group": "",
        },
        {
            "id": "L3-SMC1-06",
            "clause": "8.1.5.3 c)",
            "test_unit": "",
            "layer": {"en": "Security management centre", "zh": "安全管理中心"},
            "control_point": {"en": "Centralised control", "zh": "集中管控"},
            "requirement_set": "general",
            "title": {"en": "Audit records are gathered centrally", "zh": "对审计数据进行集中分析"},
            "objects": ["docker-host", "k8s-node"],
            "coverage": "none",
            "procedure": {},
            "controls": [],
            "supporting": [],
            "note": {"en": "a log platform question", "zh": "属于日志平台范畴"},
            "group": "",
        },
    ],
}


def synthetic_run(hosts: int = 50, controls: int = 117, seed: int = 7) -> tuple[Run, dict]:
    """A fleet of ``hosts`` Docker hosts x ``controls`` controls with a realistic mix."""
    rng = random.Random(seed)
    catalog: dict[str, ControlInfo] = {}
    sections = {
        str(s): {"en": f"Section {s} of the benchmark", "zh": f"基准第 {s} 节"} for s in range(1, 8)
    }
    for n in range(controls):
        section = str(1 + n * 7 // controls)
        cid = f"{section}.{n + 1}"
        catalog[f"{DOCKER}/{cid}"] = _control(
            cid,
            DOCKER,
            f"Ensure synthetic setting number {n + 1} is hardened",
            f"确保第 {n + 1} 项合成设置已加固",
            level=1 + (n % 3 == 0),
            automated=n % 9 != 0,
            snippet=f"cisaudit-fix --setting {n + 1}",
            mappings={"djbh-2.0": [f"8.1.{n % 5}.{n % 3}"]} if n % 4 == 0 else {},
        )
    targets, evidence = [], {}
    for h in range(hosts):
        name = f"node-{h:03d}.example.internal"
        ev = {
            f"probe_{k}": _ev(
                f"probe --part {k}",
                "\n".join(f"{name} key{k}.{i} = value {rng.random():.6f}" for i in range(40)),
            )
            for k in range(12)
        }
        results = []
        for n, info in enumerate(catalog.values()):
            if not info.automated:
                results.append(Result(info.id, Status.MANUAL, reason="needs a person"))
                continue
            roll = rng.random()
            status = (
                Status.FAIL
                if roll < 0.22
                else Status.ERROR
                if roll < 0.25
                else Status.NOT_APPLICABLE
                if roll < 0.3
                else Status.PASS
            )
            offenders = (
                [
                    Offender("container", f"app-{i}", observed="privileged")
                    for i in range(rng.randint(0, 3))
                ]
                if status is Status.FAIL
                else []
            )
            results.append(
                Result(
                    info.id,
                    status,
                    reason="synthetic verdict",
                    observed=f"value-{n}",
                    expected=f"hardened-{n}",
                    offenders=offenders,
                    evidence=[f"probe_{n % 12}"],
                    remediation=f"cisaudit-fix --setting {n + 1} --host {name}"
                    if status is Status.FAIL
                    else "",
                )
            )
        targets.append(
            TargetResult(
                name=name,
                kind="docker-host",
                address=f"10.1.{h // 250}.{h % 250}",
                groups=[f"rack-{h % 4}"],
                benchmark=DOCKER,
                results=results,
                remote_calls=1,
                duration_s=2.0,
            )
        )
        evidence[name] = {"evidence": ev}
    run = Run(
        run_id="bench",
        tool_version="0.1.0",
        started_at="2026-11-22T08:00:00Z",
        finished_at="2026-11-22T08:05:00Z",
        benchmarks=[DOCKER],
        options={},
        targets=targets,
        controls=catalog,
        sections={DOCKER: sections},
    )
    run.summary = Report(run).summary()
    return run, {"schema_version": "1.0", "run_id": run.run_id, "targets": evidence}


def main() -> None:
    run, evidence = sample_run()
    (HERE / "sample-results.json").write_text(
        json.dumps(run.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (HERE / "sample-evidence.json").write_text(
        json.dumps(evidence, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
