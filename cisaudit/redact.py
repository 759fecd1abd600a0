"""One redaction policy for everything that leaves an audited host (docs/security.md).

An audit needs to know that a variable, label, flag or key exists, what it is called and
which container, pod or file carries it; it never needs the secret value. Redaction is
applied once, when evidence is collected, so nothing downstream (evidence bundles,
results, reports, their attachments) can carry a secret.

A value is masked (replaced by :data:`MASK`) when

* its **name** says it holds a secret (``DB_PASSWORD``, ``api_token``, ``--password``,
  ``MYSQL_ROOT_PW``, ``secret:`` in a YAML file ...), unless the value is plainly not one:
  a boolean, a file path, a reference to another variable, or already masked; or
* its **shape** says so, whatever its name: credentials in a URL, a private key block,
  a well-known token format (GitHub, GitLab, AWS, Slack, JWT, ...), or, for values a
  person sets (environment, labels, annotations, arguments), a long high-entropy string.

Structured documents keep their structure: a redacted YAML or JSON file parses to the
same tree with masked leaves (a YAML file is edited scalar by scalar, so its comments and
layout stay too). Free text (shell commands, image history steps, unit files) is scrubbed
pattern by pattern. Every pattern here is linear in its input: hostile output must not
make redaction slow.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import yaml

MASK = "<redacted>"

# --------------------------------------------------------------------------- names

# A name whose words (split at separators and camelCase) contain one of these holds a
# secret. Substrings are for compounds written as one word ("DBPASSWORD", "apikey").
_SECRET_SUBSTRINGS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "accesskey",
    "secretkey",
    "bearer",
    "cookie",
    "connectionstring",
    "connstr",
)
_SECRET_WORDS = frozenset(
    {
        "pass", "pw", "pwd", "pat", "auth", "key", "keys", "salt", "sig", "signature", "otp",
        "pin", "jwt", "session", "sessionid", "creds", "cred", "dsn", "hmac", "psk", "sas",
    }
)  # fmt: skip
# Compounds ending in these ("adminpass", "masterkey", "rootpw") are secret names too.
_SECRET_SUFFIXES = ("pass", "pw", "pwd", "key")
# A last word that makes the name describe a secret rather than hold one: its file, its
# name, how long it lives ("secretName", "TOKEN_FILE", "--token-auth-file", "cacheTTL").
_REFERENCE_WORDS = frozenset(
    {
        "name", "names", "ref", "refs", "file", "files", "path", "paths", "dir", "mode",
        "enabled", "disabled", "type", "ttl", "timeout", "size", "length", "expiry",
        "expiration", "expires", "lifetime", "seconds", "issuer", "audience", "provider",
        "policy", "format", "algorithm", "count", "stdin", "header", "lookup", "webhook",
        "required", "hint", "hash", "version",
    }
)  # fmt: skip
# Words of names whose hex values are digests or ids, not secrets (GIT_COMMIT, image.revision).
_DIGEST_WORDS = frozenset(
    {"sha", "sha1", "sha256", "digest", "commit", "revision", "rev", "hash", "checksum", "id",
     "uuid", "version", "build", "ref", "etag", "fingerprint"}
)  # fmt: skip

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(name: str) -> list[str]:
    """``MYSQL_ROOT_PW`` -> [mysql, root, pw]; ``clientSecretName`` -> [client, secret, name]."""
    return [w.lower() for w in _WORD.findall(str(name))]


# A field called just "key" is a reference far more often than a secret (a ConfigMap or
# Secret key, a toleration's or selector's label key): its value is masked only when it
# looks generated.
_REFERENCE_NAMES = frozenset({"key", "keys"})


@functools.lru_cache(maxsize=8192)
def _secret_name(name: str) -> bool:
    if name.lower() in _REFERENCE_NAMES:
        return False
    parts = words(name)
    if not parts or parts[-1] in _REFERENCE_WORDS:
        return False
    if any(p in _SECRET_WORDS for p in parts):
        return True
    joined = "".join(parts)
    return any(s in joined for s in _SECRET_SUBSTRINGS) or joined.endswith(_SECRET_SUFFIXES)


def secret_name(name: Any) -> bool:
    """Whether a variable, key, label or flag called ``name`` holds a secret value."""
    return _secret_name(str(name))


# --------------------------------------------------------------------------- values

_BOOLEAN_WORDS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null", "nil",
     "0", "1", "required", "optional", "auto"}
)  # fmt: skip
_REFERENCE_VALUE = re.compile(
    r"\$\{?[A-Za-z_][A-Za-z0-9_]{0,127}\}?|\$\([A-Za-z_][A-Za-z0-9_]{0,127}\)|\{\{[^{}]{0,200}\}\}"
)
_ALREADY_MASKED = re.compile(r"<redacted[^>]{0,40}>|\*{3,}|x{5,}(:x{5,})?", re.IGNORECASE)
_RANDOM_CHARS = re.compile(r"[A-Za-z0-9+/=_\-]{20,1024}")
_HEX = re.compile(r"[0-9a-fA-F]{32,128}")
_WORDY = re.compile(
    r"(?:[A-Za-z]{2,}[0-9]{0,6}|[0-9]{1,8})(?:[_.\-](?:[A-Za-z]{2,}[0-9]{0,6}|[0-9]{1,8})){0,40}"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def keep_value(value: Any) -> bool:
    """Values that are never a secret, even under a secret name: booleans, empty values,
    file paths, references to other variables, and values already masked."""
    if value is None or isinstance(value, bool):
        return True
    text = str(value).strip().strip("'\"")
    if not text or text.lower() in _BOOLEAN_WORDS:
        return True
    if _REFERENCE_VALUE.fullmatch(text) or _ALREADY_MASKED.fullmatch(text):
        return True
    if text.startswith(("/", "./", "../", "~/", "file://")) and " " not in text:
        return not looks_random(text.rsplit("/", 1)[-1])
    return False


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def looks_random(value: str, name: str = "") -> bool:
    """A long string of key-like characters with the entropy of a generated secret.

    Hex strings count from 32 digits, unless the name says they are digests or ids
    (``GIT_COMMIT``, ``org.opencontainers.image.revision``); UUIDs only under such names."""
    text = value.strip()
    if _UUID.fullmatch(text):
        return False
    if _HEX.fullmatch(text):
        return not (set(words(name)) & _DIGEST_WORDS)
    if not _RANDOM_CHARS.fullmatch(text):
        return False
    if not (re.search(r"[0-9]", text) and re.search(r"[A-Za-z]", text)):
        return False
    if _WORDY.fullmatch(text):
        return False  # words and numbers joined: release_2024_rc, TLS_AES_128_GCM_SHA256
    return entropy(text) >= 3.6


# Well-known credential formats (public facts about each issuer's token format). Each is a
# plain alternation with bounded repeats, so matching stays linear.
_TOKEN_FORMATS = (
    r"gh[pousr]_[A-Za-z0-9]{30,255}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{22,255}",
    r"glpat-[A-Za-z0-9_\-]{20,64}",  # GitLab
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",  # AWS access key ids
    r"LTAI[A-Za-z0-9]{12,28}",  # Alibaba Cloud AccessKey ids
    r"AKID[A-Za-z0-9]{32,40}",  # Tencent Cloud SecretIds
    r"xox[abposr]-[A-Za-z0-9\-]{10,255}",  # Slack
    r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,255}",  # Stripe
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"ya29\.[0-9A-Za-z_\-]{20,2048}",  # Google OAuth access tokens
    r"eyJ[A-Za-z0-9_\-]{5,4096}\.eyJ[A-Za-z0-9_\-]{5,8192}\.[A-Za-z0-9_\-]{0,4096}",  # JWT
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-[A-Za-z0-9_\-]{50,255}",
    r"dckr_pat_[A-Za-z0-9_\-]{20,64}",  # Docker Hub
    r"hv[sbr]\.[A-Za-z0-9_\-]{20,255}",  # HashiCorp Vault
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,255}",  # OpenAI, Anthropic
    r"SG\.[A-Za-z0-9_\-]{16,64}\.[A-Za-z0-9_\-]{16,64}",  # SendGrid
    r"do[opr]_v1_[a-f0-9]{64}",  # DigitalOcean
    r"SK[0-9a-fA-F]{32}",  # Twilio
    r"[a-z0-9]{6}\.[a-z0-9]{16}",  # kubeadm bootstrap tokens
    r"AccountKey=[A-Za-z0-9+/=]{20,255}",  # Azure storage connection strings
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])(?:" + "|".join(_TOKEN_FORMATS) + r")(?![A-Za-z0-9_\-])")
_PRIVATE_KEY = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----)[\s\S]*?(-----END [A-Z0-9 ]{0,40}"
    r"PRIVATE KEY( BLOCK)?-----|$)"
)
# scheme://user:password@host -> scheme://user:<redacted>@host
_URL_CREDENTIALS = re.compile(
    r"(\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/@'\"<>]{0,256}:)([^\s/@'\"<>]{1,1024})(@)"
)
# Secrets carried in a URL's query (?access_token=, &key=, &sig=) or webhook paths.
_URL_QUERY_SECRET = re.compile(
    r"([?&](?:access_?token|token|key|api_?key|secret|password|passwd|pwd|sig|signature|"
    r"auth|code|sign)=)([^&\s'\"#<>]{1,2048})",
    re.IGNORECASE,
)
_WEBHOOK_PATH = re.compile(
    r"(https://(?:hooks\.slack\.com/services|open\.feishu\.cn/open-apis/bot/v2/hook|"
    r"open\.larksuite\.com/open-apis/bot/v2/hook|discord(?:app)?\.com/api/webhooks)/)"
    r"([^\s'\"<>?#]{1,512})"
)
_AUTH_HEADER = re.compile(
    r"((?:authorization|proxy-authorization)\s*[:=]\s*['\"]?(?:basic|bearer|token|digest)?\s*)"
    r"([^\s'\"]{4,4096})",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bBearer\s+)([A-Za-z0-9._~+/\-]{8,4096}=*)")


def scrub_shapes(text: str) -> str:
    """Mask secrets recognisable by their shape alone, wherever they sit in ``text``."""
    if not text or len(text) < 8:
        return text
    # Each pattern runs only when the text holds the characters it needs: most outputs
    # (paths, ids, numbers) hold none of them, and a fleet's evidence is large.
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(lambda m: f"{m[1]}{MASK}{m[3]}", text)
    if len(text) >= 16 and _TOKEN_HINT.search(text):
        text = _TOKEN.sub(MASK, text)
    if "://" in text:
        if "@" in text:
            text = _URL_CREDENTIALS.sub(
                lambda m: m[1] + (m[2] if keep_value(m[2]) else MASK) + m[3], text
            )
        if "hook" in text:
            text = _WEBHOOK_PATH.sub(lambda m: m[1] + MASK, text)
    if "=" in text and ("?" in text or "&" in text):
        text = _URL_QUERY_SECRET.sub(lambda m: m[1] + MASK, text)
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(lambda m: m[1] + MASK, text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m[1] + MASK, text)
    return text


# A cheap first look for _TOKEN: the fixed start of some format, a JWT, a kubeadm token.
_TOKEN_HINT = re.compile(
    r"gh[pousr]_|github_pat_|glpat-|A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)|LTAI|AKID|xox|_live_|"
    r"_test_|AIza|ya29\.|eyJ|npm_|pypi-|dckr_|hv[sbr]\.|sk-|SG\.|_v1_|SK[0-9a-fA-F]|"
    r"[a-z0-9]{6}\.[a-z0-9]{16}|AccountKey="
)


def named_value(name: Any, value: Any, *, person_set: bool = True) -> Any:
    """The value to keep for ``name`` = ``value``: masked when either says it is a secret.

    ``person_set``: values somebody typed (environment, labels, annotations, arguments)
    are also masked when they look randomly generated; settings of a component's own
    configuration are judged by name and recognisable shapes only.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return MASK if secret_name(name) and value not in (0, 1) else value
    if not isinstance(value, str):
        return value
    if secret_name(name) and not keep_value(value):
        return MASK
    if person_set and looks_random(value, str(name)):
        return MASK
    return scrub_text(value)


