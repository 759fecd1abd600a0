"""Signing and verifying what cisaudit hands over: PAdES PDF signatures (pyHanko) and
detached CMS signatures for evidence files.

* ``init_keys`` makes a trial key and self-signed certificate (real users bring their own
  PKCS#12 or PEM key + certificate);
* ``sign_pdf`` applies a PAdES B-B signature (B-T with a timestamp authority) over the whole
  PDF; ``verify_pdf`` checks it, the file's integrity and the embedded attachments;
* ``sign_file`` / ``verify_file`` do the same for any file with a detached ``.sig`` beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.digest import text_sha256

MANIFEST_NAME = "cisaudit-manifest.json"
SIGNATURE_FIELD = "cisaudit-signature"
SIG_SUFFIX = ".sig"


class SigningError(Exception):
    """A key, certificate or signature that cannot be used; the message says what to do."""


@contextlib.contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs a traceback for each key it cannot load and each untrusted chain;
    the caller reports those in one line, so they are held back while it works."""
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# ---------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyPaths:
    key: Path
    cert: Path


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: a private key must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def init_keys(
    directory: Path,
    *,
    common_name: str,
    organisation: str = "",
    days: int = 365,
    passphrase: bytes | None = None,
    overwrite: bool = False,
) -> KeyPaths:
    """Create ``signing-key.pem`` (0600) and ``signing-cert.pem``, self-signed, for trial use."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    paths = KeyPaths(directory / "signing-key.pem", directory / "signing-cert.pem")
    existing = [p for p in (paths.key, paths.cert) if p.exists()]
    if existing and not overwrite:
        raise SigningError(f"{existing[0]} already exists; pass --force to replace it")
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    name = x509.Name(attrs)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    _write_private(
        paths.key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ),
    )
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


@dataclass(frozen=True)
class SignConfig:
    """How to sign: a PEM key + certificate, or a PKCS#12 file; optionally a TSA."""

    key: Path | None = None
    cert: Path | None = None
    p12: Path | None = None
    passphrase: bytes | None = None
    tsa_url: str | None = None
    reason: str = "CIS benchmark audit report"
    location: str = ""

    def signer(self) -> Any:
        """The pyHanko signer for this configuration (loads and checks the key)."""
        from pyhanko.sign import signers

        if self.p12:
            if not self.p12.is_file():
                raise SigningError(f"PKCS#12 file {self.p12} does not exist")
            with _quiet_pyhanko():
                signer = signers.SimpleSigner.load_pkcs12(str(self.p12), passphrase=self.passphrase)
            what = str(self.p12)
        elif self.key and self.cert:
            for path in (self.key, self.cert):
                if not path.is_file():
                    raise SigningError(
                        f"{path} does not exist (create a trial pair with `cisaudit keys init`)"
                    )
            with _quiet_pyhanko():
                signer = signers.SimpleSigner.load(
                    str(self.key), str(self.cert), key_passphrase=self.passphrase
                )
            what = f"{self.key} + {self.cert}"
        else:
            raise SigningError("signing needs --sign-key and --sign-cert, or --sign-p12")
        if signer is None:
            raise SigningError(
                f"cannot load the signing key from {what}: wrong passphrase "
                "or not a key/certificate (see --sign-pass-env)"
            )
        signer.__class__ = _kept_key_signer()
        return signer


