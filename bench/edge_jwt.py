"""ES256 tokens for the jwt_authn rows: a key pair, its JWKS, a signed token, the filter.

Neither PyJWT nor jwcrypto is in the venv, so tokens are signed with ``cryptography``
directly. It produces DER ECDSA signatures; JWS (RFC 7518 §3.4) wants the raw r||s, each
32 bytes for P-256 (edge.md: "ES256 signatures made with cryptography must be converted").
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://identity.paymesh.local"
AUDIENCE = "paymesh-edge"
KEY_ID = "edge-bench-1"
PROVIDER = "paymesh"
PRINCIPAL_CLAIM = "pm"
"""The claim holding the x-paymesh-principal value identity would have set."""
JWT_AUTHN = "envoy.filters.http.jwt_authn"
_P256_BYTES = 32


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Signer:
    """An ES256 key pair and the JWKS that publishes its public half."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> Signer:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "alg": "ES256",
                    "use": "sig",
                    "kid": KEY_ID,
                    "x": b64url(numbers.x.to_bytes(_P256_BYTES, "big")),
                    "y": b64url(numbers.y.to_bytes(_P256_BYTES, "big")),
                }
            ]
        }

    def token(self, subject: str, principal: str, lifetime_s: int) -> str:
        """A compact JWS whose ``pm`` claim is the principal header value."""
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT", "kid": KEY_ID}
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime_s,
            PRINCIPAL_CLAIM: principal,
        }
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        return f"{signing_input}.{b64url(raw)}"


def jwt_filter(jwks: dict[str, Any], *, cache: bool) -> dict[str, Any]:
    """jwt_authn in ext_authz's place: the token's ``pm`` claim becomes the principal header.

    ``forward: false`` strips the token before the request goes upstream, as ext_authz's
    headers_to_remove does for the API key. With ``cache``, a verified token is remembered
    (until its exp), so a repeated token costs no signature check (edge.md: ~10 µs).
    """
    provider: dict[str, Any] = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": json.dumps(jwks)},
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "forward": False,
        "claim_to_headers": [{"header_name": "x-paymesh-principal", "claim_name": PRINCIPAL_CLAIM}],
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
    config = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {PROVIDER: provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": PROVIDER}}],
    }
    return {"name": JWT_AUTHN, "typed_config": config}
