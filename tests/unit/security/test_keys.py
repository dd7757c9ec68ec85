"""Key generation, JWKS, and key files (owner-only, atomic, PEM or JWK)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from testbed.core.errors import InputError, UsageError
from testbed.security.keys import (
    PrivateJwk,
    generate_client_key,
    generate_signing_key,
    key_algorithm,
    load_private_key,
    public_jwks,
    save_private_key,
    write_private_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_client_keys_carry_alg_use_and_kid(es_key: PrivateJwk, rs_key: PrivateJwk) -> None:
    assert es_key.key_type == "EC" and es_key.curve_name == "P-384" and key_algorithm(es_key) == "ES384"
    assert rs_key.key_type == "RSA" and rs_key.kid == "rsa-1" and key_algorithm(rs_key) == "RS384"
    assert es_key.kid  # thumbprint by default
    with pytest.raises(UsageError, match="RS384"):
        generate_client_key("HS256")


def test_signing_keys() -> None:
    assert key_algorithm(generate_signing_key()) == "ES256"
    assert generate_signing_key("Ed25519").key_type == "OKP"
    with pytest.raises(UsageError, match="Ed25519"):
        generate_signing_key("EdDSA")


def test_public_jwks_has_no_private_members(es_key: PrivateJwk, rs_key: PrivateJwk) -> None:
    jwks = public_jwks([es_key, rs_key])
    assert [k["kty"] for k in jwks["keys"]] == ["EC", "RSA"]
    for key in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["alg"] in ("ES384", "RS384") and key["kid"]
    assert public_jwks(es_key)["keys"][0]["kid"] == es_key.kid


@pytest.mark.parametrize("name", ["client.jwk.json", "client.pem"])
def test_saved_keys_are_owner_only_and_read_back(tmp_path: Path, es_key: PrivateJwk, name: str) -> None:
    old_umask = os.umask(0o000)  # the widest umask must not leak the key
    try:
        path = save_private_key(es_key, tmp_path / "sub" / name)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temp file left behind
    loaded = load_private_key(path)
    assert loaded.as_dict(private=False)["x"] == es_key.as_dict(private=False)["x"]
    assert key_algorithm(loaded) == "ES384"
    if name.endswith(".json"):
        assert loaded.kid == es_key.kid


def test_rsa_pem_and_jwks_file_load(tmp_path: Path, rs_key: PrivateJwk) -> None:
    pem = save_private_key(rs_key, tmp_path / "rsa.pem")
    assert load_private_key(pem).key_type == "RSA"
    jwks_file = tmp_path / "set.json"
    jwks_file.write_text(json.dumps({"keys": [rs_key.as_dict(private=True)]}))
    assert load_private_key(jwks_file).kid == "rsa-1"


def test_traditional_ec_pem_loads(tmp_path: Path) -> None:
    raw = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pem"
    path.write_bytes(
        raw.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert key_algorithm(load_private_key(path)) == "ES256"


def test_overwrite_is_atomic_and_keeps_0600(tmp_path: Path, es_key: PrivateJwk, rs_key: PrivateJwk) -> None:
    path = tmp_path / "k.json"
    path.write_text("old")
    path.chmod(0o644)
    save_private_key(rs_key, path)
    assert _mode(path) == 0o600 and load_private_key(path).key_type == "RSA"
    write_private_file(path, b"x")
    assert path.read_bytes() == b"x" and _mode(path) == 0o600


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"hello", "neither a PEM private key nor a JWK"),
        (b"{not json", "not valid JSON"),
        (b'{"a": 1}', "no 'kty'"),
        (b'{"kty": "oct", "k": "AAAA", "d": "x"}', "not asymmetric"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "no private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read"),
        (b'{"keys": []}', "exactly one private key"),
    ],
)
def test_bad_key_files_are_clear_input_errors(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment):
        load_private_key(path)


def test_public_jwk_and_encrypted_pem_are_refused(tmp_path: Path, es_key: PrivateJwk) -> None:
    public = tmp_path / "pub.json"
    public.write_text(json.dumps(es_key.as_dict(private=False)))
    with pytest.raises(InputError, match="public key"):
        load_private_key(public)
    raw = ec.generate_private_key(ec.SECP384R1())
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        raw.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(InputError, match="encrypted"):
        load_private_key(encrypted)
    with pytest.raises(InputError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")


def test_saving_a_public_key_is_refused(tmp_path: Path, es_key: PrivateJwk) -> None:
    from joserfc.jwk import ECKey

    public = ECKey.import_key(es_key.as_dict(private=False))
    with pytest.raises(UsageError):
        save_private_key(public, tmp_path / "x.json")
