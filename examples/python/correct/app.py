"""A Lambda authorizer for API Gateway that verifies RS256 JWTs against a JWKS.

It is written the way it should be deployed:

- the credential must be ``Bearer <token>`` (scheme in any case, exactly one space);
- tokens over 10 KiB are refused before any parsing;
- only RS256 is accepted, a ``kid`` is required, and headers that bring their own key
  (``jwk``, ``jku``, ``x5u``, ``x5c``) or a ``crit`` list are refused;
- the JWKS is cached, refetched on an unknown ``kid`` at most once per refetch interval,
  keys under 2048 bits are refused, and when no key set can be had every token is refused;
- every claim is checked here, explicitly: ``exp`` (required, numeric), ``nbf``, ``iat``,
  ``iss`` (exact), ``sub``, then ``aud`` or the Cognito ``token_use``/``client_id`` rules,
  then the required scopes;
- a rejected token ends in ``raise Exception("Unauthorized")``, which API Gateway turns into
  401; this authorizer never answers with a Deny (that would be 403);
- an allowed token gets an Allow for the whole stage, so API Gateway's result cache can
  reuse it for every route, and a context of strings only.

It answers REST API TOKEN and REQUEST events and HTTP API events of payload format 1.0 and
2.0 (with simple responses when ``SIMPLE_RESPONSES=true``).

Configuration, read once per cold start:

===================== ======================================================================
AUTH_PROFILE          ``jwks`` (default; ``iss`` + ``aud``) or ``cognito`` (Cognito user pool)
JWKS_URL              where the public keys are (required)
ISSUER                the exact ``iss`` (required)
AUDIENCE              the ``aud`` to require (required for ``jwks``)
CLIENT_ID             the Cognito app client id (required for ``cognito``)
TOKEN_USE             ``access`` (default) or ``id`` (``cognito``)
REQUIRED_SCOPES       space-separated scopes every token must hold in ``scope`` (optional)
LEEWAY_SECONDS        clock-skew allowance on ``exp``, ``nbf`` and ``iat`` (default 60)
JWKS_REFETCH_SECONDS  least time between two JWKS fetches caused by unknown kids (default 10)
JWKS_TIMEOUT_SECONDS  how long a JWKS fetch may take before the token is refused (default 2)
SIMPLE_RESPONSES      ``true``: answer HTTP API 2.0 events with ``{"isAuthorized": ...}``
===================== ======================================================================
"""

import base64
import json
import logging
import math
import os
import re
import threading
import time

import jwt
import requests

logger = logging.getLogger()
logger.setLevel(logging.INFO)

MAX_TOKEN_LENGTH = 10 * 1024
MIN_RSA_BITS = 2048
# A compact JWS: three base64url parts (the signature may be empty here: the signature
# check refuses it). Anything else (padding, the standard alphabet, whitespace, more or
# fewer parts) is refused before it reaches a decoder that might be lenient about it.
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
KEY_BEARING_HEADERS = ("jwk", "jku", "x5u", "x5c")


class Rejected(Exception):
    """The token is not acceptable; the message says why (for the logs only)."""


def _required_env(name):
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} must be set")
    return value


def _seconds_env(name, default):
    value = os.environ.get(name, "")
    return float(value) if value else default


# Configuration. A missing or bad variable fails the cold start, loudly: better a 500 than
# an authorizer that checks less than it was meant to.
PROFILE = os.environ.get("AUTH_PROFILE", "jwks") or "jwks"
if PROFILE not in ("jwks", "cognito"):
    raise RuntimeError(f"AUTH_PROFILE must be jwks or cognito, not {PROFILE!r}")
JWKS_URL = _required_env("JWKS_URL")
ISSUER = _required_env("ISSUER")
AUDIENCE = _required_env("AUDIENCE") if PROFILE == "jwks" else ""
CLIENT_ID = _required_env("CLIENT_ID") if PROFILE == "cognito" else ""
TOKEN_USE = os.environ.get("TOKEN_USE", "access") or "access"
if TOKEN_USE not in ("access", "id"):
    raise RuntimeError(f"TOKEN_USE must be access or id, not {TOKEN_USE!r}")
