"""A Cognito-style Lambda authorizer with the mistakes people really make.

DO NOT DEPLOY THIS. It is the counter-example authprobe is expected to catch: it looks
careful (RS256 only, ``exp`` and ``iss`` checked, weak keys and key-bearing headers refused)
but carries seven planted mistakes, (a) to (g), each explained where it is made by a
comment that starts with MISTAKE:

(a) no real ``Bearer`` handling: the last whitespace-separated word is taken as the token;
(b) a rejected token gets a Deny policy (API Gateway: 403) instead of ``Unauthorized`` (401);
(c) the Allow covers only the incoming methodArn, so a cached answer breaks other routes;
(d) the key is looked up by ``header["kid"]`` and a missing or unknown kid falls back to the
    first key of the JWKS;
(e) the JWKS is fetched once per execution environment and never refetched;
(f) ``aud`` is checked on Cognito access tokens, which have none;
(g) ``token_use`` is ignored.

Everything else matches ``examples/python/correct/app.py``, and so does the configuration
(the same environment variables): AUTH_PROFILE, JWKS_URL, ISSUER, AUDIENCE, CLIENT_ID,
TOKEN_USE, REQUIRED_SCOPES, LEEWAY_SECONDS, JWKS_REFETCH_SECONDS, JWKS_TIMEOUT_SECONDS,
SIMPLE_RESPONSES.
JWKS_REFETCH_SECONDS and TOKEN_USE are read but, by mistakes (e) and (g), never used.
"""

import base64
import json
import logging
import math
import os
import re
import time

import jwt
import requests

logger = logging.getLogger()
logger.setLevel(logging.INFO)

MAX_TOKEN_LENGTH = 10 * 1024
MIN_RSA_BITS = 2048
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
KEY_BEARING_HEADERS = ("jwk", "jku", "x5u", "x5c")


def _required_env(name):
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} must be set")
    return value


PROFILE = os.environ.get("AUTH_PROFILE", "jwks") or "jwks"
if PROFILE not in ("jwks", "cognito"):
    raise RuntimeError(f"AUTH_PROFILE must be jwks or cognito, not {PROFILE!r}")
JWKS_URL = _required_env("JWKS_URL")
ISSUER = _required_env("ISSUER")
AUDIENCE = _required_env("AUDIENCE") if PROFILE == "jwks" else ""
CLIENT_ID = _required_env("CLIENT_ID") if PROFILE == "cognito" else ""
TOKEN_USE = os.environ.get("TOKEN_USE", "access") or "access"
REQUIRED_SCOPES = os.environ.get("REQUIRED_SCOPES", "").split()
LEEWAY_SECONDS = int(os.environ.get("LEEWAY_SECONDS") or 60)
JWKS_REFETCH_SECONDS = float(os.environ.get("JWKS_REFETCH_SECONDS") or 10)
JWKS_TIMEOUT_SECONDS = float(os.environ.get("JWKS_TIMEOUT_SECONDS") or 2)
SIMPLE_RESPONSES = os.environ.get("SIMPLE_RESPONSES", "").lower() == "true"

# MISTAKE: (e) the JWKS is fetched once per execution environment, on its first invocation,
# and never again; JWKS_REFETCH_SECONDS is never used. A key the identity provider rotates in
# is never seen, so its tokens fail until the next cold start. (If that one fetch fails, the
# environment has no keys and refuses every token until it is replaced.)
_JWKS = None  # kid -> (PyJWK, bits), in the JWKS's order; {} when the one fetch failed


def signing_keys():
    global _JWKS
    if _JWKS is None:
        _JWKS = {}
        answer = requests.get(JWKS_URL, timeout=JWKS_TIMEOUT_SECONDS)
        answer.raise_for_status()
        for jwk_data in answer.json().get("keys", []):
            kid = jwk_data.get("kid")
            usable = (
                isinstance(kid, str)
                and jwk_data.get("kty") == "RSA"
                and jwk_data.get("use", "sig") == "sig"
                and jwk_data.get("alg", "RS256") == "RS256"
            )
            if not usable or kid in _JWKS:
                continue
            try:
                key = jwt.PyJWK(jwk_data, algorithm="RS256")
            except jwt.PyJWTError:
                continue
            _JWKS[kid] = (key, key.key.key_size)
    if not _JWKS:
        raise ValueError("no usable RS256 key")
    return _JWKS


