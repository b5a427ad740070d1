"""An HTTP API Lambda authorizer, payload format 2.0 with simple responses, written by the
book: a rejected token gets ``{"isAuthorized": false}`` (API Gateway answers 403), the
documented way to reject on an HTTP API; an accepted one gets ``{"isAuthorized": true}`` and a
context.

The token checks are those of the correct example (``../correct/app.py``, loaded from there,
configured by the same environment variables), so this file is only what differs on an HTTP
API: the answer's shape. authprobe judges it with a v2 profile (``event = "v2"``,
``simple_responses = true``) and must find nothing wrong with it.
"""

import importlib.util
import os

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "correct_authorizer", os.path.join(_here, "..", "correct", "app.py")
)
correct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(correct)


def handler(event, context):
    try:
        claims = correct.verify(correct.credential(event))
    except correct.Rejected as why:
        correct.logger.info("rejected: %s", why)
        return {"isAuthorized": False}
    answer_context = {"sub": claims["sub"]}
    for name in ("scope", "token_use", "client_id"):
        if isinstance(claims.get(name), str):
            answer_context[name] = claims[name]
    return {"isAuthorized": True, "context": answer_context}