@functools.cache
def _kept_key_signer() -> type:
    """pyHanko's SimpleSigner parses its private key again for every raw signature (for
    RSA, cryptography then re-checks the key: 0.11 s, twice per PDF, which was half the
    cost of a signed per-target report). This subclass keeps the parsed key for the common
    mechanisms and leaves the others (RSA-PSS, DSA, ML-DSA) to pyHanko. ``SimpleSigner``
    builds its instances itself, so ``SignConfig.signer`` re-classes the one it loads."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class KeptKeySigner(SimpleSigner):
        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:  # "sha256_rsa" and the like name their signature algorithm this way
                name = mechanism.signature_algo
            except ValueError:
                name = mechanism["algorithm"].native
            if name not in ("rsassa_pkcs1v15", "ecdsa", "ed25519", "ed448"):
                return bytes(super().sign_raw(data, digest_algorithm))
            key: Any = self.__dict__.get("_cisaudit_key")
            if key is None:
                key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
                self.__dict__["_cisaudit_key"] = key
            if name == "rsassa_pkcs1v15":
                digest = get_pyca_cryptography_hash(digest_algorithm)
                return bytes(key.sign(data, padding.PKCS1v15(), digest))
            if name == "ecdsa":
                return bytes(key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm))))
            return bytes(key.sign(data))

    return KeptKeySigner


def describe_signer(signer: Any) -> tuple[str, str]:
    """The signer's subject as people read it, and the certificate's SHA-256."""
    cert = signer.signing_cert
    return _subject(cert), hashlib.sha256(cert.dump()).hexdigest()


def _subject(cert: Any) -> str:
    """ "Name (Organisation)" when the certificate has both, else its full subject."""
    fields = cert.subject.native
    name, org = fields.get("common_name"), fields.get("organization_name")
    if isinstance(name, str) and name:
        return f"{name} ({org})" if isinstance(org, str) and org else name
    return str(cert.subject.human_friendly)


def _timestamper(tsa_url: str | None) -> Any:
    if not tsa_url:
        return None
    from pyhanko.sign.timestamps import HTTPTimeStamper

    return HTTPTimeStamper(tsa_url, timeout=20)


# ---------------------------------------------------------------------------- PDF


def _digest_for(signer: Any) -> str:
    """SHA-256, except for EdDSA keys, whose algorithms fix their own digest."""
    return {"ed25519": "sha512", "ed448": "shake256"}.get(signer.signing_key.algorithm, "sha256")


def sign_pdf(src: Path, dst: Path, config: SignConfig, *, signer: Any = None) -> Path:
    """Sign ``src`` into ``dst`` with a PAdES signature covering the whole file."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = signer or config.signer()
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm=_digest_for(signer),
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=config.reason,
        location=config.location or None,
        name=describe_signer(signer)[0],
    )
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=_timestamper(config.tsa_url))
    data = src.read_bytes()
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), output=out)
    except Exception as exc:  # pyHanko raises many types; the caller needs one with context
        raise SigningError(f"signing {src} failed: {exc}") from exc
    tmp = dst.with_name(dst.name + ".part")
    tmp.write_bytes(out.getvalue())
    tmp.replace(dst)
    return dst


