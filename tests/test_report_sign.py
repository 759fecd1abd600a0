"""Signing and verification: pdfsig agrees, one flipped byte is caught, evidence too."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from report_helpers import samples

from cisaudit.report import ReportMeta, render
from cisaudit.report.cli import keys_group, report_command, verify_command
from cisaudit.report.signing import (
    KeyPaths,
    SignConfig,
    evidence_problems,
    init_keys,
    sign_file,
    verify,
    verify_file,
)

DATA = Path(__file__).resolve().parent / "data" / "report"


def _cli():  # type: ignore[no-untyped-def]
    import click

    @click.group()
    def main() -> None:
        pass

    for command in (report_command, keys_group, verify_command):
        main.add_command(command)
    return main


_samples = samples


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPaths:
    return init_keys(
        tmp_path_factory.mktemp("keys"), common_name="Test Signer", organisation="cisaudit tests"
    )


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: KeyPaths) -> dict[str, Path]:
    run, evidence = _samples().sample_run()
    work = tmp_path_factory.mktemp("signed")
    evidence_path = work / "evidence.json"
    evidence_path.write_text(json.dumps(evidence), encoding="utf-8")
    written = render(
        run,
        work / "out",
        formats=["pdf"],
        lang="en",
        evidence_path=evidence_path,
        sign=SignConfig(key=keys.key, cert=keys.cert),
        meta=ReportMeta(assessor="Test Signer"),
    )
    names = {p.name: p for p in written}
    return {
        "pdf": names["report.pdf"],
        "evidence": names["evidence.json"],
        "sig": names["evidence.json.sig"],
    }


def _flip(src: Path, dst: Path, offset: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset % len(data)] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def test_key_is_private(keys: KeyPaths) -> None:
    assert stat.S_IMODE(os.stat(keys.key).st_mode) == 0o600
    assert keys.cert.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_pdfsig_recognises_the_signature(signed: dict[str, Path]) -> None:
    if shutil.which("pdfsig") is None:
        pytest.fail("pdfsig not found: install poppler-utils")
    out = subprocess.run(["pdfsig", str(signed["pdf"])], capture_output=True, text=True).stdout
    assert "Signature is Valid" in out
    assert "Total document signed" in out
    assert "Test Signer" in out


def test_verify_ok_with_trust(signed: dict[str, Path], keys: KeyPaths) -> None:
    result = CliRunner().invoke(_cli(), ["verify", str(signed["pdf"]), "--trust", str(keys.cert)])
    assert result.exit_code == 0, result.output
    assert (
        "Test Signer" in result.output and "attachment results.json: hash matches" in result.output
    )


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, -30])
def test_one_flipped_byte_is_tampering(
    signed: dict[str, Path], tmp_path: Path, where: float
) -> None:
    size = signed["pdf"].stat().st_size
    offset = int(size * where) if where > 0 else size + int(where)
    tampered = _flip(signed["pdf"], tmp_path / "tampered.pdf", offset)
    assert not verify(tampered).ok
    result = CliRunner().invoke(_cli(), ["verify", str(tampered)])
    assert result.exit_code != 0


def test_flipped_byte_inside_the_signature_blob(signed: dict[str, Path], tmp_path: Path) -> None:
    data = signed["pdf"].read_bytes()
    start = data.rindex(b"/Contents <") + len(b"/Contents <") + 200
    tampered = _flip(signed["pdf"], tmp_path / "sig-tampered.pdf", start)
    assert not verify(tampered).ok


def test_appended_update_is_not_whole_file(signed: dict[str, Path], tmp_path: Path) -> None:
    grown = tmp_path / "grown.pdf"
    grown.write_bytes(signed["pdf"].read_bytes() + b"\n% appended after signing\n")
    assert not verify(grown).ok


def test_wrong_trust_anchor_fails(signed: dict[str, Path], tmp_path: Path) -> None:
    other = init_keys(tmp_path / "other", common_name="Someone Else")
    result = verify(signed["pdf"], trust=other.cert)
    assert not result.ok and result.trusted is False


def test_unsigned_pdf_does_not_verify(tmp_path: Path) -> None:
    run, _ = _samples().sample_run()
    pdf = render(run, tmp_path, formats=["pdf"])[0]
    result = verify(pdf)
    assert not result.ok and "no signature" in " ".join(result.problems)


def test_evidence_detached_signature(
    signed: dict[str, Path], keys: KeyPaths, tmp_path: Path
) -> None:
    assert verify(signed["evidence"], trust=keys.cert).ok
    copy = tmp_path / "evidence.json"
    _flip(signed["evidence"], copy, 100)
    shutil.copyfile(signed["sig"], tmp_path / "evidence.json.sig")
    assert not verify_file(copy).ok
    result = CliRunner().invoke(_cli(), ["verify", str(copy)])
    assert result.exit_code != 0 and "changed after it was signed" in result.output


def test_evidence_item_hash_mismatch_is_reported(keys: KeyPaths, tmp_path: Path) -> None:
    _, evidence = _samples().sample_run()
    item = evidence["targets"]["docker-01"]["evidence"]["auditctl"]
    item["output"] = "edited before signing\n"
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence), encoding="utf-8")
    sign_file(path, SignConfig(key=keys.key, cert=keys.cert))
    result = verify(path)
    assert not result.ok and "docker-01/auditctl" in " ".join(result.problems)
    assert evidence_problems(b"not json", "x", strict=False) == []


def test_pkcs12_with_passphrase_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509 import load_pem_x509_certificate

    monkeypatch.setenv("CISAUDIT_TEST_PASS", "s3cret")
    pem = init_keys(tmp_path / "pem", common_name="P12 Signer", passphrase=b"s3cret")
    key = serialization.load_pem_private_key(pem.key.read_bytes(), password=b"s3cret")
    cert = load_pem_x509_certificate(pem.cert.read_bytes())
    p12 = tmp_path / "signer.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer",
            key,
            cert,
            None,  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    runner = CliRunner()
    for signing in (
        ["--sign-p12", str(p12)],
        ["--sign-key", str(pem.key), "--sign-cert", str(pem.cert)],
    ):
        out = tmp_path / signing[0].strip("-")
        result = runner.invoke(
            _cli(),
            [
                "report",
                str(DATA / "sample-results.json"),
                "-o",
                str(out),
                "--format",
                "pdf",
                "--lang",
                "en",
                *signing,
                "--sign-pass-env",
                "CISAUDIT_TEST_PASS",
            ],
        )
        assert result.exit_code == 0, result.output
        assert verify(out / "report.pdf", trust=pem.cert).ok
    monkeypatch.setenv("CISAUDIT_TEST_PASS", "wrong")
    wrong = runner.invoke(
        _cli(),
        [
            "report",
            str(DATA / "sample-results.json"),
            "-o",
            str(tmp_path / "w"),
            "--format",
            "pdf",
            "--sign-key",
            str(pem.key),
            "--sign-cert",
            str(pem.cert),
            "--sign-pass-env",
            "CISAUDIT_TEST_PASS",
        ],
    )
    assert wrong.exit_code != 0 and "passphrase" in wrong.output


@pytest.mark.parametrize("algorithm", ["ec", "ed25519", "rsa-pss"])
def test_other_key_types_sign_and_verify(tmp_path: Path, algorithm: str) -> None:
    """The signer keeps its parsed key for RSA, ECDSA and EdDSA and leaves the rest to
    pyHanko; each must still give a signature poppler accepts."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.x509.oid import NameOID

    if algorithm == "ec":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{algorithm} signer")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    if algorithm == "ed25519":
        cert = builder.sign(key, None)
    elif algorithm == "rsa-pss":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        cert = builder.sign(key, hashes.SHA256(), rsa_padding=pss)
    else:
        cert = builder.sign(key, hashes.SHA256())
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    run, evidence = _samples().sample_run()
    evidence_path = tmp_path / "evidence.json"
    evidence_path.write_text(json.dumps(evidence), encoding="utf-8")
    written = render(
        run,
        tmp_path / "out",
        formats=["pdf"],
        lang="en",
        evidence_path=evidence_path,
        sign=SignConfig(key=key_path, cert=cert_path),
    )
    for signed_file in (p for p in written if p.suffix in (".pdf", ".json")):
        result = CliRunner().invoke(_cli(), ["verify", str(signed_file), "--trust", str(cert_path)])
        assert result.exit_code == 0, result.output
    pdf = next(p for p in written if p.suffix == ".pdf")
    if algorithm == "ed25519":
        return  # poppler's NSS backend here does not check EdDSA ("corrupted data")
    assert (
        "Signature is Valid"
        in subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    )