# --------------------------------------------------------------------------- free text

_QUOTED_OR_WORD = r"(\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s;&|'\"<>()`]{1,4096})"
# NAME=value anywhere (shell, env files, history steps, --label k=v, -e K=V)
_ASSIGNMENT = re.compile(r"(?<![\w.\-/$])([A-Za-z_][A-Za-z0-9_.\-]{0,127})=" + _QUOTED_OR_WORD)
# "key": "value" and key: value (a JSON or YAML pair written in text)
_JSON_PAIR = re.compile(r"(\"([^\"\\\n]{1,128})\"\s*:\s*)(\"(?:[^\"\\\n]|\\.){0,4096}\")")
# --flag=value or --flag value
_FLAG = re.compile(r"(?<![\w\-])(--?[A-Za-z][A-Za-z0-9_.\-]{0,63})(=|[ \t]+)" + _QUOTED_OR_WORD)
# mysql -psecret, mysql -p secret
_SHORT_P = re.compile(
    r"(?<![\w\-])-p([ \t]*)(\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s;&|'\"<>-][^\s;&|'\"<>]{0,511})"
)
# curl -u user:password, --user user:password
_USER_PASSWORD = re.compile(
    r"((?:-u|--user|--proxy-user)[ \t=]+['\"]?[^\s:'\"]{1,256}:)([^\s'\"]{1,1024})"
)
# Dockerfile's legacy ENV NAME value
_LEGACY_ENV = re.compile(
    r"(\bENV[ \t]+([A-Za-z_][A-Za-z0-9_.\-]{0,127})[ \t]+)([^=\s][^\n]{0,4096})"
)
_PORTISH = re.compile(r"[0-9.:/\-a-z]{1,64}")


