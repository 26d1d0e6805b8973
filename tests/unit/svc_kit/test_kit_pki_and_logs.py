"""Development certificates carry one SPIFFE id; log lines are JSON with the request id."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from svc_kit.logs import JsonFormatter, request_id_var
from svc_kit.pki import generate_ca, issue_cert


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return generate_ca("test CA")


def test_a_leaf_has_exactly_one_uri_san_the_spiffe_id(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_cert(*ca, "ledger", dns_names=("localhost", "ledger"))
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://paymesh.local/ledger"
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "ledger"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_a_leaf_is_both_server_and_client_and_signed_by_the_ca(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_cert(*ca, "gateway", trust_domain="example.test")
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca[0])
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://example.test/gateway"
    ]


def test_the_ca_lasts_ten_years_and_a_leaf_one(ca: tuple[bytes, bytes]) -> None:
    ca_cert = x509.load_pem_x509_certificate(ca[0])
    leaf = x509.load_pem_x509_certificate(issue_cert(*ca, "ledger")[0])
    ca_days = (ca_cert.not_valid_after_utc - ca_cert.not_valid_before_utc).days
    leaf_days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    assert 3649 <= ca_days <= 3651
    assert 364 <= leaf_days <= 366
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.not_valid_before_utc <= dt.datetime.now(dt.UTC)


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("ledger.svc", logging.INFO, __file__, 1, msg, (), None)
    record.__dict__.update(extra)
    return record


def test_a_log_line_is_one_json_object_with_the_standard_fields() -> None:
    token = request_id_var.set("req-123")
    try:
        line = JsonFormatter("ledger").format(_record("posted", amount_minor=1050))
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["level"] == "INFO" and fields["logger"] == "ledger.svc"
    assert (fields["service"], fields["msg"]) == ("ledger", "posted")
    assert fields["request_id"] == "req-123"
    assert fields["amount_minor"] == 1050
    assert fields["ts"].endswith("Z")
    assert dt.datetime.fromisoformat(fields["ts"]).tzinfo is not None


def test_a_log_line_outside_an_rpc_has_no_request_id_and_renders_exceptions() -> None:
    try:
        raise KeyError("boom")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    fields = json.loads(JsonFormatter("ledger").format(record))
    assert "request_id" not in fields
    assert "KeyError: 'boom'" in fields["exc"]