def handler(event, context):
    arn = event.get("methodArn") or event.get("routeArn")
    simple = event.get("version") == "2.0" and SIMPLE_RESPONSES
    try:
        claims = verify(credential(event))
    except Exception as error:
        logger.info("rejected: %s", error)
        # MISTAKE: (b) a rejected token is answered with a Deny. API Gateway then answers
        # 403 "User is not authorized to access this resource with an explicit deny"
        # instead of 401 Unauthorized, and clients never learn to fetch a new token. The
        # way to reject is `raise Exception("Unauthorized")`.
        if simple:
            return {"isAuthorized": False, "context": {}}
        return policy("anonymous", "Deny", arn, {})

    answer_context = {"sub": claims["sub"]}
    for name in ("scope", "token_use", "client_id"):
        if isinstance(claims.get(name), str):
            answer_context[name] = claims[name]
    if simple:
        return {"isAuthorized": True, "context": answer_context}
    return policy(claims["sub"], "Allow", arn, answer_context)


def policy(principal, effect, arn, answer_context):
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    # MISTAKE: (c) the Resource is exactly the incoming methodArn (routeArn).
                    # API Gateway caches this policy for the token and re-evaluates it for
                    # the token's next requests: any other route or method then gets 403
                    # until the cache entry expires. Allow the whole stage instead:
                    # arn:aws:execute-api:R:A:API/STAGE/*/*.
                    "Resource": arn,
                }
            ],
        },
        "context": answer_context,
    }


def credential(event):
    if event.get("type") == "TOKEN":
        value = event.get("authorizationToken")
        return value if isinstance(value, str) else ""
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if name.lower() == "authorization" and isinstance(value, str):
            return value
    source = event.get("identitySource")
    if isinstance(source, list) and len(source) == 1:
        source = source[0]
    return source if isinstance(source, str) else ""


def verify(header_value):
    if len(header_value) > MAX_TOKEN_LENGTH:
        raise ValueError("credential longer than 10 KiB")
    # MISTAKE: (a) no real Bearer handling. "Strip whatever comes before the token" is done
    # by taking the last whitespace-separated word, so any scheme ("Basic <jwt>"), no scheme
    # at all, or two spaces after "Bearer" are all accepted. Only "Bearer <token>" (scheme
    # in any case, exactly one space) should be.
    words = header_value.split()
    if not words:
        raise ValueError("no credential")
    token = words[-1]
    if not COMPACT_JWS.fullmatch(token):
        raise ValueError("not a compact JWS")

    header = _json_part(token.split(".")[0])
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r} not allowed")
    if "crit" in header:
        raise ValueError("crit header")
    for name in KEY_BEARING_HEADERS:
        if name in header:
            raise ValueError(f"{name} header")
    keys = signing_keys()
    # MISTAKE: (d) the kid is used without a check. A token without a kid, or with a kid no
    # key set holds (including junk such as "../../dev/null"), is verified with the first
    # key of the JWKS instead of being refused ("Cognito pools only have two keys anyway").
    try:
        key, bits = keys[header["kid"]]
    except KeyError:
        key, bits = next(iter(keys.values()))
    if bits < MIN_RSA_BITS:
        raise ValueError(f"key has only {bits} bits")

    # MISTAKE: (f) the app client is checked through `aud`, for every Cognito token. Only ID
    # tokens carry `aud`; access tokens name their client in `client_id` and have no `aud`,
    # so PyJWT refuses every good access token ("Token is missing the aud claim"), while ID
    # tokens of the app client pass.
    audience = CLIENT_ID if PROFILE == "cognito" else AUDIENCE
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        options={
            "verify_aud": True,
            "verify_exp": False,  # exp, nbf, iat, iss and sub are checked below
            "verify_nbf": False,
            "verify_iat": False,
            "verify_iss": False,
            "verify_sub": False,
            "verify_jti": False,
        },
    )
    check_claims(claims)
    # MISTAKE: (g) `token_use` is never looked at (TOKEN_USE is read and ignored), so an ID
    # token is accepted where an access token is required. With mistake (f) that is exactly
    # what happens: ID tokens pass, access tokens do not.
    return claims


def _json_part(part):
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("header is not a JSON object")
    return value


def _numeric_date(claims, name, required):
    if name not in claims:
        if required:
            raise ValueError(f"no {name}")
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number")
    return value


def check_claims(claims):
    now = time.time()
    exp = _numeric_date(claims, "exp", required=True)
    if exp + LEEWAY_SECONDS < now:
        raise ValueError("expired")
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and nbf - LEEWAY_SECONDS > now:
        raise ValueError("not yet valid")
    iat = _numeric_date(claims, "iat", required=False)
    if iat is not None and iat - LEEWAY_SECONDS > now:
        raise ValueError("issued in the future")
    if claims.get("iss") != ISSUER:
        raise ValueError(f"iss {claims.get('iss')!r}")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise ValueError("no sub")
    if REQUIRED_SCOPES:
        scope = claims.get("scope")
        granted = scope.split() if isinstance(scope, str) else []
        if any(s not in granted for s in REQUIRED_SCOPES):
            raise ValueError("missing scopes")