REQUIRED_SCOPES = os.environ.get("REQUIRED_SCOPES", "").split()
LEEWAY_SECONDS = _seconds_env("LEEWAY_SECONDS", 60)
JWKS_REFETCH_SECONDS = _seconds_env("JWKS_REFETCH_SECONDS", 10)
JWKS_TIMEOUT_SECONDS = _seconds_env("JWKS_TIMEOUT_SECONDS", 2)
SIMPLE_RESPONSES = os.environ.get("SIMPLE_RESPONSES", "").lower() == "true"


class KeyCache:
    """The JWKS, kept across invocations and refetched when a token names an unknown kid.

    Refetches are rate-limited, so a flood of made-up kids cannot turn into a flood of
    requests to the identity provider. A failed refetch keeps the keys already known; while
    none are known, a failed fetch is tried again after a short back-off.
    """

    def __init__(self, url, refetch_seconds):
        self.url = url
        self.refetch_seconds = refetch_seconds
        self.keys = {}  # kid -> (PyJWK, bits)
        self.last_fetch = None  # time.monotonic() of the last fetch attempt
        self.lock = threading.Lock()

    def get(self, kid):
        with self.lock:
            if kid in self.keys:
                return self.keys[kid]
            now = time.monotonic()
            # With no key set yet, only a short back-off: every token needs the keys, and an
            # environment that started during an IdP outage must recover with the IdP.
            wait = self.refetch_seconds if self.keys else min(self.refetch_seconds, 0.05)
            if self.last_fetch is not None and now - self.last_fetch < wait:
                raise Rejected(f"unknown kid {kid!r} (JWKS fetched recently)")
            self.last_fetch = now
            try:
                self.keys = self._fetch()
            except Exception as error:  # network, HTTP status, JSON, no usable key
                logger.error("JWKS fetch from %s failed: %s", self.url, error)
                if not self.keys:
                    raise Rejected("no key set available (failing closed)") from error
            if kid not in self.keys:
                raise Rejected(f"unknown kid {kid!r}")
            return self.keys[kid]

    def _fetch(self):
        answer = requests.get(self.url, timeout=JWKS_TIMEOUT_SECONDS)
        answer.raise_for_status()
        keys = {}
        for jwk_data in answer.json().get("keys", []):
            kid = jwk_data.get("kid")
            usable = (
                isinstance(kid, str)
                and jwk_data.get("kty") == "RSA"
                and jwk_data.get("use", "sig") == "sig"
                and jwk_data.get("alg", "RS256") == "RS256"
            )
            if not usable or kid in keys:
                continue
            try:
                key = jwt.PyJWK(jwk_data, algorithm="RS256")
            except jwt.PyJWTError as error:
                logger.warning("JWKS key %r skipped: %s", kid, error)
                continue
            keys[kid] = (key, key.key.key_size)
        if not keys:
            raise ValueError("the JWKS holds no usable RS256 key")
        return keys


KEYS = KeyCache(JWKS_URL, JWKS_REFETCH_SECONDS)


def handler(event, context):
    """The Lambda entry point: a policy (or simple response), or ``Unauthorized``."""
    try:
        claims = verify(credential(event))
    except Rejected as why:
        logger.info("rejected: %s", why)
        # Exactly this message: API Gateway answers 401. Any other error is a 500.
        raise Exception("Unauthorized") from None

    answer_context = {"sub": claims["sub"]}
    for name in ("scope", "token_use", "client_id"):
        if isinstance(claims.get(name), str):
            answer_context[name] = claims[name]

    if event.get("version") == "2.0" and SIMPLE_RESPONSES:
        return {"isAuthorized": True, "context": answer_context}
    arn = event.get("methodArn") or event.get("routeArn")
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": whole_stage(arn),
                }
            ],
        },
        "context": answer_context,
    }


def credential(event):
    """The Authorization value of any of the four event shapes ("" when there is none)."""
    if event.get("type") == "TOKEN":
        value = event.get("authorizationToken")
        return value if isinstance(value, str) else ""
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if name.lower() == "authorization" and isinstance(value, str):
            return value
    # HTTP API events also carry the identity source itself: a string in payload 1.0, a
    # list in 2.0. It is the Authorization header when that is the only identity source.
    source = event.get("identitySource")
    if isinstance(source, list) and len(source) == 1:
        source = source[0]
    return source if isinstance(source, str) else ""


