"""RFC 3161 timestamps through --tsa-url, against a local stand-in authority.

The stand-in is pyHanko's test timestamper behind a loopback HTTP server: the signing
code speaks real RFC 3161 over HTTP, and nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cisaudit.report import render
from cisaudit.report.signing import SignConfig, init_keys, verify

DATA = Path(__file__).resolve().parent / "data" / "report"


def _tsa_key_and_cert():  # type: ignore[no-untyped-def]
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the stand-in is RSA-only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local Test TSA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        asn1_keys.PrivateKeyInfo.load(der_key),
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
    )


@pytest.fixture(scope="module")
def tsa_url() -> Iterator[str]:
    from asn1crypto import tsp
    from pyhanko.sign.timestamps import DummyTimeStamper

    key, cert = _tsa_key_and_cert()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    thread.join()


def test_signature_carries_a_timestamp(tsa_url: str, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("report_samples", DATA / "samples.py")
    assert spec and spec.loader
    samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(samples)
    run, _ = samples.sample_run()
    keys = init_keys(tmp_path / "keys", common_name="Timestamped Signer")
    pdf = render(
        run,
        tmp_path / "out",
        formats=["pdf"],
        sign=SignConfig(key=keys.key, cert=keys.cert, tsa_url=tsa_url),
    )[0]
    result = verify(pdf, trust=keys.cert)
    assert result.ok, result.problems
    assert result.timestamp, "no RFC 3161 timestamp in the signature"
