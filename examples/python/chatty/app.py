"""A Lambda authorizer written the way many public samples are: correct about tokens, careless
about what it prints and about the claims it reads.

- It prints the whole event on entry (``print(event)``), so every caller's bearer token ends up
  in the function's logs, where everyone who can read them can replay it.
- It reads a ``groups`` claim inside the same ``try`` as the verification. A token without one
  raises ``KeyError``, which the ``except`` logs with ``logger.exception`` and turns into
  ``Unauthorized``: with ``REQUIRE_GROUPS=true`` every good token is refused, and only the log
  says why.

What authprobe should make of it: a security finding "the handler writes bearer tokens to its
logs" over the good-token cases (the token redacted in everything authprobe writes), and, with
``REQUIRE_GROUPS=true``, a refused good token whose fix names the ``KeyError`` at this file's
line rather than the issuer or audience settings.

Configuration: JWKS_URL, ISSUER, AUDIENCE, LEEWAY_SECONDS (default 60), REQUIRE_GROUPS.
"""

import logging
import os

import jwt

logger = logging.getLogger()
logger.setLevel(logging.INFO)

ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]
LEEWAY = float(os.environ.get("LEEWAY_SECONDS", "60"))
REQUIRE_GROUPS = os.environ.get("REQUIRE_GROUPS", "") == "true"
JWKS = jwt.PyJWKClient(os.environ["JWKS_URL"], cache_keys=True, timeout=2)


def _token(header):
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 10 * 1024:
        raise Exception("Unauthorized")
    return token


def _groups(claims):
    return claims["groups"]


def handler(event, context):
    print(event)
    try:
        token = _token(event.get("authorizationToken"))
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            raise Exception("Unauthorized")
        key = JWKS.get_signing_key_from_jwt(token).key
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )
        groups = _groups(claims) if REQUIRE_GROUPS else []
    except Exception:
        logger.exception("token refused")
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
        "context": {"sub": claims["sub"], "groups": ",".join(groups)},
    }
