"""DBSC proofs: the compact JWS a browser signs with the key it keeps (ES256 or RS256).

A proof is ``header.payload.signature`` in base64url. Its header says ``typ: dbsc+jwt``
and the algorithm; at registration it carries the public key as a JWK (the proof is
self-signed: it shows possession without the private key leaving the device), at refresh
it is verified with the key stored at registration. The payload's ``jti`` is the
server's challenge. Verification uses ``cryptography`` (the ``dbsc`` extra).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

ALGORITHMS = ("ES256", "RS256")
MIN_RSA_BITS = 2048


class ProofError(ValueError):
    """A proof that does not verify; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class Proof:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def challenge(self) -> str | None:
        value = self.payload.get("jti")
        return value if isinstance(value, str) else None


def b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProofError("not base64url") from None


def parse(token: str) -> Proof:
    """The parts of a compact JWS, checked for shape (not yet for the signature)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ProofError("a proof has three dot-separated parts")
    try:
        header = json.loads(b64decode(parts[0]))
        payload = json.loads(b64decode(parts[1]))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProofError("header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProofError("header and payload must be JSON objects")
    if header.get("typ") != "dbsc+jwt":
        raise ProofError(f"typ is {header.get('typ')!r}, not 'dbsc+jwt'")
    if header.get("alg") not in ALGORITHMS:
        raise ProofError(f"alg {header.get('alg')!r} is not one of {', '.join(ALGORITHMS)}")
    return Proof(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), b64decode(parts[2]))


def registration_key(proof: Proof) -> dict[str, Any]:
    """The public key a registration proof carries (in its header, or in the payload's
    ``key`` as earlier drafts had it)."""
    jwk = proof.header.get("jwk", proof.payload.get("key"))
    if not isinstance(jwk, dict):
        raise ProofError("a registration proof carries its public key as a JWK")
    return jwk


def _int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ProofError(f"JWK member {name!r} is missing")
    return int.from_bytes(b64decode(value), "big")


def verify(proof: Proof, jwk: dict[str, Any], alg: str | None = None) -> None:
    """Raise :class:`ProofError` unless ``proof`` is signed by the key ``jwk`` (with
    ``alg``, when the session was registered with one)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    used = proof.header["alg"]
    if alg is not None and used != alg:
        raise ProofError(f"signed with {used}, registered with {alg}")
    try:
        if used == "ES256":
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                raise ProofError("an ES256 key is an EC P-256 JWK")
            public = ec.EllipticCurvePublicNumbers(
                _int(jwk, "x"), _int(jwk, "y"), ec.SECP256R1()
            ).public_key()
            if len(proof.signature) != 64:
                raise ProofError("an ES256 signature is 64 bytes (r || s)")
            r = int.from_bytes(proof.signature[:32], "big")
            s = int.from_bytes(proof.signature[32:], "big")
            public.verify(encode_dss_signature(r, s), proof.signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            if jwk.get("kty") != "RSA":
                raise ProofError("an RS256 key is an RSA JWK")
            rsa_key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
            if rsa_key.key_size < MIN_RSA_BITS:
                raise ProofError(f"an RSA key has at least {MIN_RSA_BITS} bits")
            rsa_key.verify(proof.signature, proof.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ProofError("the signature does not verify with the session's key") from None
    except ValueError as error:
        if isinstance(error, ProofError):
            raise
        raise ProofError(f"not a usable key ({error})") from None


def public_jwk(jwk: dict[str, Any]) -> dict[str, str]:
    """Only the public members of a JWK, the ones stored with the session."""
    members = ("kty", "crv", "x", "y") if jwk.get("kty") == "EC" else ("kty", "n", "e")
    return {name: str(jwk[name]) for name in members if name in jwk}
