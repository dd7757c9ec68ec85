"""Ed25519 keys for certificates: make an agency key pair, read the keys a verifier trusts.

Signing keys are made and stored by :mod:`testbed.security.keys` (private file written owner-only,
0600). A verifier trusts a public JWK Set, one JWK, or a PEM key (public or private: only the public
half is kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from testbed.core.errors import InputError, UsageError
from testbed.security.keys import (
    PrivateJwk,
    generate_signing_key,
    load_private_key,
    public_jwks,
    save_private_key,
)

ALG = "Ed25519"
PRIVATE_NAME = "agency-private.jwk"
JWKS_NAME = "agency-jwks.json"


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    """Where :func:`init_keys` wrote the key pair."""

    private: Path
    jwks: Path
    kid: str


def init_keys(out_dir: Path, *, force: bool = False) -> KeyPairFiles:
    """Make an Ed25519 signing key pair: the private JWK (mode 0600) and the public JWK Set.

    Raises:
        UsageError: a key file already exists there and ``force`` is not set.
    """
    out = Path(out_dir)
    private, jwks = out / PRIVATE_NAME, out / JWKS_NAME
    existing = [p for p in (private, jwks) if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists; choose another --out folder or pass --force")
    key = generate_signing_key(ALG)
    save_private_key(key, private)
    out.mkdir(parents=True, exist_ok=True)
    jwks.write_text(json.dumps(public_jwks(key), indent=2) + "\n", encoding="utf-8")
    return KeyPairFiles(private, jwks, str(key.kid))


def load_signing_key(path: Path) -> PrivateJwk:
    """Read an Ed25519 private key (JWK JSON or PEM) for signing certificates.

    Raises:
        InputError: unreadable, not private, or not Ed25519.
    """
    key = load_private_key(path)
    if not isinstance(key, OKPKey) or key.curve_name != "Ed25519":
        raise InputError(f"{path}: certificates are signed with Ed25519; this key is {type(key).__name__}")
    return key


def load_trusted_keys(path: Path) -> KeySet:
    """Public keys to verify with, from a JWK Set, a JWK or a PEM key file (private keys: public half only).

    Raises:
        InputError: the file holds no usable Ed25519 public key.
    """
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read the key file ({exc.strerror or exc})") from None
    stripped = data.strip()
    keys: list[dict[str, Any]]
    if stripped.startswith(b"{"):
        try:
            obj = json.loads(stripped)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{source}: not valid JSON ({exc})") from None
        raw = obj.get("keys") if isinstance(obj, dict) and "keys" in obj else [obj]
        if not isinstance(raw, list):
            raise InputError(f"{source}: 'keys' must be a list of JWKs")
        keys = [_public_member(k, source) for k in raw]
    elif b"-----BEGIN" in stripped:
        keys = [_pem_public(stripped, source)]
    else:
        raise InputError(f"{source}: neither a JWK Set, a JWK nor a PEM key")
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{source}: the keys cannot be imported ({exc})") from None


def _public_member(jwk: Any, source: Path) -> dict[str, Any]:
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InputError(f"{source}: only Ed25519 keys (kty OKP, crv Ed25519) verify certificates")
    public = {k: v for k, v in jwk.items() if k != "d"}
    if "kid" not in public:
        public["kid"] = OKPKey.import_key(public).thumbprint()
    return public


def _pem_public(data: bytes, source: Path) -> dict[str, Any]:
    try:
        if b"PRIVATE KEY" in data:
            public = load_pem_private_key(data, password=None).public_key()
        else:
            public = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: the PEM key cannot be read ({exc})") from None
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise InputError(f"{source}: only Ed25519 keys verify certificates")
    key = OKPKey.import_key(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    key.ensure_kid()
    return dict(key.as_dict(private=False))


__all__ = ["ALG", "KeyPairFiles", "init_keys", "load_signing_key", "load_trusted_keys"]