@dataclass
class Verification:
    """What ``verify`` found. ``ok`` only when every check held; ``trusted`` is None when
    no trust anchor was given, so the signer's identity is unverified."""

    path: Path
    kind: str  # "pdf" or "detached"
    signer: str = ""
    subject: str = ""  # the certificate's full subject (RFC 4514)
    issuer: str = ""
    cert_sha256: str = ""
    signed_at: str = ""
    timestamp: str = ""
    intact: bool = False
    valid: bool = False
    trusted: bool | None = None  # None: no trust anchor given, trust not judged
    whole_file: bool = False
    attachments: list[tuple[str, bool, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fingerprint(self) -> str:
        """The certificate's SHA-256 as ``openssl x509 -fingerprint -sha256`` prints it."""
        digest = self.cert_sha256.upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


SYSTEM_TRUST = "system"
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def trust_roots(trust: Path | str | None) -> list[Any]:
    """Certificates a signer must chain to: those of a file (PEM, possibly several, or
    DER), of every certificate file in a directory, or of the system's store
    (``system``: the OpenSSL default CA file and directory)."""
    if trust is None:
        return []
    if str(trust) == SYSTEM_TRUST:
        import ssl

        paths = ssl.get_default_verify_paths()
        sources = [Path(p) for p in (paths.cafile, paths.openssl_cafile) if p]
        sources += [Path(p) for p in (paths.capath, paths.openssl_capath) if p]
        roots = [c for src in sources if src.exists() for c in _certs_in(src, quiet=True)]
        if not roots:
            raise SigningError(
                "the system trust store is empty or missing "
                "(install ca-certificates, or give --trust CERT|DIR)"
            )
        return roots
    path = Path(trust)
    if not path.exists():
        raise SigningError(f"trust anchor {path} does not exist")
    roots = _certs_in(path, quiet=False)
    if not roots:
        raise SigningError(f"{path} holds no certificate")
    return roots


def _certs_in(path: Path, *, quiet: bool) -> list[Any]:
    from asn1crypto import pem, x509

    files = (
        sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    found = []
    for file in files:
        try:
            data = file.read_bytes()
            if pem.detect(data):
                found += [
                    x509.Certificate.load(der)
                    for kind, _, der in pem.unarmor(data, True)
                    if kind == "CERTIFICATE"
                ]
            else:
                cert = x509.Certificate.load(data)
                _ = cert.native  # parse now: a file that is not DER fails here
                found.append(cert)
        except Exception as exc:  # asn1crypto raises many types for a bad file
            if quiet or path.is_dir():
                continue
            raise SigningError(f"cannot read trusted certificate {file}: {exc}") from exc
    return found


def _validation_context(trust: Path | str | None) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(trust_roots=trust_roots(trust), allow_fetching=False)


def _describe_cert(report: Verification, cert: Any) -> None:
    report.signer = _subject(cert)
    report.subject = cert.subject.human_friendly
    report.issuer = cert.issuer.human_friendly
    report.cert_sha256 = hashlib.sha256(cert.dump()).hexdigest()


def _judge_trust(report: Verification, status: Any, trust: Path | str | None) -> None:
    """Trust is judged only with an anchor, and only for an intact, valid signature: a
    changed document is reported as changed, not also as untrusted."""
    if trust is None or not (status.intact and status.valid):
        report.trusted = None if trust is None else report.trusted
        return
    report.trusted = bool(status.trusted)
    if not status.trusted:
        report.problems.append(
            f"the signer's certificate does not chain to the trust anchor ({trust}): "
            "whoever signed is not the signer you trust"
        )


def _embedded_files(reader: Any) -> dict[str, bytes]:
    """The PDF's document-level attachments, by name."""

    def entry(node: Any, key: str) -> Any:
        # Indexing dereferences indirect objects; ``get`` would not.
        return node[key] if key in node else None

    names = entry(reader.root, "/Names")
    tree = entry(names, "/EmbeddedFiles") if names is not None else None
    found: dict[str, bytes] = {}
    pending = [tree] if tree is not None else []
    while pending:
        node = pending.pop()
        kids = entry(node, "/Kids")
        pending.extend(kid.get_object() for kid in (kids or []))
        pairs = entry(node, "/Names") or []
        for i in range(0, len(pairs) - 1, 2):
            spec = pairs[i + 1].get_object()
            files = spec["/EF"]
            stream = entry(files, "/F") or entry(files, "/UF")
            found[str(pairs[i])] = stream.data
    return found


def evidence_problems(data: bytes, name: str, *, strict: bool = True) -> list[str]:
    """Items of an evidence document whose recorded SHA-256 does not match their output.

    With ``strict`` false, data that is not an evidence document is no problem (a detached
    signature may sign any file).
    """
    try:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return [f"{name}: not a readable evidence file ({exc})"] if strict else []
    problems = []
    for target, entry in sorted((doc.get("targets") or {}).items()):
        for key, item in sorted((entry.get("evidence") or {}).items()):
            recorded = item.get("sha256")
            actual = text_sha256(str(item.get("output", "")))
            if recorded and recorded != actual:
                problems.append(
                    f"{name}: evidence {target}/{key}: output does not match its "
                    f"SHA-256 (recorded {recorded[:16]}…, actual {actual[:16]}…)"
                )
    return problems


def _check_attachments(files: dict[str, bytes], report: Verification) -> None:
    manifest_raw = files.get(MANIFEST_NAME)
    if manifest_raw is None:
        if files:
            report.problems.append(f"attachments present but no {MANIFEST_NAME} lists them")
        return
    try:
        manifest = json.loads(manifest_raw)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"{MANIFEST_NAME} is unreadable: {exc}")
        return
    for entry in manifest:
        name, expected = entry.get("name"), entry.get("sha256")
        data = files.get(name)
        if data is None:
            report.attachments.append((name, False, "missing"))
            report.problems.append(f"attachment {name} listed in the manifest is missing")
            continue
        actual = hashlib.sha256(data).hexdigest()
        matches = actual == expected
        report.attachments.append((name, matches, actual))
        if not matches:
            report.problems.append(
                f"attachment {name}: SHA-256 {actual} does not match the manifest ({expected})"
            )
        if entry.get("role") == "evidence":
            report.problems.extend(evidence_problems(data, name))


def verify_pdf(path: Path, *, trust: Path | str | None = None) -> Verification:
    """Check the PDF's signature, that it covers the whole file, and its attachments."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    report = Verification(path=path, kind="pdf")
    context = _validation_context(trust)
    try:
        reader = PdfFileReader(io.BytesIO(path.read_bytes()), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # a damaged PDF can fail anywhere in the parser
        report.problems.append(f"cannot read {path} as a PDF ({exc}): damaged or tampered")
        return report
    if not signatures:
        report.problems.append(f"{path} carries no signature")
    for sig in signatures:
        try:
            status = validate_pdf_signature(sig, context)
        except Exception as exc:  # a flipped byte in the CMS blob breaks its parser
            report.problems.append(
                f"signature {sig.field_name} cannot be checked ({exc}): tampered or damaged"
            )
            continue
        _describe_cert(report, status.signing_cert)
        if status.signer_reported_dt:
            report.signed_at = status.signer_reported_dt.isoformat()
        stamp = status.timestamp_validity
        if stamp is not None:
            report.timestamp = stamp.timestamp.isoformat()
            if not (stamp.intact and stamp.valid):
                report.problems.append("the signature's timestamp token is damaged or invalid")
        report.intact, report.valid = status.intact, status.valid
        report.whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        if not status.intact:
            report.problems.append(
                "the document was changed after it was signed (digest does not match)"
            )
        elif not status.valid:
            report.problems.append("the signature does not match the signer's certificate")
        if status.intact and not report.whole_file:
            report.problems.append(
                "content was added after the signature: the signature does not cover the whole file"
            )
        _judge_trust(report, status, trust)
    try:
        files = _embedded_files(reader)
    except Exception as exc:  # same reason as above: damaged structure
        report.problems.append(f"cannot read the attachments ({exc})")
        return report
    _check_attachments(files, report)
    return report


# ---------------------------------------------------------------------------- detached


def sign_file(path: Path, config: SignConfig, *, signer: Any = None) -> Path:
    """Write ``path.sig``: a detached CMS (PKCS#7) signature over ``path``, DER encoded."""
    signer = signer or config.signer()
    data = path.read_bytes()
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    cms = asyncio.run(
        signer.async_sign_general_data(
            data,
            _digest_for(signer),
            detached=True,
            timestamper=_timestamper(config.tsa_url),
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=dt.datetime.now(dt.UTC)),
        )
    )
    sig = path.with_name(path.name + SIG_SUFFIX)
    sig.write_bytes(cms.dump())
    return sig


def verify_file(
    path: Path, *, signature: Path | None = None, trust: Path | str | None = None
) -> Verification:
    """Check ``path`` against its detached signature (``path.sig`` unless given)."""
    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    signature = signature or path.with_name(path.name + SIG_SUFFIX)
    report = Verification(path=path, kind="detached")
    if not signature.is_file():
        report.problems.append(f"no detached signature {signature} beside {path}")
        return report
    context = _validation_context(trust)
    data = path.read_bytes()
    try:
        signed = cms.ContentInfo.load(signature.read_bytes())["content"]
        status = asyncio.run(async_validate_detached_cms(data, signed, context))
    except Exception as exc:  # malformed DER or CMS structure
        report.problems.append(f"signature {signature} cannot be read ({exc})")
        return report
    _describe_cert(report, status.signing_cert)
    if status.signer_reported_dt:
        report.signed_at = status.signer_reported_dt.isoformat()
    if status.timestamp_validity is not None:
        report.timestamp = status.timestamp_validity.timestamp.isoformat()
    report.intact, report.valid, report.whole_file = status.intact, status.valid, status.intact
    if not status.intact:
        report.problems.append(f"{path} was changed after it was signed")
    elif not status.valid:
        report.problems.append("the signature does not match the signer's certificate")
    _judge_trust(report, status, trust)
    if report.intact:
        report.problems.extend(evidence_problems(data, path.name, strict=False))
    return report


def verify(
    path: Path, *, trust: Path | str | None = None, signature: Path | None = None
) -> Verification:
    """Verify a signed PDF report, or any file with a detached signature."""
    if not path.is_file():
        raise SigningError(f"{path} does not exist")
    with path.open("rb") as handle:
        head = handle.read(1024)
    with _quiet_pyhanko():
        if b"%PDF-" in head and signature is None:
            return verify_pdf(path, trust=trust)
        return verify_file(path, signature=signature, trust=trust)
