"""The REQUEST authorizer of AWS's documentation ("Input to an API Gateway Lambda authorizer"),
rewritten in Python: it allows when the header ``HeaderAuth1``, the query string parameter
``QueryString1`` and the stage variable ``StageVar1`` hold the documented values, and raises
``Unauthorized`` otherwise. It reads the header under the name the client sent, as API Gateway
passes REST REQUEST header names unchanged; authprobe's emulator does too, in process and
through ``gateway serve``.

Run by tests/gateway.rs through the emulator (identity sources
``method.request.header.HeaderAuth1`` and ``method.request.querystring.QueryString1``, the
stage variable ``StageVar1=stageValue1``, a profile with ``event = "request"``), both ways.
"""


def _policy(principal, effect, resource):
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"stringKey": "stringval", "numberKey": 123, "booleanKey": True},
    }


def handler(event, context):
    headers = event.get("headers") or {}
    query = event.get("queryStringParameters") or {}
    stage = event.get("stageVariables") or {}
    if (
        headers.get("HeaderAuth1") == "headerValue1"
        and query.get("QueryString1") == "queryValue1"
        and stage.get("StageVar1") == "stageValue1"
    ):
        return _policy("me", "Allow", event["methodArn"])
    raise Exception("Unauthorized")