def _unquote(text: str) -> tuple[str, str]:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1], text[0]
    return text, ""


def _mask_quoted(original: str) -> str:
    _, quote = _unquote(original)
    return f"{quote}{MASK}{quote}"


def scrub_text(text: str) -> str:
    """Free text (a shell command, a history step, a unit file, an error message): mask
    recognisable secrets and the values of secret-named assignments, flags and pairs."""
    if not text or not isinstance(text, str):
        return text
    if len(text) <= 256:  # object lists repeat the same short values many times over
        return _scrub_short(text)
    return _scrub(text)


@functools.lru_cache(maxsize=65536)
def _scrub_short(text: str) -> str:
    return _scrub(text)


def _scrub(text: str) -> str:
    text = scrub_shapes(text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_assignment, text)
    if '"' in text and ":" in text:
        text = _JSON_PAIR.sub(_pair, text)
    if "-" in text:
        text = _FLAG.sub(_flag, text)
        if "-p" in text:
            text = _SHORT_P.sub(_short_p, text)
        if "-u" in text or "--user" in text or "--proxy-user" in text:
            text = _USER_PASSWORD.sub(lambda m: m[0] if m[2].isdigit() else m[1] + MASK, text)
    if "ENV" in text:
        text = _LEGACY_ENV.sub(_legacy_env, text)
    return text


