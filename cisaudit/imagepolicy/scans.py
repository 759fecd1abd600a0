"""Scanner reports (``--scanner-report PATH``): Trivy JSON (SchemaVersion 2) and Grype JSON,
files or folders of them. cisaudit keeps no CVE feed of its own: it matches each report
to the images it audits by image id or repository digest, and judges what they say."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.yamlsrc import SourceError

MAX_REPORT_BYTES = 256 * 1024 * 1024


@dataclass
class Vulnerability:
    id: str
    package: str
    installed: str
    fixed: str | None
    severity: str
    layer: str | None  # the diff id of the layer the package is in, when the scanner says


@dataclass
class Report:
    path: str
    sha256: str
    scanner: str
    image_ids: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)  # repo@sha256:... and bare sha256:...
    vulnerabilities: list[Vulnerability] = field(default_factory=list)


@dataclass
class ScanIndex:
    reports: list[Report] = field(default_factory=list)

    def for_image(self, image_id: str, repo_digests: list[str]) -> Report | None:
        digests = set(repo_digests) | {d.rpartition("@")[2] for d in repo_digests}
        for report in self.reports:
            if image_id in report.image_ids or digests & report.digests:
                return report
        return None

    def describe(self) -> list[dict[str, str]]:
        return [{"path": r.path, "sha256": r.sha256, "scanner": r.scanner} for r in self.reports]


def load_reports(paths: list[str | Path]) -> ScanIndex:
    """Every report under ``paths`` (files, or folders searched for *.json)."""
    index = ScanIndex()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise SourceError(path, None, "scanner report not found")
        for file in files:
            index.reports.append(_load(file))
    return index


def _load(path: Path) -> Report:
    raw = path.read_bytes()
    if len(raw) > MAX_REPORT_BYTES:
        raise SourceError(path, None, f"scanner report larger than {MAX_REPORT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise SourceError(path, line, f"not JSON: {exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if isinstance(data, dict) and data.get("SchemaVersion") is not None:
        return _trivy(path, digest, data)
    if isinstance(data, dict) and "matches" in data and "source" in data:
        return _grype(path, digest, data)
    raise SourceError(
        path, None, "not a Trivy (SchemaVersion 2) or Grype JSON report of a container image"
    )


def _need(path: Path, ok: bool, what: str) -> None:
    if not ok:
        raise SourceError(path, None, what)


def _trivy(path: Path, digest: str, data: dict[str, Any]) -> Report:
    _need(
        path,
        data.get("SchemaVersion") == 2,
        f"Trivy SchemaVersion {data.get('SchemaVersion')!r}: only 2 is read",
    )
    meta = data.get("Metadata") or {}
    _need(path, isinstance(meta, dict), "Trivy report: Metadata is not an object")
    report = Report(str(path), digest, "trivy")
    if meta.get("ImageID"):
        report.image_ids.add(str(meta["ImageID"]))
    for d in meta.get("RepoDigests") or []:
        report.digests.update({str(d), str(d).rpartition("@")[2]})
    _need(
        path,
        bool(report.image_ids or report.digests),
        "Trivy report names no image id or digest (scan an image, not a file system)",
    )
    results = data.get("Results") or []
    _need(path, isinstance(results, list), "Trivy report: Results is not a list")
    for i, result in enumerate(results):
        _need(path, isinstance(result, dict), f"Trivy report: Results[{i}] is not an object")
        for j, v in enumerate(result.get("Vulnerabilities") or []):
            _need(
                path,
                isinstance(v, dict) and bool(v.get("VulnerabilityID")),
                f"Trivy report: Results[{i}].Vulnerabilities[{j}] has no VulnerabilityID",
            )
            report.vulnerabilities.append(
                Vulnerability(
                    id=str(v["VulnerabilityID"]),
                    package=str(v.get("PkgName") or "?"),
                    installed=str(v.get("InstalledVersion") or ""),
                    fixed=str(v["FixedVersion"]) if v.get("FixedVersion") else None,
                    severity=str(v.get("Severity") or "UNKNOWN").upper(),
                    layer=str((v.get("Layer") or {}).get("DiffID") or "") or None,
                )
            )
    return report


def _grype(path: Path, digest: str, data: dict[str, Any]) -> Report:
    source = data.get("source") or {}
    target = source.get("target") if isinstance(source, dict) else None
    _need(
        path,
        isinstance(target, dict) and source.get("type") == "image",
        "Grype report is not of an image (source.type must be image)",
    )
    report = Report(str(path), digest, "grype")
    assert isinstance(target, dict)
    if target.get("imageID"):
        report.image_ids.add(str(target["imageID"]))
    if target.get("manifestDigest"):
        report.digests.add(str(target["manifestDigest"]))
    for d in target.get("repoDigests") or []:
        report.digests.update({str(d), str(d).rpartition("@")[2]})
    _need(
        path, bool(report.image_ids or report.digests), "Grype report names no image id or digest"
    )
    matches = data.get("matches")
    _need(path, isinstance(matches, list), "Grype report: matches is not a list")
    for i, match in enumerate(matches or []):
        vuln = match.get("vulnerability") if isinstance(match, dict) else None
        artifact = match.get("artifact") if isinstance(match, dict) else None
        _need(
            path,
            isinstance(vuln, dict) and isinstance(artifact, dict) and bool(vuln.get("id")),
            f"Grype report: matches[{i}] lacks vulnerability.id or artifact",
        )
        assert isinstance(vuln, dict) and isinstance(artifact, dict)
        fix = vuln.get("fix") or {}
        fixed = [str(v) for v in fix.get("versions") or []] if fix.get("state") == "fixed" else []
        layer = next(
            (
                str(loc.get("layerID"))
                for loc in artifact.get("locations") or []
                if isinstance(loc, dict) and loc.get("layerID")
            ),
            None,
        )
        report.vulnerabilities.append(
            Vulnerability(
                id=str(vuln["id"]),
                package=str(artifact.get("name") or "?"),
                installed=str(artifact.get("version") or ""),
                fixed=", ".join(fixed) or None,
                severity=str(vuln.get("severity") or "Unknown").upper(),
                layer=layer,
            )
        )
    return report
