"""The tutorial's third level, an RS256 TOKEN authorizer that verifies against the IdP's
JWKS (Auth0/Okta style), on PyJWT, written the way step-by-step tutorials write it.
authprobe runs it with the built-in ``jwks`` profile (tests/tutorial.rs); each mistake is
marked ``# MISTAKE:``:

1. the token is printed, so every caller's token lands in CloudWatch Logs;
2. the JWKS is fetched when the module loads, outside any ``try``: with the IdP down at a
   cold start the environment cannot start, and every caller gets a 500 until it can (that
   it is never fetched again is no defect against an IdP that publishes keys a week before
   signing with them, as the ``jwks`` profile says Okta and Auth0 do);
3. ``jwt.decode`` is called without ``issuer=``: a token of another issuer is accepted;
4. the token is cut out of the header with ``split(" ")[1]`` outside the ``try``: a header
   without ``Bearer `` crashes the handler (500);
5. the key is looked up with ``next(...)`` and ``header["kid"]`` outside the ``try``: a token
   without ``kid``, or with a kid the JWKS does not hold, crashes the handler (500);
6. the Allow names exactly the method ARN it was asked for, while API Gateway caches the
   policy for the token and applies it to every route.

Configuration: JWKS_URL, AUDIENCE (ISSUER is read by the tutorial's template and not used:
mistake 3).
"""

import json
import os
import urllib.request

import jwt

JWKS_URL = os.environ["JWKS_URL"]
AUDIENCE = os.environ["AUDIENCE"]
# MISTAKE: an IdP outage at a cold start is an init error, not a refusal.
JWKS = json.loads(urllib.request.urlopen(JWKS_URL, timeout=2).read())


def generate_policy(principal_id, effect, resource):
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ],
        },
    }


def handler(event, context):
    # MISTAKE: IndexError (a 500) for a header without a space.
    token = event["authorizationToken"].split(" ")[1]
    # MISTAKE: the caller's token, in the logs.
    print(f"Verifying token {token}")
    # MISTAKE: KeyError (no kid) and StopIteration (unknown kid) outside the try.
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in JWKS["keys"] if k["kid"] == kid)
    try:
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
        # MISTAKE: no issuer=.
        payload = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)
    except Exception:
        raise Exception("Unauthorized")
    # MISTAKE: exactly this method; the cached policy refuses every other route.
    return generate_policy(payload["sub"], "Allow", event["methodArn"])