def _assignment(m: re.Match[str]) -> str:
    value, _ = _unquote(m[2])
    if not secret_name(m[1]) or keep_value(value):
        return m[0]
    return f"{m[1]}={_mask_quoted(m[2])}"


def _pair(m: re.Match[str]) -> str:
    value = m[3][1:-1]
    return m[0] if not secret_name(m[2]) or keep_value(value) else f'{m[1]}"{MASK}"'


def _flag(m: re.Match[str]) -> str:
    value, _ = _unquote(m[3])
    if not secret_name(m[1].lstrip("-")) or keep_value(value) or value.startswith("-"):
        return m[0]
    return f"{m[1]}{m[2]}{_mask_quoted(m[3])}"


def _short_p(m: re.Match[str]) -> str:
    value, _ = _unquote(m[2])
    if _port_or_path(value):
        return m[0]
    return f"-p{m[1]}{_mask_quoted(m[2])}"


def _legacy_env(m: re.Match[str]) -> str:
    return m[0] if not secret_name(m[2]) or keep_value(m[3]) else f"{m[1]}{MASK}"


# --------------------------------------------------------------------------- arguments

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"})


def redact_argv(argv: Iterable[Any]) -> list[Any]:
    """A command line, argument by argument (the count never changes).

    ``--password=x`` and ``--password x`` mask x; ``-p x`` and ``-px`` mask x unless it is
    a port, number or path; ``NAME=value`` arguments follow the name rule; a shell's
    ``-c`` script is scrubbed as text; a bare argument that looks generated is masked.
    Values of other flags keep their text (only recognisable secrets are masked in them),
    since the audit judges them (``--tls-cipher-suites=...``)."""
    tokens = list(argv)
    out: list[Any] = []
    pending: str | None = None  # what the previous argument says this one is
    shell = bool(tokens) and str(tokens[0]).rsplit("/", 1)[-1] in _SHELLS
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            out.append(token)
            pending = None
            continue
        role, pending = pending, None
        if role == "script":
            out.append(scrub_text(token))
            continue
        if role == "secret" and not token.startswith("-") and not keep_value(token):
            out.append(MASK)
            continue
        if role == "p-value" and not _port_or_path(token):
            out.append(MASK)
            continue
        if not token.startswith("-") or len(token) == 1:
            out.append(_argument_value(token))
            continue
        name, eq, value = token.partition("=")
        flag = name.lstrip("-")
        if eq:
            secret = secret_name(flag) and not keep_value(value)
            out.append(f"{name}={MASK if secret else _flag_value(value)}")
        elif shell and token == "-c":
            out.append(token)
            pending = "script"
        elif token == "-p":
            out.append(token)
            pending = "p-value"
        elif token.startswith("-p") and not token.startswith("--"):
            out.append(token if _port_or_path(token[2:]) else "-p" + MASK)  # mysql -psecret
        else:
            out.append(token)
            if secret_name(flag) and index + 1 < len(tokens):
                pending = "secret"
    return out


