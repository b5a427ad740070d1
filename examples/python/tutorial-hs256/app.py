"""The tutorial's second level, an HS256 TOKEN authorizer on PyJWT, written the way
step-by-step tutorials write it. authprobe runs it with the built-in ``hs256`` profile,
unedited (tests/tutorial.rs): it is never told the secret. Each mistake is marked
``# MISTAKE:``:

1. the secret is hard-coded, and it is ``mysecretkey``: anyone can guess it and sign tokens;
2. ``jwt.decode`` is called without ``audience=``, so PyJWT refuses every token that carries
   ``aud`` (all the IdP's tokens) and accepts any token without one;
3. the token is cut out of the header with ``split(" ")[1]`` outside the ``try``: a header
   without ``Bearer `` crashes the handler (500);
4. every failure is a Deny policy (403) instead of ``raise Exception("Unauthorized")`` (401);
5. ``exp`` is not required (PyJWT checks it only when it is there): a token without ``exp``
   never expires (hardening: only a holder of the secret can mint one, which mistake 1 makes
   anyone).
"""

import jwt

# MISTAKE: hard-coded, and in every list of guessable secrets.
SECRET = "mysecretkey"


def generate_policy(principal_id, effect, method_arn):
    api = method_arn.split("/")[0]
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": api + "/*/*"}
            ],
        },
    }


def handler(event, context):
    # MISTAKE: IndexError (a 500) for a header without a space.
    token = event["authorizationToken"].split(" ")[1]
    try:
        # MISTAKE: no audience=, and no options={"require": ["exp"]}.
        payload = jwt.decode(token, SECRET, algorithms=["HS256"])
        return generate_policy(payload["sub"], "Allow", event["methodArn"])
    except Exception:
        # MISTAKE: a Deny (403) where a refusal is raise Exception("Unauthorized") (401).
        return generate_policy("user", "Deny", event["methodArn"])
