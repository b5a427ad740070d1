# A Cognito TOKEN authorizer in the style of the widely copied python-jose sample: the JWKS is
# downloaded once at cold start, the key picked by kid, the signature verified by hand, then
# exp and aud compared. No iss, no token_use; it expects ID tokens. What authprobe finds in
# it, and which of it is true: docs/REAL-AUTHORIZERS.md.
#
#   authprobe conform --profile cognito --token-use id \
#     --target 'lambda:VENV/bin/python -m awslambdaric app.handler' \
#     --workdir examples/python/jose-cognito --env JWKS_URL={jwks_url} --env CLIENT_ID={client_id}
import json
import os
import time
import urllib.request

from jose import jwk, jwt
from jose.utils import base64url_decode

KEYS_URL = os.environ["JWKS_URL"]
APP_CLIENT_ID = os.environ["CLIENT_ID"]
with urllib.request.urlopen(KEYS_URL) as f:
    KEYS = json.loads(f.read().decode("utf-8"))["keys"]


def verify(token):
    headers = jwt.get_unverified_headers(token)
    kid = headers["kid"]
    key_index = -1
    for i in range(len(KEYS)):
        if kid == KEYS[i]["kid"]:
            key_index = i
            break
    if key_index == -1:
        print("Public key not found in jwks.json")
        return False
    public_key = jwk.construct(KEYS[key_index])
    message, encoded_signature = str(token).rsplit(".", 1)
    decoded_signature = base64url_decode(encoded_signature.encode("utf-8"))
    if not public_key.verify(message.encode("utf8"), decoded_signature):
        print("Signature verification failed")
        return False
    claims = jwt.get_unverified_claims(token)
    if time.time() > claims["exp"]:
        print("Token is expired")
        return False
    if claims["aud"] != APP_CLIENT_ID:
        print("Token was not issued for this audience")
        return False
    return claims


def handler(event, context):
    token = event["authorizationToken"].replace("Bearer ", "")
    claims = verify(token)
    if not claims:
        raise Exception("Unauthorized")
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
    }