def _port_or_path(value: str) -> bool:
    """A value after ``-p`` that is a port, a port mapping, a number or a path."""
    return (
        value.isdigit()
        or value.startswith("-")
        or keep_value(value)
        or bool(_PORTISH.fullmatch(value) and re.fullmatch(r"[0-9.:/\-]+(tcp|udp|sctp)?", value))
    )


def _flag_value(value: str) -> str:
    """The value of a flag whose name is not secret: ``NAME=value`` pairs inside it (a
    label, a log option) follow the name rule; otherwise only recognisable secrets go."""
    name, eq, rest = value.partition("=")
    if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}", name):
        return f"{name}={named_value(name, rest)}"
    return scrub_text(value)


def _argument_value(value: str) -> str:
    name, eq, rest = value.partition("=")
    if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}", name):
        return f"{name}={named_value(name, rest)}"
    return MASK if looks_random(value) else scrub_text(value)


def redact_assignments(items: Iterable[Any]) -> list[Any]:
    """``NAME=value`` strings (a container's Env): names kept, secret values masked."""
    out = []
    for item in items:
        if not isinstance(item, str):
            out.append(item)
            continue
        name, eq, value = item.partition("=")
        out.append(f"{name}={named_value(name, value)}" if eq else scrub_text(item))
    return out


