"""The tutorial's first level, a static-token TOKEN authorizer, written the way step-by-step
tutorials write it. authprobe runs it with the built-in ``static`` profile, unedited
(tests/tutorial.rs); each mistake is marked ``# MISTAKE:``:

1. the whole event is printed, so every caller's token lands in CloudWatch Logs;
2. a wrong token gets a Deny policy (403) instead of ``raise Exception("Unauthorized")`` (401);
3. the Allow names exactly the method ARN it was asked for, while API Gateway caches the
   policy for the token (300 s) and applies it to every route: the caller's next request to
   another route is refused from the cache.
"""

import json


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
    # MISTAKE: the event holds the caller's token.
    print("Received event: " + json.dumps(event))
    token = event["authorizationToken"]
    if token == "allow-token":
        # MISTAKE: exactly this method; the cached policy refuses every other route.
        return generate_policy("user", "Allow", event["methodArn"])
    # MISTAKE: a Deny (403) where a refusal is raise Exception("Unauthorized") (401).
    return generate_policy("user", "Deny", event["methodArn"])
