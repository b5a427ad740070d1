"""A Cognito access-token authorizer written the way tutorials write it, for authprobe's
calibration test: its first mistake hides every other one unless the harness looks past it.

Each mistake is marked ``# MISTAKE:``. In the order a reader meets them when it runs:

1. the ``Bearer `` scheme is never stripped, so every well-formed request is refused: the
   mistake that hides the others (authprobe calibrates past it);
2. a refusal is a Deny policy (403), not ``raise Exception("Unauthorized")`` (401);
3. a token header without ``kid`` crashes the handler (``KeyError``: a 500);
4. ``iss`` is never checked;
5. an ID token is taken where an access token is required (``token_use`` is never checked,
   and ``aud`` is accepted in place of ``client_id``);
6. the JWKS is fetched once and never again, so a rotated-in key is refused until a cold start.

Everything else is done properly, so that only the planted mistakes show. One more shows
that was not planted: PyJWT takes an ``exp`` given as a string of digits (the
``exp-string`` kind), which authprobe reports as a security finding; it is the library's
behaviour, kept here because it is what a tutorial authorizer really does.

Configuration: JWKS_URL, ISSUER (read, and then not used: mistake 4), CLIENT_ID.
"""

import json
import os
import re

import jwt
import requests

JWKS_URL = os.environ["JWKS_URL"]
ISSUER = os.environ["ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
LEEWAY_SECONDS = 60
MIN_RSA_BITS = 2048
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

_keys = None


def _key_set():
    # MISTAKE: fetched once per cold start, never refetched on an unknown kid.
    global _keys
    if _keys is None:
        keys = {}
        for jwk in requests.get(JWKS_URL, timeout=2).json()["keys"]:
            key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
            if key.key_size >= MIN_RSA_BITS:
                keys[jwk["kid"]] = key
        _keys = keys
    return _keys


def _policy(principal, effect, method_arn):
    api = method_arn.split("/")[0]
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": api + "/*/*"}
            ],
        },
    }


def handler(event, context):
    method_arn = event["methodArn"]
    # MISTAKE: the header value is taken as the token, `Bearer ` and all.
    token = event.get("authorizationToken") or ""
    # MISTAKE: every refusal below is a Deny policy (403) instead of raise Exception("Unauthorized").
    deny = _policy("anonymous", "Deny", method_arn)
    if len(token) > 10 * 1024 or not COMPACT_JWS.fullmatch(token):
        return deny
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return deny
    if header.get("alg") != "RS256" or "crit" in header:
        return deny
    try:
        keys = _key_set()
    except Exception:
        return deny
    # MISTAKE: a header without `kid` raises KeyError here: the handler crashes (500).
    key = keys.get(header["kid"])
    if key is None:
        return deny
    try:
        # MISTAKE: no issuer= argument, so `iss` is never checked.
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "sub"], "verify_aud": False},
        )
    except jwt.PyJWTError:
        return deny
    # MISTAKE: token_use is never checked, and an ID token's aud (the client id) is taken for
    # an access token's client_id.
    if claims.get("client_id") != CLIENT_ID and claims.get("aud") != CLIENT_ID:
        return deny
    return _policy(claims["sub"], "Allow", method_arn)
