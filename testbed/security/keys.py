"""Key pairs for SMART Backend Services clients and for the token issuer, and owner-only key files.

Keys are joserfc JWK objects. A client key signs its assertions with RS384 or ES384 (spec §5,
SMR-T10); the issuer key signs access tokens (ES256 by default, or Ed25519). Private key files are
written atomically with mode 0600 and read back from PEM (PKCS#8 / traditional) or JWK JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from testbed.core.errors import InputError, UsageError

PrivateJwk = RSAKey | ECKey | OKPKey

#: Algorithms a client key can be made for. SMART asks for RS384/ES384; the others exist so that the
#: security suite can prove a server refuses them.
CLIENT_KEY_ALGS: dict[str, tuple[str, Any]] = {
    "RS384": ("RSA", 2048),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", 2048),
    "ES256": ("EC", "P-256"),
}
#: Algorithms the issuer can sign access tokens with (RFC 9864 fully specified ``Ed25519``, not ``EdDSA``).
SIGNING_KEY_ALGS: dict[str, tuple[str, Any]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "Ed25519": ("OKP", "Ed25519"),
}
_EC_CURVE_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PRIVATE_FILE_MODE = 0o600
_MAX_KEY_FILE = 1_000_000


def _generate(kind: str, size_or_curve: Any, alg: str, kid: str | None) -> PrivateJwk:
    params: dict[str, Any] = {"alg": alg, "use": "sig"}
    if kid:
        params["kid"] = kid
    key: PrivateJwk
    if kind == "RSA":
        key = RSAKey.generate_key(size_or_curve, parameters=params)  # type: ignore[arg-type]
    elif kind == "EC":
        key = ECKey.generate_key(size_or_curve, parameters=params)  # type: ignore[arg-type]
    else:
        key = OKPKey.generate_key(size_or_curve, parameters=params)  # type: ignore[arg-type]
    key.ensure_kid()  # RFC 7638 thumbprint when no kid was given
    return key


def generate_client_key(alg: str = "RS384", kid: str | None = None) -> PrivateJwk:
    """Generate a client key pair for signing client assertions.

    Args:
        alg: ``RS384`` (RSA 2048) or ``ES384`` (EC P-384); ``RS256``/``ES256`` only for negative tests.
        kid: the key id; by default the RFC 7638 thumbprint.

    Raises:
        UsageError: an algorithm not listed above.
    """
    if alg not in CLIENT_KEY_ALGS:
        raise UsageError(f"cannot make a client key for alg {alg!r}; use one of {sorted(CLIENT_KEY_ALGS)}")
    kind, size = CLIENT_KEY_ALGS[alg]
    return _generate(kind, size, alg, kid)


def generate_signing_key(alg: str = "ES256", kid: str | None = None) -> PrivateJwk:
    """Generate an access-token signing key for the token issuer.

    Args:
        alg: ``ES256`` (default), ``ES384`` or ``Ed25519`` (RFC 9864 name; ``EdDSA`` is refused
            because joserfc deprecates it).
        kid: the key id; by default the RFC 7638 thumbprint.

    Raises:
        UsageError: an unsupported algorithm.
    """
    if alg not in SIGNING_KEY_ALGS:
        hint = " (write Ed25519, the fully specified name of RFC 9864)" if alg == "EdDSA" else ""
        raise UsageError(f"cannot make a signing key for alg {alg!r}{hint}; use {sorted(SIGNING_KEY_ALGS)}")
    kind, crv = SIGNING_KEY_ALGS[alg]
    return _generate(kind, crv, alg, kid)


def key_algorithm(key: PrivateJwk) -> str:
    """The JWS algorithm a key is meant for: its ``alg`` member, else the natural one for its type."""
    declared = key.get("alg")
    if isinstance(declared, str) and declared:
        return declared
    if isinstance(key, RSAKey):
        return "RS384"
    if isinstance(key, ECKey):
        return _EC_CURVE_ALG.get(key.curve_name, "ES384")
    return "Ed25519"


def public_jwks(keys: PrivateJwk | Iterable[PrivateJwk]) -> dict[str, Any]:
    """The public JWK Set (``{"keys": [...]}``) of one key or several; private members are never included."""
    items = [keys] if isinstance(keys, (RSAKey, ECKey, OKPKey)) else list(keys)
    out = []
    for key in items:
        key.ensure_kid()
        public = dict(key.as_dict(private=False))
        public.setdefault("alg", key_algorithm(key))
        out.append(public)
    return {"keys": out}


def _from_cryptography(raw: Any, data: bytes, source: str) -> PrivateJwk:
    key: PrivateJwk
    if isinstance(raw, rsa.RSAPrivateKey):
        key = RSAKey.import_key(data, parameters={"use": "sig", "alg": "RS384"})
    elif isinstance(raw, ec.EllipticCurvePrivateKey):
        alg = _EC_CURVE_ALG.get(_CURVE_NAMES.get(raw.curve.name, ""), "ES384")
        key = ECKey.import_key(data, parameters={"use": "sig", "alg": alg})
    elif isinstance(raw, ed25519.Ed25519PrivateKey):
        key = OKPKey.import_key(data, parameters={"use": "sig", "alg": "Ed25519"})
    else:
        raise InputError(f"{source}: unsupported key type {type(raw).__name__}; use RSA, EC or Ed25519")
    key.ensure_kid()
    return key


def _from_jwk_json(data: bytes, source: str) -> PrivateJwk:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: starts like JSON but is not valid JSON ({exc})") from None
    if isinstance(obj, dict) and isinstance(obj.get("keys"), list):
        private = [k for k in obj["keys"] if isinstance(k, dict) and "d" in k]
        if len(private) != 1:
            raise InputError(f"{source}: the JWK Set must hold exactly one private key, found {len(private)}")
        obj = private[0]
    if not isinstance(obj, dict) or "kty" not in obj:
        raise InputError(f"{source}: JSON is not a JWK (no 'kty' member)")
    if obj["kty"] not in ("RSA", "EC", "OKP"):
        raise InputError(f"{source}: key type {obj['kty']!r} is not asymmetric; use RSA, EC or OKP")
    if "d" not in obj:
        raise InputError(f"{source}: this JWK is a public key; a private key (with 'd') is needed")
    try:
        key = JWKRegistry.import_key(obj)
    except (JoseError, ValueError, TypeError) as exc:
        raise InputError(f"{source}: the JWK cannot be imported ({exc})") from None
    if not isinstance(key, (RSAKey, ECKey, OKPKey)):  # pragma: no cover - kty checked above
        raise InputError(f"{source}: key type {obj.get('kty')!r} is not asymmetric; use RSA, EC or OKP")
    key.ensure_kid()
    return key


def load_private_key(path: str | Path) -> PrivateJwk:
    """Read a private key from a PEM file (PKCS#8 or traditional, unencrypted) or a JWK JSON file.

    Raises:
        InputError: missing or unreadable file, a public key or certificate, an encrypted PEM, or
            anything that is neither PEM nor JWK JSON.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()[: _MAX_KEY_FILE + 1]
    except OSError as exc:
        raise InputError(f"{source}: cannot read the key file ({exc.strerror or exc})") from None
    if len(data) > _MAX_KEY_FILE:
        raise InputError(f"{source}: larger than {_MAX_KEY_FILE} bytes; not a key file")
    stripped = data.strip()
    if stripped.startswith(b"{"):
        return _from_jwk_json(stripped, source)
    if b"-----BEGIN" in stripped:
        if b"PRIVATE KEY-----" not in stripped:
            raise InputError(f"{source}: this PEM holds no private key (a public key or certificate?)")
        try:
            raw = load_pem_private_key(stripped, password=None)
        except TypeError:
            raise InputError(f"{source}: the PEM private key is encrypted; give an unencrypted key") from None
        except ValueError as exc:
            raise InputError(f"{source}: the PEM private key cannot be read ({exc})") from None
        return _from_cryptography(raw, stripped, source)
    raise InputError(f"{source}: neither a PEM private key nor a JWK JSON object")


def write_private_file(path: str | Path, data: bytes) -> Path:
    """Write ``data`` atomically to ``path`` with mode 0600 (owner only), whatever the umask.

    The file is written beside its target, flushed to disk, then renamed over it, so a reader never
    sees a partial key and the secret is never world-readable, even for a moment.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)  # mkstemp creates it 0600
    try:
        os.fchmod(fd, _PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def save_private_key(key: PrivateJwk, path: str | Path) -> Path:
    """Save a private key owner-only (0600), atomically: PEM (PKCS#8) for ``*.pem``, else JWK JSON.

    JWK JSON keeps the ``kid`` and ``alg``; PEM cannot (a PEM key reads back with its thumbprint as kid).

    Raises:
        UsageError: the key holds no private part.
    """
    if not key.is_private:
        raise UsageError("save_private_key needs a private key; this one is public")
    if str(path).lower().endswith(".pem"):
        data = key.as_pem(private=True)
    else:
        key.ensure_kid()
        data = (json.dumps(key.as_dict(private=True), indent=2) + "\n").encode()
    return write_private_file(path, data)
