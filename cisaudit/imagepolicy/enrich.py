"""The image policy applied to one target's facts: ``policy.sources`` (every image,
container or workload and where its images come from), ``policy.images`` (each local
image: its golden base, packages and scan) and ``policy.package_images`` (the same,
with an unreadable layer marking that image alone as unjudged).

Pure: facts and the policy in, facts out. The same code runs live and offline
(``cisaudit evaluate --policy``), so a recorded audit is judged against a policy again.
"""

from __future__ import annotations

from typing import Any

from cisaudit.imagepolicy.policy import SEVERITIES, GoldenBase, ImagePolicy
from cisaudit.imagepolicy.scans import ScanIndex
from cisaudit.imagepolicy.versions import compare


def split_ref(ref: str) -> dict[str, str | None]:
    """registry, repository, tag and digest of an image reference, as Docker reads it
    (no registry: docker.io; a one-part name: library/NAME)."""
    name, _, digest = ref.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon + 1 :] if colon > slash else None
    repo = name[:colon] if colon > slash else name
    first = repo.split("/")[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, repo[len(first) + 1 :]
    else:
        registry, path = "docker.io", repo if "/" in repo else f"library/{repo}"
    return {"registry": registry, "repository": path, "tag": tag, "digest": digest or None}


def approved(ref: str, registries: tuple[str, ...]) -> bool:
    """Whether ``ref`` comes from an approved registry (a host[:port], or a host/path
    prefix such as harbor.corp.example/team)."""
    parts = split_ref(ref)
    full = f"{parts['registry']}/{parts['repository']}"
    for entry in registries:
        entry = entry.rstrip("/")
        if entry == parts["registry"] or full.startswith(entry + "/") or full == entry:
            return True
    return False


def _tag_problems(ref: str, policy: ImagePolicy) -> list[str]:
    parts = split_ref(ref)
    problems = []
    forbid = policy.forbid_tags or ()
    if parts["tag"] and parts["tag"] in forbid:
        problems.append(f"{ref}: tag {parts['tag']} is forbidden")
    if not parts["tag"] and not parts["digest"]:
        if "latest" in forbid:
            problems.append(f"{ref}: no tag, which means latest")
        elif policy.require_tag:
            problems.append(f"{ref}: no tag")
    if policy.require_digest and not parts["digest"]:
        problems.append(f"{ref}: not pinned by digest")
    return problems


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def enrich(values: dict[str, Any], policy: ImagePolicy, scans: ScanIndex | None) -> None:
    """Add ``values["policy"]`` for a Docker host (images, containers) or a cluster
    (pod specs); leave other facts as they are."""
    sources: list[dict[str, Any]] = []
    images_out: list[dict[str, Any]] = []
    package_images: list[dict[str, Any]] = []
    if isinstance(values.get("images"), list) or isinstance(values.get("containers"), list):
        _docker(values, policy, scans, sources, images_out, package_images)
    cluster = values.get("cluster") if isinstance(values.get("cluster"), dict) else None
    if cluster is not None and isinstance(cluster.get("pod_specs"), list):
        for spec in cluster["pod_specs"]:
            cis = spec.get("cis") or {}
            meta = spec.get("metadata") or {}
            refs = [str(i.get("image")) for i in cis.get("images") or [] if i.get("image")]
            name = f"{meta.get('namespace')}/{spec.get('kind')}/{meta.get('name')}"
            sources.append(
                _source(
                    name,
                    str(meta.get("uid") or name),
                    "workload",
                    refs,
                    policy,
                    runs_as_root=bool(cis.get("run_as_root")),
                    user=", ".join(cis.get("run_as_root") or []) or None,
                    used_by=[],
                )
            )
    values["policy"] = {
        "file": policy.path,
        "sha256": policy.sha256,
        "sources": sources,
        "images": images_out,
        "package_images": package_images,
    }


def _source(
    name: str,
    ident: str,
    kind: str,
    refs: list[str],
    policy: ImagePolicy,
    *,
    runs_as_root: bool,
    user: str | None,
    used_by: list[str],
) -> dict[str, Any]:
    registries = sorted({str(split_ref(r)["registry"]) for r in refs})
    unapproved = [
        r for r in refs if policy.registries is not None and not approved(r, policy.registries)
    ]
    problems = [p for r in refs for p in _tag_problems(r, policy)]
    if not refs and kind == "image" and policy.require_tag:
        problems.append("untagged image (no repository name or tag)")
    return {
        "Id": ident,
        "cis": {
            "name": name,
            "id": ident[7:19] if ident.startswith("sha256:") else ident[:12],
            "kind": kind,
            "refs": refs,
            "registries": registries,
            "unapproved": unapproved,
            "registry_ok": not unapproved,
            "tag_problems": problems,
            "runs_as_root": runs_as_root,
            "user": user,
            "root_user": f"runs as root (user: {user or 'unset'})" if runs_as_root else None,
            "used_by": used_by,
        },
    }


def _docker(
    values: dict[str, Any],
    policy: ImagePolicy,
    scans: ScanIndex | None,
    sources: list[dict[str, Any]],
    images_out: list[dict[str, Any]],
    package_images: list[dict[str, Any]],
) -> None:
    images = [i for i in values.get("images") or [] if isinstance(i, dict)]
    containers = [c for c in values.get("containers") or [] if isinstance(c, dict)]
    users: dict[str, list[str]] = {}
    for c in containers:
        users.setdefault(str(c.get("Image", "")), []).append(str(c.get("cis", {}).get("name")))
    goldens = _resolve_goldens(policy.golden_bases or (), images)
    for image in images:
        ident = str(image.get("Id", ""))
        cis = image.get("cis") or {}
        refs = [str(t) for t in image.get("RepoTags") or [] if t and "<none>" not in str(t)]
        digests = [str(d) for d in image.get("RepoDigests") or []]
        name = refs[0] if refs else (digests[0] if digests else ident[7:19])
        user = str((image.get("Config") or {}).get("User") or "")
        used_by = users.get(ident, [])
        sources.append(
            _source(
                name,
                ident,
                "image",
                refs or digests,
                policy,
                runs_as_root=user.split(":")[0] in ("", "root", "0"),
                user=user or "(none: root)",
                used_by=used_by,
            )
        )
        layers = list(cis.get("layers") or [])
        base, base_len = _base_of(layers, goldens)
        entry_cis: dict[str, Any] = {
            "name": name,
            "id": ident[7:19],
            "used_by": used_by,
            "base": base.name if base else None,
            "base_ok": base is not None,
            "base_problem": None
            if base is not None
            else "unknown base: no golden base's layers begin this image's layers"
            + (f" ({goldens['_note']})" if goldens.get("_note") else ""),
            "base_note": goldens.get("_note"),
            "layers": len(layers),
        }
        _packages(entry_cis, cis, policy, base, base_len)
        _scan(entry_cis, ident, digests, layers, scans, policy, base, base_len)
        images_out.append({"Id": ident, "cis": entry_cis})
        package_cis = dict(entry_cis)
        if cis.get("packages_error"):
            package_cis["malformed"] = f"{name}: {cis['packages_error']}"
        package_images.append({"Id": ident, "cis": package_cis})
    for c in containers:
        ccis = c.get("cis") or {}
        ref = str((c.get("Config") or {}).get("Image") or "")
        uids = sorted(
            {p.get("uid") for p in ccis.get("processes") or [] if p.get("uid") is not None}, key=str
        )
        user = str((c.get("Config") or {}).get("User") or "")
        sources.append(
            _source(
                str(ccis.get("name")),
                str(c.get("Id", "")),
                "container",
                [ref] if ref and not ref.startswith("sha256:") else [],
                policy,
                runs_as_root=bool(ccis.get("runs_as_root")),
                user=(user or "(none: root)") + (f"; host uids {uids}" if uids else ""),
                used_by=[],
            )
        )


def _resolve_goldens(
    goldens: tuple[GoldenBase, ...], images: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each golden base's layers: given, or those of the local image its ``ref`` names."""
    by_ref: dict[str, list[str]] = {}
    layers: list[str] | None
    for image in images:
        image_layers = [str(d) for d in (image.get("cis") or {}).get("layers") or []]
        for ref in image.get("RepoTags") or []:
            by_ref[str(ref)] = image_layers
            parts = split_ref(str(ref))
            by_ref[f"{parts['registry']}/{parts['repository']}:{parts['tag']}"] = image_layers
    resolved: list[tuple[GoldenBase, list[str]]] = []
    missing = []
    for golden in goldens:
        if golden.diff_ids:
            resolved.append((golden, list(golden.diff_ids)))
        elif golden.ref:
            parts = split_ref(golden.ref)
            layers = by_ref.get(golden.ref) or by_ref.get(
                f"{parts['registry']}/{parts['repository']}:{parts['tag']}"
            )
            if layers:
                resolved.append((golden, layers))
            else:
                missing.append(golden.ref)
    note = (
        f"golden base(s) not present on this host, so not identifiable here: {', '.join(missing)}"
        if missing
        else None
    )
    return {"bases": resolved, "_note": note}


def _base_of(layers: list[str], goldens: dict[str, Any]) -> tuple[GoldenBase | None, int]:
    """The golden base whose layers begin this image's layers (the longest such)."""
    best: tuple[GoldenBase | None, int] = (None, 0)
    for golden, base_layers in goldens["bases"]:
        n = len(base_layers)
        if n and layers[:n] == base_layers and n > best[1]:
            best = (golden, n)
    return best


def _where(
    layer: int | None, base: GoldenBase | None, base_len: int, step: str | None
) -> dict[str, str]:
    if layer is None:
        return {"in": "unknown layer", "fix": "find the layer with the image's history"}
    if base is not None and layer < base_len:
        return {
            "in": f"golden base {base.name} (layer {layer + 1})",
            "fix": f"rebuild the golden base {base.name}",
        }
    how = f"change the Dockerfile step: {step[:120]}" if step else "change the image's Dockerfile"
    return {"in": f"application layer {layer + 1}", "fix": how}


def _packages(
    out: dict[str, Any],
    cis: dict[str, Any],
    policy: ImagePolicy,
    base: GoldenBase | None,
    base_len: int,
) -> None:
    packages = list(cis.get("packages") or [])
    out["package_db"] = cis.get("package_db")
    out["packages"] = len(packages)
    violations = []
    for rule in policy.forbid_packages or ():
        for p in packages:
            if not rule.matches(p["name"]):
                continue
            if rule.below is not None and compare(p["version"], rule.below) >= 0:
                continue
            why = f"below {rule.below}" if rule.below else "forbidden"
            where = _where(p.get("layer"), base, base_len, p.get("step"))
            violations.append(
                f"{p['name']} {p['version']} ({why}) in {where['in']}: {where['fix']}"
            )
    out["forbidden_packages"] = violations
    missing = [
        rule.name
        for rule in policy.require_packages or ()
        if not any(rule.matches(p["name"]) for p in packages)
    ]
    out["missing_packages"] = missing


def _scan(
    out: dict[str, Any],
    ident: str,
    digests: list[str],
    layers: list[str],
    scans: ScanIndex | None,
    policy: ImagePolicy,
    base: GoldenBase | None,
    base_len: int,
) -> None:
    report = scans.for_image(ident, digests) if scans else None
    out["scanned"] = report is not None
    out["scan_report"] = report.path if report else None
    out["unscanned"] = (
        None if report is not None else "no scanner report matches its image id or digests"
    )
    over = []
    if report is not None and policy.max_severity is not None:
        limit = _rank(policy.max_severity)
        for v in report.vulnerabilities:
            if _rank(v.severity) <= limit or (policy.only_fixable and not v.fixed):
                continue
            layer = layers.index(v.layer) if v.layer in layers else None
            where = _where(layer, base, base_len, None)
            over.append(
                f"{v.id} {v.severity} {v.package} {v.installed}"
                + (f" (fixed in {v.fixed})" if v.fixed else " (no fix)")
                + f" in {where['in']}"
            )
    out["vulnerabilities_over"] = over
