"""The one redaction point: console lines and error messages pass through here; secrets never do.

Every secret the cloud link handles (access and refresh tokens, client secrets, device codes)
is registered with `secret(value)` the moment it is read from flash or received from the cloud.
`scrub(text)` replaces each registered value found in `text` by `***`; `log(message)` prints
one console line `tempnode: <message>` after scrubbing it; `LinkError` scrubs its message when
it is raised. So a message that quotes a server's reply, a URL or a request body cannot carry a
token to the console, the REPL or a traceback.

Only the most recent `_KEPT` secrets are remembered (a long-running device renews thousands of
times and the heap is small); older ones are no longer in use. Values shorter than `_MIN_LEN`
are not registered: they could not be a token, and masking them would mangle ordinary words.
"""

from micropython import const

_KEPT = const(12)
_MIN_LEN = const(8)
_MASK = "***"

_secrets = []


def secret(value):
    """Remember `value` as a secret; return it unchanged (so `x = secret(reply[...])` reads)."""
    if isinstance(value, str) and len(value) >= _MIN_LEN and value not in _secrets:
        if len(_secrets) >= _KEPT:
            _secrets.pop(0)
        _secrets.append(value)
    return value


def scrub(text):
    """`text` with every registered secret replaced by `***`."""
    for value in _secrets:
        if value in text:
            text = text.replace(value, _MASK)
    return text


def log(message):
    """Print one console line about a cloud-link event."""
    print("tempnode: " + scrub(message))


def print_exception(error):
    """An exception's traceback on the console, scrubbed of secrets like every console line."""
    import io
    import sys

    trace = io.StringIO()
    sys.print_exception(error, trace)  # pyright: ignore[reportArgumentType]
    print(scrub(trace.getvalue()))  # pyright: ignore[reportAttributeAccessIssue]


class LinkError(Exception):
    """A cloud-link step failed; the message is one line, scrubbed of secrets.

    `outcome` says what kind of failure it was (`tempnode.outcomes`: "transient", "refused",
    "credential_refused", ...), which decides how long the link waits before trying again;
    `transient` is True when trying again soon may work; `retry_after_ms` is the wait the
    cloud asked for (Retry-After), if it did.
    """

    def __init__(self, message, outcome="transient", retry_after_ms=None):
        super().__init__(scrub(message))
        self.outcome = outcome
        self.retry_after_ms = retry_after_ms
        self.counted = False  # set once the cloud link's backoff has counted it

    @property
    def transient(self):
        return self.outcome in ("transient", "garbage", "deadline", "deferred")