def redact_env_lines(text: str) -> str:
    """Environment files and ``grep -H`` output of them, line by line (``export`` kept)."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        prefix = ""
        match = re.match(r"(/[^:\s]{1,4096}:)", body)  # grep -H file: prefix
        if match:
            prefix, body = match[1], body[len(match[1]) :]
        assignment = re.match(r"(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]{0,127})=(.*)$", body)
        if assignment:
            value, quote = _unquote(assignment[3].strip())
            masked = named_value(assignment[2], value)
            body = (
                f"{assignment[1]}{assignment[2]}={quote}{masked}{quote}"
                if masked != value
                else body
            )
        else:
            body = scrub_text(body)
        out.append(prefix + body + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


# --------------------------------------------------------------------------- documents

# Keys whose value is a command line (Docker inspect and Kubernetes objects alike).
ARGV_KEYS = frozenset({"Cmd", "Entrypoint", "Args", "Test", "command", "args", "Shell"})
# Keys whose value is a list of NAME=value strings.
ASSIGNMENT_KEYS = frozenset({"Env", "Environment", "env", "BuildArgs"})
# Keys whose value maps names a person chose to values (labels, annotations, options).
NAMED_MAP_KEYS = frozenset(
    {"Labels", "labels", "annotations", "Options", "DriverOpts", "data", "stringData", "log-opts"}
)
# Keys whose value is shell text.
TEXT_KEYS = frozenset({"CreatedBy", "Comment", "Path", "script", "Script"})


class Leaf:
    """A scalar of a YAML document, with where it sits in the text (for in-place edits)."""

    __slots__ = ("value", "node", "new")

    def __init__(self, value: Any, node: yaml.ScalarNode) -> None:
        self.value = value
        self.node = node
        self.new: Any = None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Leaf) else value


def _set(old: Any, new: Any) -> Any:
    if isinstance(old, Leaf):
        if new != old.value:
            old.new = new
        return old
    return new


class _Walker:
    """Masks secrets in a JSON-like tree (dicts, lists, scalars, or YAML Leafs)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def walk(self, obj: Any, key: str = "", parent: str = "") -> Any:
        value = _plain(obj)
        if isinstance(value, dict | list):
            if id(value) in self.seen:  # a YAML alias: the same node was already masked
                return obj
            self.seen.add(id(value))
        if isinstance(value, dict):
            self._mapping(value, key)
            return obj
        if isinstance(value, list):
            if key in ARGV_KEYS and all(isinstance(_plain(x), str) for x in value):
                masked = redact_argv([_plain(x) for x in value])
                for i, item in enumerate(value):
                    value[i] = _set(item, masked[i])
            elif key in ASSIGNMENT_KEYS and all(isinstance(_plain(x), str) for x in value):
                masked = redact_assignments([_plain(x) for x in value])
                for i, item in enumerate(value):
                    value[i] = _set(item, masked[i])
            else:
                for i, item in enumerate(value):
                    value[i] = self.walk(item, key, parent)
            return obj
        if isinstance(value, str):
            if key in TEXT_KEYS:
                return _set(obj, scrub_text(value))
            if key in ARGV_KEYS:
                return _set(obj, scrub_text(value))
            return _set(
                obj,
                named_value(key, value, person_set=key in _REFERENCE_NAMES)
                if key
                else scrub_text(value),
            )
        if isinstance(value, int | float) and not isinstance(value, bool) and key:
            return _set(obj, named_value(key, value, person_set=False))
        return obj

    def _mapping(self, mapping: dict[Any, Any], key: str) -> None:
        # A Kubernetes env entry: {name: X, value: V} (valueFrom references are kept).
        if "name" in mapping and "value" in mapping and isinstance(_plain(mapping["value"]), str):
            name = str(_plain(mapping["name"]))
            mapping["value"] = _set(mapping["value"], named_value(name, _plain(mapping["value"])))
        for child_key in list(mapping):
            if child_key == "value" and "name" in mapping:
                continue
            child = mapping[child_key]
            name = str(child_key)
            if key.endswith(("Ref", "ref")) or name.endswith(("KeyRef", "Ref")):
                continue  # secretKeyRef: {name, key} names a Secret's key, holds no value
            plain = _plain(child)
            if key in NAMED_MAP_KEYS and isinstance(plain, str):
                mapping[child_key] = _set(child, self._annotation(name, plain))
            else:
                mapping[child_key] = self.walk(child, name, key)

    def _annotation(self, name: str, value: str) -> str:
        """A label or annotation value; JSON values (last-applied-configuration) are
        redacted as documents and written back compactly."""
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) < 4_000_000:
            try:
                doc = json.loads(stripped)
            except ValueError:
                doc = None
            if isinstance(doc, dict | list):
                redact_tree(doc)
                tail = "\n" if value.endswith("\n") else ""
                return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + tail
        return named_value(name, value)


def redact_tree(obj: Any) -> Any:
    """Mask secrets in a parsed JSON/YAML document, in place; returns it."""
    return _Walker().walk(obj)


# A plain JSON document (no YAML leaves, no aliases) goes through this faster walker, with
# the same rules as _Walker: object lists of a large cluster hold half a million strings.
# ``changed`` records whether anything was masked, so that an untouched document keeps
# its exact bytes (and is not written again).


def _json_walk(value: Any, key: str, changed: list[bool]) -> Any:
    kind = type(value)
    if kind is dict:
        _json_mapping(value, key, changed)
        return value
    if kind is list:
        if key in ARGV_KEYS and all(type(x) is str for x in value):
            masked = redact_argv(value)
        elif key in ASSIGNMENT_KEYS and all(type(x) is str for x in value):
            masked = redact_assignments(value)
        else:
            for i, item in enumerate(value):
                value[i] = _json_walk(item, key, changed)
            return value
        if masked != value:
            changed[0] = True
        return masked
    if kind is str:
        new = _json_text(value, key)
    elif (kind is int or kind is float) and key and _secret_name(key):
        new = named_value(key, value, person_set=False)
    else:
        return value
    if new != value:
        changed[0] = True
    return new


# How a string under a key is judged, decided once per key name (a cluster's objects
# repeat the same few hundred keys millions of times).
_SCRUB, _NAMED, _NAMED_CONFIG = 0, 1, 2
_KEY_MODES: dict[str, int] = {}


def _key_mode(key: str) -> int:
    mode = _KEY_MODES.get(key)
    if mode is None:
        if key in _REFERENCE_NAMES:
            mode = _NAMED  # masked when it looks generated
        elif not key or key in TEXT_KEYS or key in ARGV_KEYS or not _secret_name(key):
            mode = _SCRUB
        else:
            mode = _NAMED_CONFIG
        if len(_KEY_MODES) < 65536:
            _KEY_MODES[key] = mode
    return mode


