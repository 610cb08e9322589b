"""Custom domains and TLS certificates from the command line."""
from __future__ import annotations

import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def test_domains_add_list_remove(user_cli) -> None:
    cli = user_cli
    app_id = cli.new_app("cli-domains")
    app = ("-a", app_id)
    name = f"{app_id}.example.org"
    cli.ok("domains:add", name, *app)
    assert [d["domain"] for d in json.loads(cli.ok("domains:list", *app, "--json").stdout)] == [name]
    assert name in cli.ok("domains:list", *app).stdout
    assert name in json.loads(cli.ok("apps:info", *app, "--json").stdout)["domains"]
    wildcard = cli("domains:add", "*.example.org", *app)
    assert wildcard.exit_code == 1
    assert "domain: Adding a wildcard subdomain is currently not supported." in wildcard.stderr
    cli.ok("domains:remove", name, *app)
    assert json.loads(cli.ok("domains:list", *app, "--json").stdout) == []
    missing = cli("domains:remove", name, *app)
    assert missing.exit_code == 1 and "404" in missing.stderr


def _self_signed(common_name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_certs_add_list_remove(user_cli, tmp_path) -> None:
    cli = user_cli
    common_name = f"{cli.username}.certs.example.org"
    cert_pem, key_pem = _self_signed(common_name)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    added = json.loads(cli.ok("certs:add", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), "--json").stdout)
    assert added["common_name"] == common_name
    listed = json.loads(cli.ok("certs:list", "--json").stdout)
    assert [c["common_name"] for c in listed] == [common_name]
    assert common_name in cli.ok("certs:list").stdout
    swapped = cli("certs:add", str(tmp_path / "key.pem"), str(tmp_path / "cert.pem"))
    assert swapped.exit_code == 1 and "certificate: Could not load the certificate" in swapped.stderr
    missing_file = cli("certs:add", str(tmp_path / "nope.pem"), str(tmp_path / "key.pem"))
    assert missing_file.exit_code == 2
    cli.ok("certs:remove", common_name)
    assert json.loads(cli.ok("certs:list", "--json").stdout) == []
