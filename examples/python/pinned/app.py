"""A Lambda authorizer that verifies RS256 JWTs against one pinned public key, the way many
deployments do: the issuer's key is baked into the configuration and no JWKS is ever fetched.

It checks what a careful verifier checks (the ``Bearer`` scheme, RS256 only, ``exp``,
``nbf``, ``iat``, ``iss``, ``aud``, ``sub``) and rejects with ``Unauthorized``. What it cannot
do is follow the issuer's key set: the ``kid`` is not looked at (every token is verified with
the one key), so a key the issuer rotates in is never accepted. authprobe reports that as the
key-rotation finding; the kid cases, whose tokens carry genuine signatures by the pinned key,
are hardening, not forgeries; and with no JWKS to fetch, the JWKS-fault cases cannot reach it.

Configuration: PUBLIC_KEY_PEM (the issuer's public key, PEM; authprobe fills
``{public_key_pem}``) or CERTIFICATE_PEM (a certificate of it, as Auth0 hands signing keys
out; ``{certificate_pem}``) or JWKS_URL (the key set, of which the first key is taken on the
first token and kept: the ``keys[0]`` shortcut), ISSUER, AUDIENCE, LEEWAY_SECONDS (default 60).
"""

import os

import jwt
import requests
from cryptography import x509

if os.environ.get("CERTIFICATE_PEM"):
    PUBLIC_KEY = x509.load_pem_x509_certificate(os.environ["CERTIFICATE_PEM"].encode()).public_key()
elif os.environ.get("PUBLIC_KEY_PEM"):
    PUBLIC_KEY = os.environ["PUBLIC_KEY_PEM"]
else:
    PUBLIC_KEY = None
ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]
LEEWAY = float(os.environ.get("LEEWAY_SECONDS", "60"))


def _token(header):
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 10 * 1024:
        raise Exception("Unauthorized")
    return token


def _key():
    """The pinned key; with JWKS_URL, the key set's first key, fetched once."""
    global PUBLIC_KEY
    if PUBLIC_KEY is None:
        jwks = requests.get(os.environ["JWKS_URL"], timeout=5).json()
        PUBLIC_KEY = jwt.PyJWK(jwks["keys"][0]).key
    return PUBLIC_KEY


def handler(event, context):
    try:
        claims = jwt.decode(
            _token(event.get("authorizationToken")),
            _key(),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "sub", "aud"], "strict_aud": False},
        )
    except Exception:
        raise Exception("Unauthorized")
    arn = event["methodArn"].split("/")
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": "/".join(arn[:2]) + "/*/*",
            }],
        },
        "context": {"sub": claims["sub"]},
    }
