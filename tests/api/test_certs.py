"""Certificates: PEM validated, key matched, common name from the subject, wildcards refused, owners only."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_cert(common_name: str | None, days: int = 90, key=None, password: bytes | None = None):  # type: ignore[no-untyped-def]
    """A self-signed certificate and its key, PEM-encoded."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else
                        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "No CN Ltd")])
    not_before = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=days)).sign(key, hashes.SHA256()))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode())


def test_add_takes_the_common_name_and_expiry_from_the_certificate(owner):
    cert, key = make_cert("shop.example.com", days=30)
    response = owner.post("/v1/certs", {"certificate": cert, "key": key})
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"id", "owner", "common_name", "expires", "created", "updated"}  # PEMs are write-only
    assert body["common_name"] == "shop.example.com" and body["owner"] == "owner"
    assert body["expires"] == "2026-01-31T00:00:00UTC"
    assert owner.get("/v1/certs/shop.example.com").json == body
    listed = owner.get("/v1/certs").json
    assert listed["count"] == 1 and listed["results"] == [body]


def test_explicit_common_name_overrides_the_subject(owner):
    cert, key = make_cert("ignored.example.com")
    response = owner.post("/v1/certs", {"certificate": cert, "key": key, "common_name": "www.example.com"})
    assert response.status_code == 201 and response.json["common_name"] == "www.example.com"


def test_certificate_without_common_name_needs_one(owner):
    cert, key = make_cert(None)
    response = owner.post("/v1/certs", {"certificate": cert, "key": key})
    assert response.status_code == 400 and list(response.json) == ["common_name"]
    assert owner.post("/v1/certs", {"certificate": cert, "key": key, "common_name": "cn.example.com"}) \
        .status_code == 201


def test_wildcards_are_refused(owner):
    cert, key = make_cert("*.example.com")
    response = owner.post("/v1/certs", {"certificate": cert, "key": key})
    assert response.status_code == 400
    assert response.json == {"certificate": ["Wildcard certificates are not supported."]}
    plain, plain_key = make_cert("example.com")
    response = owner.post("/v1/certs", {"certificate": plain, "key": plain_key, "common_name": "*.example.com"})
    assert response.status_code == 400
    assert response.json == {"common_name": ["Wildcard certificates are not supported."]}
    assert owner.get("/v1/certs").json["count"] == 0


def test_bad_pem_and_mismatched_or_encrypted_keys(owner):
    cert, key = make_cert("a.example.com")
    _, other_key = make_cert("b.example.com")
    _, locked_key = make_cert("a.example.com", password=b"secret")
    cases = [
        ({"certificate": "not a certificate", "key": key}, "certificate"),
        ({"certificate": cert.replace("A", "B", 5), "key": key}, "certificate"),
        ({"certificate": key, "key": key}, "certificate"),
        ({"certificate": cert, "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "key"),
        ({"certificate": cert, "key": cert}, "key"),
        ({"certificate": cert, "key": other_key}, "key"),
        ({"certificate": cert, "key": locked_key}, "key"),
        ({"key": key}, "certificate"),
        ({"certificate": cert}, "key"),
        ({"certificate": 12, "key": key}, "certificate"),
        ({"certificate": cert, "key": key, "common_name": "bad_name!"}, "common_name"),
        ({"certificate": cert, "key": key, "common_name": "x" * 256}, "common_name"),
    ]
    for body, field in cases:
        response = owner.post("/v1/certs", body)
        assert response.status_code == 400, (body, response.json)
        assert field in response.json, (field, response.json)
    assert owner.get("/v1/certs").json["count"] == 0


def test_duplicate_common_name_is_400_not_500(owner, stranger):
    cert, key = make_cert("dup.example.com")
    assert owner.post("/v1/certs", {"certificate": cert, "key": key}).status_code == 201
    again, again_key = make_cert("dup.example.com")
    for account in (owner, stranger):
        response = account.post("/v1/certs", {"certificate": again, "key": again_key})
        assert response.status_code == 400
        assert response.json == {"common_name": ["A certificate for dup.example.com already exists."]}


def test_only_owners_and_admins_see_and_remove(client, owner, stranger, admin):
    cert, key = make_cert("mine.example.com")
    assert owner.post("/v1/certs", {"certificate": cert, "key": key}).status_code == 201
    assert stranger.get("/v1/certs").json["count"] == 0
    assert stranger.get("/v1/certs/mine.example.com").status_code == 404
    assert stranger.delete("/v1/certs/mine.example.com").status_code == 404
    assert client.get("/v1/certs").status_code == 401
    assert admin.get("/v1/certs").json["count"] == 1
    assert owner.delete("/v1/certs/mine.example.com").status_code == 204
    assert owner.get("/v1/certs/mine.example.com").status_code == 404
    assert owner.delete("/v1/certs/mine.example.com").status_code == 404
    cert, key = make_cert("theirs.example.com")
    assert stranger.post("/v1/certs", {"certificate": cert, "key": key}).status_code == 201
    assert admin.delete("/v1/certs/theirs.example.com").status_code == 204