def _json_text(value: str, key: str) -> str:
    mode = _key_mode(key)
    if mode == _SCRUB:
        if len(value) <= 256:
            return _scrub_short(value) if value else value
        return _scrub(value)
    return str(named_value(key, value, person_set=mode == _NAMED))


def _json_mapping(mapping: dict[str, Any], key: str, changed: list[bool]) -> None:
    is_env_entry = "name" in mapping and "value" in mapping and type(mapping["value"]) is str
    if is_env_entry:  # a Kubernetes env entry: {name: X, value: V}
        new = named_value(str(mapping["name"]), mapping["value"])
        if new != mapping["value"]:
            mapping["value"], changed[0] = new, True
    if key.endswith(("Ref", "ref")):
        return  # secretKeyRef: {name, key} names a Secret's key, holds no value
    named_map = key in NAMED_MAP_KEYS
    for child_key, child in mapping.items():
        if is_env_entry and child_key == "value":
            continue
        name = child_key if type(child_key) is str else str(child_key)
        if name.endswith("Ref"):
            continue  # secretKeyRef, configMapKeyRef ...: a reference, no value
        kind = type(child)
        if kind is str:
            new = _annotation(name, child) if named_map else _json_text(child, name)
            if new != child:
                mapping[child_key], changed[0] = new, True
        elif kind is dict:
            _json_mapping(child, name, changed)
        elif kind is list:
            mapping[child_key] = _json_walk(child, name, changed)
        elif (kind is int or kind is float) and name and _secret_name(name):
            new = named_value(name, child, person_set=False)
            if new != child:
                mapping[child_key], changed[0] = new, True


def _annotation(name: str, value: str) -> str:
    return _Walker()._annotation(name, value)


def redact_json_value(doc: Any) -> tuple[Any, bool]:
    """A parsed JSON document, redacted in place by the rules of ``redact_json_text``, and
    whether anything was masked. For a document that is built from objects (a Kubernetes
    list assembled page by page): redacting it before it becomes text spares parsing it
    again. RecursionError propagates (nested deeper than the walker goes)."""
    changed = [False]
    doc = _json_walk(doc, "", changed)
    return doc, changed[0]


def redact_json_item(item: Any, within: str) -> Any:
    """One element of a list that sits under key ``within`` of a JSON document (an object
    of a Kubernetes List's ``items``), redacted in place exactly as ``redact_json_value``
    redacts it inside the whole document. Lists are built element by element this way,
    so a large one is never one tree of objects. RecursionError propagates."""
    return _json_walk(item, within, [False])