def whole_stage(arn):
    """``arn:aws:execute-api:R:A:API/STAGE/VERB/path`` -> ``arn:aws:execute-api:R:A:API/STAGE/*/*``.

    An Allow for the whole stage is what makes result caching safe: API Gateway reuses the
    cached policy for every route this token calls, not only the one that was authorized.
    """
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) != 6 or parts[2] != "execute-api":
        # Not the caller's fault: the event is not one API Gateway sends. Any error other
        # than "Unauthorized" becomes a 500.
        raise ValueError(f"the event has no usable methodArn or routeArn: {arn!r}")
    api_stage = parts[5].split("/")
    if len(api_stage) < 2 or not api_stage[0] or not api_stage[1]:
        raise ValueError(f"the event has no usable methodArn or routeArn: {arn!r}")
    return ":".join(parts[:5]) + f":{api_stage[0]}/{api_stage[1]}/*/*"


def verify(header_value):
    """The claims of a good token; raises ``Rejected`` for anything else."""
    if not header_value:
        raise Rejected("no credential")
    if len(header_value) > MAX_TOKEN_LENGTH:
        raise Rejected("credential longer than 10 KiB")
    scheme, space, token = header_value.partition(" ")
    if not (space and scheme.isascii() and scheme.lower() == "bearer"):
        raise Rejected("not a Bearer credential")
    if token[:1].isspace():
        raise Rejected("more than one space after Bearer")
    if not COMPACT_JWS.fullmatch(token):
        raise Rejected("not a compact JWS")

    header = _json_part(token.split(".")[0])
    if header.get("alg") != "RS256":
        raise Rejected(f"alg {header.get('alg')!r} not allowed")
    if "crit" in header:
        raise Rejected("crit header")
    for name in KEY_BEARING_HEADERS:
        if name in header:
            raise Rejected(f"{name} header")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Rejected("no kid")
    key, bits = KEYS.get(kid)
    if bits < MIN_RSA_BITS:
        raise Rejected(f"key {kid!r} has only {bits} bits")

    try:
        # PyJWT checks the signature only; every claim is checked below, so what is accepted
        # does not depend on PyJWT's defaults of the day.
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            },
        )
    except jwt.PyJWTError as error:
        raise Rejected(f"signature: {error}") from error
    check_claims(claims)
    return claims


def _json_part(part):
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError as error:
        raise Rejected("header is not base64url JSON") from error
    if not isinstance(value, dict):
        raise Rejected("header is not a JSON object")
    return value


def _numeric_date(claims, name, required):
    if name not in claims:
        if required:
            raise Rejected(f"no {name}")
        return None
    value = claims[name]
    # bool is an int in Python; "1700000000" (a string) is not a NumericDate.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"{name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):  # json.loads reads "Infinity"
        raise Rejected(f"{name} is not a finite number")
    return value


def check_claims(claims):
    """Raises ``Rejected`` unless the verified claims are acceptable."""
    now = time.time()
    exp = _numeric_date(claims, "exp", required=True)
    if exp + LEEWAY_SECONDS < now:
        raise Rejected("expired")
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and nbf - LEEWAY_SECONDS > now:
        raise Rejected("not yet valid")
    iat = _numeric_date(claims, "iat", required=False)
    if iat is not None and iat - LEEWAY_SECONDS > now:
        raise Rejected("issued in the future")

    if claims.get("iss") != ISSUER:  # exact: no prefix, no trailing-slash tolerance
        raise Rejected(f"iss {claims.get('iss')!r}")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Rejected("no sub")

    if PROFILE == "cognito":
        if claims.get("token_use") != TOKEN_USE:
            raise Rejected(f"token_use {claims.get('token_use')!r}, want {TOKEN_USE!r}")
        if TOKEN_USE == "access":
            # Cognito access tokens name their app client in client_id and carry no aud.
            if claims.get("client_id") != CLIENT_ID:
                raise Rejected(f"client_id {claims.get('client_id')!r}")
        else:
            _check_audience(claims, CLIENT_ID)
    else:
        _check_audience(claims, AUDIENCE)

    if REQUIRED_SCOPES:
        scope = claims.get("scope")
        granted = scope.split() if isinstance(scope, str) else []
        missing = [s for s in REQUIRED_SCOPES if s not in granted]
        if missing:
            raise Rejected(f"missing scopes {missing}")


def _check_audience(claims, want):
    aud = claims.get("aud")
    if isinstance(aud, str) and aud == want:
        return
    if isinstance(aud, list) and want in aud:
        return
    raise Rejected(f"aud {aud!r}")
