"""A Cognito TOKEN authorizer that maps ``cognito:groups`` to routes, the way role-based
authorizers are written: readers may ``GET /items``; admins may also ``DELETE /items`` and
``GET /admin``. authprobe checks the mapping cell by cell with the matrix of
``groups.toml`` beside this file (tests/matrix.rs).

``MAPPING=correct`` (the default) does it right: every group counts, and the policy lists
exactly the routes the caller may call, whichever route it was asked for, so a cached policy
answers every later route right. ``MAPPING=flawed`` plants three mistakes found in public
samples, each marked ``# MISTAKE:``:

1. the role is the *first* group only: a user in ``["readers", "admins"]`` is a reader;
2. a reader's Allow covers every method of the path it asked for (``*/items``): under
   caching, after ``GET /items`` a reader may ``DELETE /items``;
3. an admin's Allow names exactly the method ARN it was asked for: under caching, the next
   route an admin calls is refused until the policy expires.

With ``CLAIM=scope`` the same routes are granted by OAuth scopes instead (``items/read``,
``items/write``, ``admin``; ``scopes.toml`` beside this file), read from the space-separated
``scope`` string as RFC 6749 writes it. ``MAPPING=flawed`` then plants the mistake of samples
that treat ``scope`` as a list:

4. ``set(claims["scope"]) & {...}`` intersects the *characters* of the string with the scope
   names, so no scope ever grants anything.

Configuration: JWKS_URL, ISSUER, CLIENT_ID (authprobe fills ``{jwks_url}``, ``{issuer}``,
``{client_id}``), MAPPING, CLAIM (``cognito:groups``, the default, or ``scope``).
"""

import os

import jwt

JWKS = jwt.PyJWKClient(os.environ["JWKS_URL"], cache_keys=True, timeout=5)
ISSUER = os.environ["ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
MAPPING = os.environ.get("MAPPING", "correct")
CLAIM = os.environ.get("CLAIM", "cognito:groups")

# Which routes each group may call.
ROUTES = {
    "readers": [("GET", "/items")],
    "admins": [("GET", "/items"), ("DELETE", "/items"), ("GET", "/admin")],
}
# Which routes each scope grants.
SCOPE_ROUTES = {
    "items/read": [("GET", "/items")],
    "items/write": [("DELETE", "/items")],
    "admin": [("GET", "/admin")],
}


def _claims(header):
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Exception("Unauthorized")
    try:
        claims = jwt.decode(
            token,
            JWKS.get_signing_key_from_jwt(token).key,
            algorithms=["RS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
        )
    except Exception:
        raise Exception("Unauthorized")
    if claims.get("token_use") != "access" or claims.get("client_id") != CLIENT_ID:
        raise Exception("Unauthorized")
    return claims


def _policy(principal, effect, resources):
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}
            ],
        },
    }


def handler(event, context):
    claims = _claims(event.get("authorizationToken"))
    groups = claims.get("cognito:groups") or []
    # arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH
    arn = event["methodArn"]
    base = "/".join(arn.split("/")[:2])
    if CLAIM == "scope":
        return _by_scope(claims, base)
    if MAPPING == "flawed":
        return _flawed(claims["sub"], groups, arn, base)
    routes = sorted({r for g in groups for r in ROUTES.get(g, [])})
    if not routes:
        return _policy(claims["sub"], "Deny", [base + "/*/*"])
    return _policy(claims["sub"], "Allow", [f"{base}/{m}{p}" for m, p in routes])


def _flawed(sub, groups, arn, base):
    # MISTAKE: the first group decides.
    role = groups[0] if groups else None
    method, path = arn.split("/", 3)[2], "/" + arn.split("/", 3)[3]
    if (method, path) not in ROUTES.get(role, []):
        return _policy(sub, "Deny", [arn])
    if role == "readers":
        # MISTAKE: every method of the path.
        return _policy(sub, "Allow", [f"{base}/*{path}"])
    # MISTAKE: exactly the method ARN asked for, cached for every route.
    return _policy(sub, "Allow", [arn])


def _by_scope(claims, base):
    scope = claims.get("scope") or ""
    if MAPPING == "flawed":
        # MISTAKE: the scope string as a list: its characters are intersected.
        granted = [s for s in SCOPE_ROUTES if set(scope) & {s}]
    else:
        granted = [s for s in scope.split() if s in SCOPE_ROUTES]
    routes = sorted({r for s in granted for r in SCOPE_ROUTES[s]})
    if not routes:
        return _policy(claims["sub"], "Deny", [base + "/*/*"])
    return _policy(claims["sub"], "Allow", [f"{base}/{m}{p}" for m, p in routes])
