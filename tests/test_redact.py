"""The one redaction policy (cisaudit.redact, docs/security.md): secret values never leave
an audited host; names, existence and structure do."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cisaudit.evidence import Section
from cisaudit.kinds.docker.collect import REDACTION as DOCKER_REDACTION
from cisaudit.kinds.docker.collect import _redact
from cisaudit.kinds.k8s_node.collect import redact_records
from cisaudit.redact import (
    MASK,
    looks_random,
    redact_argv,
    redact_document,
    redact_env_lines,
    redact_json_lines,
    redact_json_text,
    redact_yaml_text,
    scrub_text,
    secret_name,
)

GITHUB = "ghp_" + "R8sT2vWx9yZa1bC3dE5fG7hJ9kL0mN2pQ4rS"
AWS_ID = "AKIA" + "QW3RT7YU2IOP4ASD"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RANDOM = "kD8f93jfLQ0vX72mZp1qRw"


@pytest.mark.parametrize(
    "name",
    ["DB_PASSWORD", "MYSQL_ROOT_PW", "GITHUB_PAT", "api_token", "apiKey", "DBPASSWORD",
     "com.example.api_token", "client-secret", "AWS_SECRET_ACCESS_KEY", "initial-cluster-token",
     "requirepass", "SESSION", "ssh_key", "Passphrase"],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["PATH", "HOME", "LANG", "DATABASE_URL", "secretName", "TOKEN_FILE", "authorization-mode",
     "token-auth-file", "tlsPrivateKeyFile", "tls-cipher-suites", "password-stdin",
     "authentication-token-webhook-cache-ttl", "service-account-key-file", "client-ca-file",
     "kubectl.kubernetes.io/last-applied-configuration", "secretKeyRef"],
)  # fmt: skip
def test_names_that_hold_no_secret(name: str) -> None:
    assert not secret_name(name)


def test_a_field_called_key_is_masked_only_when_it_looks_generated() -> None:
    text = (
        "tolerations:\n- key: node-role.kubernetes.io/control-plane\n"
        "items: [{key: ca.crt, path: ca.crt}]\napi: {key: kD8f93jfLQ0vX72mZp1qRw}\n"
    )
    doc = yaml.safe_load(redact_yaml_text(text))
    assert doc["tolerations"][0]["key"] == "node-role.kubernetes.io/control-plane"
    assert doc["items"][0]["key"] == "ca.crt" and doc["api"]["key"] == MASK
    listed = json.loads(redact_json_text(json.dumps({"items": [{"key": "ca.crt"}]})))
    assert listed == {"items": [{"key": "ca.crt"}]}


@pytest.mark.parametrize(
    ("value", "random"),
    [(RANDOM, True), ("a3f9" * 10, True), ("release_2024_rc1", False),
     ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", False), ("/usr/local/bin", False),
     ("550e8400-e29b-41d4-a716-446655440000", False), ("production", False)],
)  # fmt: skip
def test_what_looks_generated(value: str, random: bool) -> None:
    assert looks_random(value) is random


def test_hex_digests_under_digest_names_are_kept() -> None:
    assert not looks_random("a3f9" * 10, "GIT_COMMIT")
    assert not looks_random("a3f9" * 16, "org.opencontainers.image.revision")


def _inspect(env: list[str], labels: dict[str, str], cmd: list[str]) -> str:
    return json.dumps(
        [
            {
                "Id": "c" * 64,
                "Name": "/app",
                "Path": cmd[0],
                "Args": cmd[1:],
                "Config": {
                    "Env": env,
                    "Labels": labels,
                    "Cmd": cmd,
                    "Entrypoint": None,
                    "Image": "lab/app:1",
                },
                "HostConfig": {
                    "LogConfig": {
                        "Type": "splunk",
                        "Config": {"splunk-token": "f00dfeed-0000-4000-8000-00000000beef"},
                    }
                },
            }
        ]
    )


def test_container_env_by_name_and_by_value_shape() -> None:
    env = [
        "DB_PASSWORD=hunter2",
        "DATABASE_URL=postgres://app:pw-in-url@db/x",
        f"GH={GITHUB}",
        f"SEED={RANDOM}",
        "MYSQL_ROOT_PW=rootpw",
        f"KEY_ID={AWS_ID}",
        "PATH=/usr/bin",
        "LANG=C.UTF-8",
        "MODE=production",
    ]
    out = redact_json_text(_inspect(env, {}, ["app"]))
    for secret in ("hunter2", "pw-in-url", GITHUB, RANDOM, "rootpw", AWS_ID):
        assert secret not in out
    kept = json.loads(out)[0]["Config"]["Env"]
    assert kept[:6] == [
        "DB_PASSWORD=<redacted>",
        "DATABASE_URL=postgres://app:<redacted>@db/x",
        "GH=<redacted>",
        "SEED=<redacted>",
        "MYSQL_ROOT_PW=<redacted>",
        "KEY_ID=<redacted>",
    ]
    assert kept[6:] == ["PATH=/usr/bin", "LANG=C.UTF-8", "MODE=production"]


def test_labels_commands_and_log_options() -> None:
    labels = {"api_token": "lbl-tok-991", "team": "payments", "ci.url": "https://u:lblpw@ci"}
    cmd = [
        "mysqld",
        "--password=argpw1",
        "--token",
        "argtok2",
        "-p",
        "argpw3",
        "-pargpw4",
        "--port",
        "3306",
    ]
    out = redact_json_text(_inspect([], labels, cmd))
    for secret in (
        "lbl-tok-991",
        "lblpw",
        "argpw1",
        "argtok2",
        "argpw3",
        "argpw4",
        "f00dfeed-0000-4000-8000-00000000beef",
    ):
        assert secret not in out, secret
    doc = json.loads(out)[0]
    assert doc["Config"]["Labels"]["team"] == "payments"
    assert doc["Config"]["Cmd"][-2:] == ["--port", "3306"]
    assert doc["Args"] == doc["Config"]["Cmd"][1:]


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["x", "--password=a1"], ["x", "--password=<redacted>"]),
        (["x", "--token", "a1"], ["x", "--token", "<redacted>"]),
        (["x", "-p", "s3cret"], ["x", "-p", "<redacted>"]),
        (["x", "-psecret"], ["x", "-p<redacted>"]),
        (["x", "-p", "8080:80"], ["x", "-p", "8080:80"]),
        (["ssh", "-p", "2222"], ["ssh", "-p", "2222"]),
        (["mkdir", "-p", "/app"], ["mkdir", "-p", "/app"]),
        (["x", "--password-stdin"], ["x", "--password-stdin"]),
        (["x", "--token-auth-file=/etc/t.csv"], ["x", "--token-auth-file=/etc/t.csv"]),
        (["x", "--anonymous-auth=false"], ["x", "--anonymous-auth=false"]),
        (["x", "-e", "API_KEY=k1"], ["x", "-e", "API_KEY=<redacted>"]),
        (
            ["sh", "-c", "DB_PASS=zz ./run --secret qq"],
            ["sh", "-c", "DB_PASS=<redacted> ./run --secret <redacted>"],
        ),
        (
            ["x", "--tls-cipher-suites=TLS_AES_128_GCM_SHA256"],
            ["x", "--tls-cipher-suites=TLS_AES_128_GCM_SHA256"],
        ),
        (["x", RANDOM], ["x", MASK]),
    ],
)
def test_command_lines(argv: list[str], want: list[str]) -> None:
    assert redact_argv(argv) == want


def test_image_history_steps() -> None:
    steps = [
        {"CreatedBy": "/bin/sh -c #(nop)  ENV DB_PASSWORD=histpw1", "Comment": ""},
        {"CreatedBy": "/bin/sh -c #(nop)  ENV API_TOKEN histtok2"},
        {"CreatedBy": "|2 BUILD_TOKEN=histtok3 VERSION=1 /bin/sh -c make"},
        {"CreatedBy": f"RUN /bin/sh -c curl -H 'Authorization: Bearer {RANDOM}' https://x"},
        {"CreatedBy": "/bin/sh -c mysql -uroot -phistpw4 < init.sql"},
        {"CreatedBy": "/bin/sh -c #(nop) LABEL com.acme.secret=histsec5"},
        {"CreatedBy": "/bin/sh -c apt-get update && apt-get install -y curl"},
    ]
    text = "#image sha256:" + "a" * 64 + "\n" + "\n".join(json.dumps(s) for s in steps)
    out = redact_json_lines(text)
    for secret in ("histpw1", "histtok2", "histtok3", RANDOM, "histpw4", "histsec5"):
        assert secret not in out, secret
    assert "apt-get update && apt-get install -y curl" in out
    assert out.splitlines()[0] == "#image sha256:" + "a" * 64
    assert "VERSION=1" in out


def test_free_text_shapes() -> None:
    text = (
        f"push https://oauth2:{GITHUB}@git.example/x; curl -u admin:curlpw 'https://h/?a=1&"
        f"access_token=qtok9'; {JWT}; -----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n"
        "-----END RSA PRIVATE KEY-----; https://hooks.slack.com/services/T0/B0/slackpath"
    )
    out = scrub_text(text)
    for secret in (GITHUB, "curlpw", "qtok9", JWT, "MIIEabc", "T0/B0/slackpath"):
        assert secret not in out, secret
    assert "BEGIN RSA PRIVATE KEY" in out and "a=1" in out


def test_environment_files() -> None:
    text = (
        "/etc/environment:AWS_SECRET_ACCESS_KEY=xyz1\n/etc/environment:DOCKER_CONTENT_TRUST=1\n"
        "/etc/profile.d/x.sh:export GITHUB_TOKEN='t2t2'\n"
    )
    out = redact_env_lines(text)
    assert "xyz1" not in out and "t2t2" not in out
    assert "/etc/environment:DOCKER_CONTENT_TRUST=1" in out
    assert "export GITHUB_TOKEN='<redacted>'" in out


def test_kubernetes_env_args_and_annotations() -> None:
    applied = {"spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "lastpw"}]}]}}
    pods = {
        "kind": "PodList",
        "items": [
            {
                "metadata": {
                    "name": "p",
                    "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)
                        + "\n",
                        "vault.example/token": "annotok",
                        "owner": "team-a",
                    },
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "command": ["app", "--api-key", "cmdkey"],
                            "args": ["--db=postgres://u:argpw@db"],
                            "env": [
                                {"name": "DB_PASSWORD", "value": "hunter2"},
                                {"name": "MODE", "value": "prod"},
                                {
                                    "name": "API_TOKEN",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}},
                                },
                            ],
                        }
                    ],
                    "volumes": [{"name": "v", "secret": {"secretName": "db-creds"}}],
                },
            }
        ],
    }
    out = redact_json_text(json.dumps(pods))
    for secret in ("lastpw", "annotok", "cmdkey", "argpw", "hunter2"):
        assert secret not in out, secret
    doc = json.loads(out)["items"][0]
    assert doc["metadata"]["annotations"]["owner"] == "team-a"
    env = doc["spec"]["containers"][0]["env"]
    assert env[1] == {"name": "MODE", "value": "prod"}
    assert env[2]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "token"}
    assert doc["spec"]["volumes"][0]["secret"]["secretName"] == "db-creds"
    last = json.loads(
        doc["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["spec"]["containers"][0]["env"][0]["value"] == MASK


FLOW_ENCRYPTION = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc: {keys: [{name: k1, secret: c2VjcmV0IGlzIHNlY3VyZQ==}]}
      - identity: {}
"""


