"""A Lambda authorizer that fetches the issuer's JWKS once, when the environment starts (as a
Go authorizer does in package init, or Python at import), and never again: each key by its
``kid``, RS256 only, ``exp``/``iat``/``iss``/``aud``/``sub`` required.

What authprobe should make of it: the tokens of the kid cases are refused (an unknown ``kid``
has no key); with the JWKS slow at a cold start the good token is still allowed, and rightly,
once the fetch completes (a forgery sent next is refused); with the JWKS down or malformed the
environment cannot start, which is an availability finding, never a security one; a key the
issuer rotates in is picked up by the next environment, which with an IdP that publishes keys
ahead is no defect.

Configuration: JWKS_URL, ISSUER, AUDIENCE, LEEWAY_SECONDS (default 60).
"""

import json
import os
import urllib.request

import jwt

ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]
LEEWAY = float(os.environ.get("LEEWAY_SECONDS", "60"))

# At init, once: a failure here fails the cold start.
with urllib.request.urlopen(os.environ["JWKS_URL"], timeout=10) as answer:
    KEYS = {
        jwk["kid"]: jwt.PyJWK.from_dict(jwk).key
        for jwk in json.loads(answer.read())["keys"]
        if jwk.get("kty") == "RSA" and "kid" in jwk
    }


def _token(header):
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 10 * 1024:
        raise Exception("Unauthorized")
    return token


def handler(event, context):
    try:
        token = _token(event.get("authorizationToken"))
        key = KEYS[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
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
