"""``python -m svc_kit.pki`` init, rotate and show, on real files."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from svc_kit.pki import cert_info, issue_cert, main, write_atomically

LEAVES = ("ledger", "envoy")


def _pki(args: list[str], directory: Path) -> None:
    assert main([*args, "--dir", str(directory)]) == 0


def _init(directory: Path, *extra: str) -> None:
    _pki(["init", *(a for w in LEAVES for a in ("--workload", w)), *extra], directory)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _state(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _sans(path: Path) -> x509.SubjectAlternativeName:
    return _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_rotate_reissues_every_leaf_with_new_keys_and_serials_and_keeps_the_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(tmp_path)
    before = _state(tmp_path)
    capsys.readouterr()

    _pki(["rotate"], tmp_path)

    after = _state(tmp_path)
    assert after["ca.pem"] == before["ca.pem"] and after["ca-key.pem"] == before["ca-key.pem"]
    ca = _cert(tmp_path / "ca.pem")
    for leaf in LEAVES:
        assert after[f"{leaf}-key.pem"] != before[f"{leaf}-key.pem"]
        new, old = (
            _cert(tmp_path / f"{leaf}.pem"),
            x509.load_pem_x509_certificate(before[f"{leaf}.pem"]),
        )
        assert new.serial_number != old.serial_number
        new.verify_directly_issued_by(ca)
        assert stat.S_IMODE((tmp_path / f"{leaf}-key.pem").stat().st_mode) == 0o600
    assert sorted(after) == sorted(before)  # no temporary file left behind
    out = capsys.readouterr().out
    assert "kept" in out and out.count("re-issued") == len(LEAVES)


def test_rotate_with_ca_makes_a_new_ca_and_reissues_every_leaf_even_unnamed_ones(
    tmp_path: Path,
) -> None:
    _init(tmp_path)
    old_ca = (tmp_path / "ca.pem").read_bytes()

    _pki(["rotate", "--ca", "--workload", "ledger"], tmp_path)

    ca = _cert(tmp_path / "ca.pem")
    assert (tmp_path / "ca.pem").read_bytes() != old_ca
    assert stat.S_IMODE((tmp_path / "ca-key.pem").stat().st_mode) == 0o600
    for leaf in LEAVES:
        _cert(tmp_path / f"{leaf}.pem").verify_directly_issued_by(ca)


def test_dns_and_ip_options_add_sans_to_every_leaf_which_keeps_one_spiffe_uri(
    tmp_path: Path,
) -> None:
    _init(tmp_path, "--dns", "ledger", "--dns", "Envoy", "--ip", "10.0.0.7")
    _pki(["rotate", "--dns", "gateway", "--ip", "::1"], tmp_path)

    for leaf in LEAVES:
        sans = _sans(tmp_path / f"{leaf}.pem")
        assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
            f"spiffe://paymesh.local/{leaf}"
        ]
        # Defaults first, then what init added (kept by rotate), then rotate's own.
        assert sans.get_values_for_type(x509.DNSName) == ["localhost", "ledger", "envoy", "gateway"]
        ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        assert ips == ["127.0.0.1", "10.0.0.7", "::1"]


def test_init_keeps_existing_leaves_and_says_which_lack_requested_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(tmp_path)
    before = _state(tmp_path)
    capsys.readouterr()

    _init(tmp_path, "--dns", "ledger")

    assert _state(tmp_path) == before
    assert "lacks ledger" in capsys.readouterr().out


def test_show_prints_each_spiffe_id_serial_and_expiry_and_flags_expired_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(tmp_path)
    ca = (tmp_path / "ca.pem").read_bytes(), (tmp_path / "ca-key.pem").read_bytes()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert, key = issue_cert(*ca, "old", valid_from=past - dt.timedelta(days=1), valid_until=past)
    write_atomically(tmp_path / "old.pem", cert, secret=False)
    write_atomically(tmp_path / "old-key.pem", key, secret=True)
    capsys.readouterr()

    _pki(["show"], tmp_path)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["FILE", "SPIFFE", "ID"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == ["ca.pem", "envoy.pem", "ledger.pem", "old.pem"]
    for leaf in ("envoy", "ledger"):
        info = cert_info((tmp_path / f"{leaf}.pem").read_bytes())
        row = rows[f"{leaf}.pem"]
        assert f"spiffe://paymesh.local/{leaf}" in row and f"{info.serial:x}" in row
        assert info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ") in row
        assert "EXPIRED" not in row
    assert "EXPIRED" in rows["old.pem"]
    assert rows["ca.pem"].split()[1] == "CA"


def test_rotate_without_a_ca_fails_and_tells_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rotate", "--dir", str(tmp_path)]) == 1
    assert "run `init` first" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_dns_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["init", "--dir", str(tmp_path / "pki"), "--dns", "not a name"])
    assert caught.value.code == 2
    assert not (tmp_path / "pki").exists()


def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "svc_kit.pki", "init", "--dir", str(tmp_path), "--workload", "x"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert "spiffe://paymesh.local/x" in done.stdout
    assert (tmp_path / "x.pem").exists()