def test_flow_style_encryption_config_keeps_its_meaning() -> None:
    out = redact_yaml_text(FLOW_ENCRYPTION)
    assert "c2VjcmV0IGlzIHNlY3VyZQ==" not in out
    doc = yaml.safe_load(out)
    original = yaml.safe_load(FLOW_ENCRYPTION)
    original["resources"][0]["providers"][0]["aescbc"]["keys"][0]["secret"] = MASK
    assert doc == original


def test_yaml_edits_keep_comments_layout_and_block_scalars() -> None:
    text = (
        "# kept comment\nauth:\n  password: |\n    one\n    two\n  user: admin  # note\n"
        "pin: 1234\nlist: [a, {token: t0k3n}]\nanchor: &a {secret: s1}\nref: *a\n"
    )
    out = redact_yaml_text(text)
    assert "# kept comment" in out and "# note" in out
    assert yaml.safe_load(out) == {
        "auth": {"password": MASK, "user": "admin"},
        "pin": MASK,
        "list": ["a", {"token": MASK}],
        "anchor": {"secret": MASK},
        "ref": {"secret": MASK},
    }


def test_json_documents_keep_their_meaning() -> None:
    text = '{\n  "log-opts": {"splunk-token": "jt1", "max-size": "10m"},\n  "debug": false\n}\n'
    out = redact_document(text)
    assert json.loads(out) == {
        "log-opts": {"splunk-token": MASK, "max-size": "10m"},
        "debug": False,
    }


