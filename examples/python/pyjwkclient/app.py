"""A Lambda TOKEN authorizer written the way PyJWT's documentation recommends for a JWKS:
``jwt.PyJWKClient(jwks_url)`` with its default settings, ``get_signing_key_from_jwt``, then
``jwt.decode`` with the algorithm pinned and the audience and issuer given. It is what a
careful newcomer writes from the docs ("Retrieve RSA signing keys from a JWKS endpoint"),
kept beside ``../correct/app.py`` so that what authprobe reports about it can be read against
the library's defaults; its test asserts every finding.

Around the library, it does what any tutorial authorizer does: it takes the token after
``Bearer ``, allows the whole stage with ``sub`` as the principal, and turns every PyJWT error
into ``Unauthorized`` (401).

Configuration: JWKS_URL, ISSUER and AUDIENCE (all required).
"""

import os

import jwt

JWKS_URL = os.environ["JWKS_URL"]
ISSUER = os.environ["ISSUER"]
AUDIENCE = os.environ["AUDIENCE"]

# Default settings: the key set is cached for 300 s, and a kid that is not in it makes the
# client fetch the key set again.
jwks_client = jwt.PyJWKClient(JWKS_URL)


def handler(event, context):
    scheme, _, token = event["authorizationToken"].partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Exception("Unauthorized")
    try:
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
        )
    except jwt.PyJWTError:
        raise Exception("Unauthorized")
    api, stage = event["methodArn"].split("/")[:2]
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api}/{stage}/*/*"}
            ],
        },
    }
