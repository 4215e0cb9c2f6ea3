"""What an answer from the cloud means: one table, one function, every caller.

    outcome = classify(profile, TOKEN, reply)      # a complete reply (http.Response)
    raise failure(outcome, "token renewal", reply)  # the LinkError for a bad outcome

The token manager, the uploader and the device flow all ask `classify`; what the link then
does about a failure (how long it waits) is `tempnode.backoff`'s `POLICY`, by the same names.

- `ok`: a 2xx. The link goes on.
- `token_rejected`: an ingest reply that the profile's `expired` rules match (RFC 6750 §3).
  The access token is renewed once and the request retried once.
- `credential_refused`: a token or device-flow reply with an explicit OAuth error in a JSON
  body that the profile's `refused` rules name (RFC 6749 §5.2). Needs provisioning.
- `pending`, `slow_down`: a device-flow poll still waiting (RFC 8628 §3.5). Polling goes on.
- `transient`: 5xx, 408, 429, `temporarily_unavailable`, `server_error`, or no reply at all
  (DNS, connect, a timeout, a reset). Backs off.
- `garbage`: not HTTP, over the size cap, or a 2xx whose body the caller cannot use. Backs off
  as transient.
- `refused`: a 3xx (redirects are never followed: a captive portal, a wrong URL), any other
  4xx, a certificate not accepted: the request cannot work as configured. Backs off slowly.
- `deadline`: no time was left to send (the logger's step ended). Nothing: the next step tries.
- `deferred`: the backoff said wait, nothing was sent. Nothing.
- `config`: the device's own files cannot make the request (a missing secret or CA). Backs off
  as refused.

Only an explicit refusal ends in needs provisioning, so a proxy, a portal or a broken server
can delay uploads but never make the device forget its credential.
"""

from tempnode.profiles import matches, rejects_token
from tempnode.redact import LinkError

OK = "ok"
TOKEN_REJECTED = "token_rejected"
CREDENTIAL_REFUSED = "credential_refused"
PENDING = "pending"
SLOW_DOWN = "slow_down"
TRANSIENT = "transient"
GARBAGE = "garbage"
REFUSED = "refused"
DEADLINE = "deadline"
DEFERRED = "deferred"
CONFIG = "config"

TOKEN = "token"
INGEST = "ingest"
DEVICE = "device"

# RFC 6749 §5.2 / RFC 8628 §3.5 error codes that say "later", whatever the status.
_TRANSIENT_ERRORS = ("temporarily_unavailable", "server_error")
_DEVICE_WAIT = {"authorization_pending": PENDING, "slow_down": SLOW_DOWN}

# http.HttpError kinds (no complete reply) -> outcome.
_NO_REPLY = {"tls": REFUSED, "protocol": GARBAGE, "too_large": GARBAGE, "deadline": DEADLINE}

_MEANING = {
    TOKEN_REJECTED: "the cloud rejected the access token",
    CREDENTIAL_REFUSED: "the cloud refused the credential",
    TRANSIENT: "the cloud is busy or unreachable",
    GARBAGE: "the cloud's reply cannot be used",
    REFUSED: "the cloud refused the request",
}
_HINT = {
    REFUSED: "check cloud.base_url and the endpoints, the client's permissions, and whether "
    "the network needs a sign-in page",
}


def classify(profile, endpoint, reply):
    """The outcome of a complete reply from `endpoint` (TOKEN, INGEST or DEVICE)."""
    status = reply.status
    if 200 <= status < 300:
        return OK
    if endpoint == INGEST and rejects_token(profile, reply):
        return TOKEN_REJECTED
    error = error_code(reply)
    if status >= 500 or status == 408 or status == 429 or error in _TRANSIENT_ERRORS:
        return TRANSIENT
    if endpoint == DEVICE and error in _DEVICE_WAIT and status == 400:
        return _DEVICE_WAIT[error]
    if endpoint != INGEST and error and 400 <= status < 500 and matches(profile["refused"], reply):
        return CREDENTIAL_REFUSED
    return REFUSED


def of_error_kind(kind):
    """The outcome of a failure without a complete reply (an `http.HttpError` kind)."""
    return _NO_REPLY.get(kind, TRANSIENT)


def error_code(reply):
    """The error a reply's JSON body names (`error`, or Speckle's `err`), or None."""
    body = reply.json()
    if not isinstance(body, dict):
        return None
    error = body.get("error") or body.get("err")
    return error if isinstance(error, str) else None


def failure(outcome, what, reply):
    """The one-line `LinkError` for a reply with a bad `outcome`, from step `what`."""
    message = "%s: %s (%s)" % (what, _MEANING.get(outcome, outcome), reason(reply))
    hint = _HINT.get(outcome)
    if hint:
        message += "; " + hint
    return LinkError(message, outcome, reply.retry_after_ms())


def reason(reply):
    """'HTTP 401 invalid_token' or 'HTTP 302 to https://...' for messages."""
    text = "HTTP %d" % reply.status
    error = error_code(reply)
    if error:
        text += " " + error[:80]
    location = reply.header("location")
    if 300 <= reply.status < 400 and location:
        text += " to " + location[:80]
    return text