def redact_json_text(text: str, *, indent: int | None = None) -> str:
    """A JSON document as text; text that is not JSON is scrubbed as free text."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return scrub_text(text)
    try:
        doc, changed = redact_json_value(doc)
    except RecursionError:
        return scrub_text(text)
    if not changed:
        return text
    if indent is None:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(doc, indent=indent, ensure_ascii=False)


def redact_json_lines(text: str) -> str:
    """One JSON object per line (``docker history --format '{{json .}}'``); other lines
    are scrubbed as text."""
    out = []
    for line in text.split("\n"):
        if line.startswith("{"):
            out.append(redact_json_text(line))
        else:
            out.append(scrub_text(line))
    return "\n".join(out)


# YAML ----------------------------------------------------------------------------------

MAX_YAML_NODES = 200_000


def redact_yaml_text(text: str) -> str:
    """A YAML (or JSON) configuration file, edited scalar by scalar: comments, order and
    layout stay, and the result parses to the same structure with masked values. Text
    that is not YAML is scrubbed line by line."""
    from cisaudit.yamlsrc import check_limits

    try:
        check_limits(text)
        documents = list(_compose_all(text))
    except (yaml.YAMLError, RecursionError, _TooLarge):
        return redact_config_lines(text)
    leaves: list[Leaf] = []
    constructor = yaml.SafeLoader("")  # builds each scalar's value (int, bool, str ...)
    try:
        for node in documents:
            redact_tree(_tree(node, leaves, {}, constructor))
    except (_TooLarge, RecursionError):
        return redact_config_lines(text)
    finally:
        constructor.dispose()
    edits = sorted(
        (leaf for leaf in leaves if leaf.new is not None),
        key=lambda leaf: leaf.node.start_mark.index,
        reverse=True,
    )
    if not edits:
        return text
    result = text
    for leaf in edits:
        start, end = leaf.node.start_mark.index, leaf.node.end_mark.index
        original = text[start:end]
        replacement = json.dumps(str(leaf.new), ensure_ascii=False)
        if leaf.node.style in ("|", ">"):  # a block scalar's span runs to its last line break
            replacement += original[len(original.rstrip("\n")) :] or "\n"
        result = result[:start] + replacement + result[end:]
    if _same_shape(text, result):
        return result
    # Editing in place went wrong (an unusual layout): write the document again instead.
    try:
        docs = [redact_tree(d) for d in yaml.safe_load_all(text)]
        return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError):
        return redact_config_lines(text)


class _TooLarge(Exception):
    pass


def _compose_all(text: str) -> Iterable[yaml.Node]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def _tree(
    node: yaml.Node, leaves: list[Leaf], memo: dict[int, Any], constructor: yaml.SafeLoader
) -> Any:
    if id(node) in memo:
        return memo[id(node)]
    if len(memo) > MAX_YAML_NODES:
        raise _TooLarge
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        memo[id(node)] = mapping
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            mapping[key] = _tree(value_node, leaves, memo, constructor)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_tree(child, leaves, memo, constructor) for child in node.value)
        return items
    leaf = Leaf(_scalar(node, constructor), node)
    memo[id(node)] = leaf
    leaves.append(leaf)
    return leaf


def _scalar(node: yaml.ScalarNode, constructor: yaml.SafeLoader) -> Any:
    try:
        return constructor.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return node.value


def _same_shape(before: str, after: str) -> bool:
    """Both parse, to trees that differ only where a value became the mask."""
    try:
        old = list(yaml.safe_load_all(before))
        new = list(yaml.safe_load_all(after))
    except yaml.YAMLError:
        return False
    return _shape_matches(old, new)


def _shape_matches(old: Any, new: Any) -> bool:
    if isinstance(old, dict):
        return (
            isinstance(new, dict)
            and list(old) == list(new)
            and all(_shape_matches(old[k], new[k]) for k in old)
        )
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(old) == len(new)
            and all(_shape_matches(a, b) for a, b in zip(old, new, strict=True))
        )
    return new == old or isinstance(new, str)


def redact_document(text: str) -> str:
    """A configuration file that is YAML or JSON: edited in place when that keeps its
    meaning (always checked), written again from the parsed tree otherwise, scrubbed as
    text when it does not parse at all (the component would refuse it too)."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            original = json.loads(text)
        except (ValueError, RecursionError):
            original = None
        if original is not None:
            spliced = redact_yaml_text(text)
            try:
                if _shape_matches(original, json.loads(spliced)):
                    return spliced
            except (ValueError, RecursionError):
                pass
            return redact_json_text(text, indent=2) + text[len(text.rstrip()) :]
    return redact_yaml_text(text)


# TOML and INI-like files -----------------------------------------------------------------

_CONFIG_LINE = re.compile(
    r"^(\s*\"?([A-Za-z0-9_.\-]{1,128})\"?\s*[=:]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s#]+)(.*)$"
)


def redact_config_lines(text: str) -> str:
    """``key = "value"`` files (TOML, INI, env): values of secret-named keys masked."""
    out = []
    for line in text.split("\n"):
        match = _CONFIG_LINE.match(line)
        if match and secret_name(match[2]) and not keep_value(_unquote(match[3])[0]):
            line = match[1] + _mask_quoted(match[3]) + match[4]
        out.append(scrub_text(line))
    return "\n".join(out)


# --------------------------------------------------------------------------- sections

Redactor = Callable[[str], str]


def redact_sections(sections: dict[str, Any], rules: dict[str, Redactor]) -> None:
    """Apply a kind's redactor to each of its sections (by name, or by ``prefix.*``), and
    scrub every other output and every stderr as free text. In place: the Section's hash
    is recomputed, so the evidence vouches for what is stored."""
    from cisaudit.evidence import Section

    for name, section in list(sections.items()):
        rule = rules.get(name) or next(
            (
                r
                for pattern, r in rules.items()
                if pattern.endswith(".*") and name.startswith(pattern[:-1])
            ),
            scrub_text,
        )
        sections[name] = Section(
            command=scrub_text(section.command),
            rc=section.rc,
            output=rule(section.output),
            stderr=scrub_text(section.stderr),
        )
