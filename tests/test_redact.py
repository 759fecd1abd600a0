"""Secrets in container environments never reach evidence, results or reports."""

from __future__ import annotations

import json

from cisaudit.collect.docker_host import _redact
from cisaudit.collect.evidence import Section
from cisaudit.redact import redact_lines


def test_container_env_values_are_redacted_names_kept() -> None:
    inspect = [{"Id": "a" * 64, "Config": {"Env": ["DB_PASSWORD=hunter2", "API_TOKEN=abc",
                                                   "PATH=/usr/bin", "LANG=C"]}}]
    sections = {"docker.inspect": Section("docker inspect", 0, json.dumps(inspect))}
    _redact(sections)
    env = json.loads(sections["docker.inspect"].output)[0]["Config"]["Env"]
    assert env == ["DB_PASSWORD=<redacted>", "API_TOKEN=<redacted>", "PATH=/usr/bin", "LANG=C"]
    assert "hunter2" not in sections["docker.inspect"].output
    # the hash is of what is stored, so the bundle verifies
    assert sections["docker.inspect"].sha256 == Section("x", 0, sections["docker.inspect"].output).sha256


def test_environment_files_are_redacted() -> None:
    text = "/etc/environment:AWS_SECRET_ACCESS_KEY=xyz\n/etc/environment:DOCKER_CONTENT_TRUST=1\n" \
           "/etc/profile.d/x.sh:export GITHUB_TOKEN='t'\n"
    out = redact_lines(text)
    assert "xyz" not in out and "'t'" not in out
    assert "DOCKER_CONTENT_TRUST=1" in out and "AWS_SECRET_ACCESS_KEY=<redacted>" in out


def test_kubernetes_pod_env_literals_are_redacted() -> None:
    from cisaudit.redact import redact_k8s_json

    pods = {"kind": "PodList", "items": [{"spec": {"containers": [{"name": "app", "env": [
        {"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "prod"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}]}
    deploys = {"kind": "DeploymentList", "items": [{"spec": {"template": {"spec": {"containers": [
        {"name": "c", "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "xyz"}]}]}}}}]}
    out = redact_k8s_json(json.dumps(pods)) + redact_k8s_json(json.dumps(deploys))
    assert "hunter2" not in out and "xyz" not in out
    assert '"prod"' in out and "secretKeyRef" in out