def test_text_that_is_not_a_document_is_scrubbed() -> None:
    assert "x9x9" not in redact_document("password = x9x9\n: : not yaml [")


_keys = st.sampled_from(["password", "token", "name", "mode", "secret", "path", "level", "apiKey"])
_scalars = st.one_of(
    st.integers(-5, 5000),
    st.booleans(),
    st.none(),
    st.text("abcXYZ019 _-./:", min_size=0, max_size=12),
)
_trees = st.recursive(
    _scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(_keys, kids, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(tree=st.dictionaries(_keys, _trees, min_size=1, max_size=5), flow=st.booleans())
def test_redacted_yaml_always_parses_to_the_same_structure(tree: dict, flow: bool) -> None:  # type: ignore[type-arg]
    text = yaml.safe_dump(tree, default_flow_style=flow, sort_keys=False)
    out = redact_yaml_text(text)
    after = yaml.safe_load(out)

    def same(a, b) -> bool:  # type: ignore[no-untyped-def]
        if isinstance(a, dict):
            return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        return a == b or b == MASK

    assert same(tree, after)


def test_docker_sections_are_all_redacted_and_hashed_as_stored() -> None:
    sections = {
        "docker.inspect": Section("docker inspect", 0, _inspect(["DB_PASSWORD=s1"], {}, ["x"])),
        "dockerd.cmdline": Section(
            "x",
            0,
            "pid 1\nuid 0\nexe /usr/bin/dockerd\ndockerd\n"
            "--label\napi_token=s2\n-H\nunix:///run/d.sock",
        ),
        "daemon.json": Section(
            "x", 0, 'path /etc/docker/daemon.json\n{"log-opts": {"splunk-token": "s3"}}'
        ),
        "containerd.config": Section("x", 0, '[auth]\n  password = "s4"\n  username = "u"'),
        "host.units": Section("x", 0, "ExecStart=/usr/bin/dockerd --tlskey /k --token s5"),
        "other": Section("x", 0, "", stderr="failed: DB_PASSWORD=s6"),
    }
    _redact(sections)
    text = json.dumps({k: vars(v) for k, v in sections.items()})
    for secret in ("s1", "s2", "s3", "s4", "s5", "s6"):
        assert f'"{secret}' not in text and f"={secret}" not in text and f" {secret}" not in text
    assert sections["dockerd.cmdline"].output.splitlines()[-2:] == ["-H", "unix:///run/d.sock"]
    for section in sections.values():
        assert section.sha256 == Section("x", 0, section.output).sha256
    assert set(DOCKER_REDACTION) >= {"docker.inspect", "docker.history", "dockerd.cmdline"}


def test_kubernetes_node_records_keep_argument_counts_and_file_meaning() -> None:
    m = "==CISAUDIT:abc/"
    text = (
        f"{m}PROCESSES\n{m}PROC etcd 12 0\n{m}ARGV 3\netcd\n--initial-cluster-token\nnodetok\n"
        f"{m}ENV\nETCD_CLIENT_CERT_AUTH=true\nETCD_INITIAL_CLUSTER_TOKEN=envtok\n"
        f"{m}CONFIGS\n{m}FILE apiserver.encryption /etc/enc.yaml\n{FLOW_ENCRYPTION}\n"
    )
    out = redact_records(text)
    assert "nodetok" not in out and "envtok" not in out and "c2VjcmV0" not in out
    assert "ETCD_CLIENT_CERT_AUTH=true" in out
    lines = out.split("\n")
    argv = lines[lines.index(f"{m}ARGV 3") + 1 :][:3]
    assert argv == ["etcd", "--initial-cluster-token", MASK]
    body = out.split(f"{m}FILE apiserver.encryption /etc/enc.yaml\n", 1)[1]
    assert yaml.safe_load(body)["resources"][0]["providers"][0]["aescbc"]["keys"][0]["name"] == "k1"


@pytest.mark.parametrize(
    "text",
    [
        "a=" * 200_000,
        "--a " * 100_000,
        '"a":' * 100_000,
        "-u " * 100_000,
        "?a=" * 100_000,
        "eyJ" * 100_000,
        "ENV a " * 50_000,
        "https://" * 50_000 + "@",
        "-p" * 200_000,
    ],
)
def test_hostile_text_is_redacted_in_linear_time(text: str) -> None:
    started = time.process_time()
    scrub_text(text)
    assert time.process_time() - started < 2.0
