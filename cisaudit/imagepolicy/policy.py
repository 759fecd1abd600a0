"""An organisation's image policy (``--policy policy.yaml``): approved registries, tags,
golden base images, the user images run as, package rules and vulnerability thresholds.

Every value is checked when the file is loaded; a mistake is a :class:`SourceError` naming
the file and line (exit 2), never a traceback or a silently ignored rule.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.yamlsrc import LineDict, LineList, SourceError, line_of, load_file

SEVERITIES = ("UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_DIFF_ID = re.compile(r"sha256:[0-9a-f]{64}")
_NAME_GLOB = re.compile(r"[A-Za-z0-9.+_*?\[\]-]{1,128}")


@dataclass(frozen=True)
class GoldenBase:
    name: str
    ref: str | None = None  # resolved on each host to that image's layers
    diff_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackageRule:
    name: str  # a glob (fnmatch), e.g. netcat*
    below: str | None = None  # forbid: only versions below this one

    def matches(self, package: str) -> bool:
        return fnmatch.fnmatchcase(package, self.name)


@dataclass
class ImagePolicy:
    """The rules a policy file sets; None: the rule is not set (its control does not run)."""

    path: str = ""
    sha256: str = ""
    registries: tuple[str, ...] | None = None
    forbid_tags: tuple[str, ...] | None = None
    require_tag: bool = True
    require_digest: bool = False
    golden_bases: tuple[GoldenBase, ...] | None = None
    forbid_root: bool | None = None
    forbid_packages: tuple[PackageRule, ...] | None = None
    require_packages: tuple[PackageRule, ...] | None = None
    max_severity: str | None = None
    only_fixable: bool = False
    require_scan: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def checks(self) -> list[str]:
        """The check slugs of the image-policy pack this policy switches on."""
        on = {
            "policy-registries": self.registries is not None,
            "policy-tags": self.forbid_tags is not None or self.require_digest,
            "policy-golden-base": self.golden_bases is not None,
            "policy-non-root": bool(self.forbid_root),
            "policy-packages-forbidden": self.forbid_packages is not None,
            "policy-packages-required": self.require_packages is not None,
            "policy-scanned": bool(self.require_scan),
            "policy-vulnerabilities": self.max_severity is not None,
        }
        return [slug for slug, enabled in on.items() if enabled]


def load_policy(path: str | Path) -> ImagePolicy:
    """Read and check a policy file."""
    import hashlib

    data = load_file(path)
    where = str(path)
    policy = ImagePolicy(path=where, sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest())
    if not isinstance(data, LineDict):
        raise SourceError(where, None, "a policy is a mapping with an `images:` section")
    _keys(where, data, ("images",))
    images = data.get("images")
    if not isinstance(images, LineDict):
        raise SourceError(where, line_of(data, "images"), "`images:` must be a mapping of rules")
    _keys(
        where,
        images,
        ("registries", "tags", "golden_bases", "user", "packages", "vulnerabilities"),
    )
    if "registries" in images:
        policy.registries = tuple(_strings(where, images, "registries"))
    if "tags" in images:
        tags = _mapping(where, images, "tags")
        _keys(where, tags, ("forbid", "require_tag", "require_digest"))
        policy.forbid_tags = tuple(_strings(where, tags, "forbid")) if "forbid" in tags else ()
        policy.require_tag = _bool(where, tags, "require_tag", True)
        policy.require_digest = _bool(where, tags, "require_digest", False)
    if "golden_bases" in images:
        policy.golden_bases = tuple(_golden(where, images))
    if "user" in images:
        user = _mapping(where, images, "user")
        _keys(where, user, ("forbid_root",))
        policy.forbid_root = _bool(where, user, "forbid_root", True)
    if "packages" in images:
        packages = _mapping(where, images, "packages")
        _keys(where, packages, ("forbid", "require"))
        if "forbid" in packages:
            policy.forbid_packages = tuple(_rules(where, packages, "forbid", allow_below=True))
        if "require" in packages:
            policy.require_packages = tuple(_rules(where, packages, "require", allow_below=False))
    if "vulnerabilities" in images:
        vulns = _mapping(where, images, "vulnerabilities")
        _keys(where, vulns, ("max_severity", "only_fixable", "require_scan"))
        if "max_severity" in vulns:
            value = str(vulns["max_severity"]).upper()
            if value not in SEVERITIES:
                raise SourceError(
                    where,
                    line_of(vulns, "max_severity"),
                    f"max_severity {vulns['max_severity']!r} is not one of {', '.join(SEVERITIES)}",
                )
            policy.max_severity = value
        policy.only_fixable = _bool(where, vulns, "only_fixable", False)
        policy.require_scan = _bool(where, vulns, "require_scan", False)
    policy.raw = _plain(data)
    return policy


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _keys(where: str, mapping: LineDict, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            raise SourceError(
                where,
                mapping.line_of(key),
                f"unknown key {key!r}; allowed here: {', '.join(allowed)}",
            )


def _mapping(where: str, parent: LineDict, key: str) -> LineDict:
    value = parent[key]
    if not isinstance(value, LineDict):
        raise SourceError(where, parent.line_of(key), f"`{key}:` must be a mapping")
    return value


def _strings(where: str, parent: LineDict, key: str) -> list[str]:
    value = parent[key]
    if not isinstance(value, LineList) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SourceError(where, parent.line_of(key), f"`{key}:` must be a list of names")
    return [v.strip() for v in value]


def _bool(where: str, parent: LineDict, key: str, default: bool) -> bool:
    if key not in parent:
        return default
    value = parent[key]
    if not isinstance(value, bool):
        raise SourceError(where, parent.line_of(key), f"`{key}:` must be true or false")
    return value


def _golden(where: str, images: LineDict) -> list[GoldenBase]:
    items = images["golden_bases"]
    if not isinstance(items, LineList) or not items:
        raise SourceError(
            where, images.line_of("golden_bases"), "`golden_bases:` must be a list of images"
        )
    found = []
    for item in items:
        line = line_of(item) or images.line_of("golden_bases")
        if not isinstance(item, LineDict):
            raise SourceError(
                where, line, "a golden base is a mapping: {ref: ...} or {name, diff_ids}"
            )
        _keys(where, item, ("name", "ref", "diff_ids"))
        ref = item.get("ref")
        diff_ids = item.get("diff_ids")
        if (ref is None) == (diff_ids is None):
            raise SourceError(where, line, "a golden base gives either `ref` or `diff_ids`")
        if ref is not None and not (isinstance(ref, str) and ref.strip()):
            raise SourceError(where, item.line_of("ref"), "`ref:` must be an image reference")
        ids: tuple[str, ...] = ()
        if diff_ids is not None:
            if not isinstance(diff_ids, LineList) or not diff_ids:
                raise SourceError(where, item.line_of("diff_ids"), "`diff_ids:` must be a list")
            for value in diff_ids:
                if not isinstance(value, str) or not _DIFF_ID.fullmatch(value):
                    raise SourceError(
                        where,
                        item.line_of("diff_ids"),
                        f"{value!r} is not a layer diff id (sha256: and 64 hex digits); "
                        "`cisaudit images golden export IMAGE` prints them",
                    )
            ids = tuple(diff_ids)
        name = item.get("name") or ref
        if not isinstance(name, str) or not name.strip():
            raise SourceError(where, line, "a golden base given by diff_ids needs a `name`")
        found.append(GoldenBase(name=name.strip(), ref=ref.strip() if ref else None, diff_ids=ids))
    return found


def _rules(where: str, parent: LineDict, key: str, *, allow_below: bool) -> list[PackageRule]:
    items = parent[key]
    if not isinstance(items, LineList):
        raise SourceError(where, parent.line_of(key), f"`{key}:` must be a list of {{name: ...}}")
    rules = []
    for item in items:
        line = line_of(item) or parent.line_of(key)
        if isinstance(item, str):
            item = LineDict(name=item)
        if not isinstance(item, LineDict):
            raise SourceError(where, line, "a package rule is {name: GLOB} (with below: VERSION)")
        _keys(where, item, ("name", "below") if allow_below else ("name",))
        name = item.get("name")
        if not isinstance(name, str) or not _NAME_GLOB.fullmatch(name):
            raise SourceError(where, line, f"package name {name!r} is not a package name or glob")
        below = item.get("below")
        if below is not None and not isinstance(below, str | int | float):
            raise SourceError(where, line, "`below:` must be a version, in quotes")
        rules.append(PackageRule(name=name, below=str(below) if below is not None else None))
    return rules
