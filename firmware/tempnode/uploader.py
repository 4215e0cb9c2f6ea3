"""Uploads: a batch of readings in the profile's request shape, and exactly which seqs are stored.

    uploader = Uploader(profile, cloud, device_id, tokens, clock)
    confirmed = uploader.post(session, readings, dropped, deadline_ms)

`readings` are dicts in the README's wire form (`seq`, `sensor`, `label`, `t` or `mono_ms`,
`c` or `error`). The batch is `{"device", "sent_mono_ms", "dropped", "readings"}`, sent as JSON
or as a Particle event form (`name=tempnode/readings&data=<batch JSON>&private=true`), at most
`_BATCH_MAX` bytes, and encoded while it is sent: no copy of it is ever held in memory.
`post` returns the seqs the cloud says it stored (`{"stored": [...]}`), only those that were in
this batch; a profile whose cloud answers a bare 2xx (`ack` "2xx") takes a success as "all
stored". Anything else raises `LinkError`, and the caller keeps every reading: nothing is
forgotten that the cloud did not confirm.

An access token the cloud rejects (the profile's "expired" rules) is renewed once and the
batch sent once more, with a fresh `sent_mono_ms` (the cloud converts `mono_ms` stamps with it).
"""

import json

from micropython import const

from tempnode.http import FormEncoder, measure
from tempnode.profiles import expand_path, rejects_token
from tempnode.redact import LinkError

_BATCH_MAX = const(65536)


class Uploader:
    def __init__(self, profile, cloud, device_id, tokens, clock):
        self.profile = profile
        self.path = expand_path(profile["ingest_path"], cloud)
        self.device_id = device_id
        self.tokens = tokens
        self.clock = clock
        self.facts = {}  # more fields for every batch: the firmware version (tempnode.ota)

    def post(self, session, readings, dropped, deadline_ms):
        """Send `readings`; return the list of their seqs the cloud stored."""
        token = self.tokens.token(session, deadline_ms)
        reply = self._send(session, token, readings, dropped, deadline_ms)
        if rejects_token(self.profile, reply):
            self.tokens.rejected(session, token, deadline_ms)
            token = self.tokens.token(session, deadline_ms)
            reply = self._send(session, token, readings, dropped, deadline_ms)
            if rejects_token(self.profile, reply):
                raise LinkError(
                    "the cloud rejected a just-renewed access token (%s)" % (_reason(reply))
                )
        return self._confirmed(reply, readings)

    def _send(self, session, token, readings, dropped, deadline_ms):
        batch = {
            "device": self.device_id,
            "sent_mono_ms": self.clock.monotonic_ms(),
            "dropped": dropped,
            "readings": readings,
        }
        batch.update(self.facts)
        body = _Body(batch, self.profile["ingest_body"] == "particle_event")
        if len(body) > _BATCH_MAX:
            raise LinkError(
                "a batch of %d readings is %d bytes, over the %d byte limit: send fewer at once"
                % (len(readings), len(body), _BATCH_MAX),
                False,
            )
        kind = "application/x-www-form-urlencoded" if body.form else "application/json"
        headers = {"Authorization": "Bearer " + token, "Content-Type": kind}
        return session.request("POST", self.path, body, deadline_ms, headers)

    def _confirmed(self, reply, readings):
        status = reply.status
        if status == 429 or status >= 500:
            raise LinkError(
                "the cloud is busy (%s)" % _reason(reply), True, reply.retry_after_ms()
            )
        if not 200 <= status < 300:
            raise LinkError("the cloud refused the batch (%s)" % _reason(reply), False)
        body = reply.json()
        stored = body.get("stored") if isinstance(body, dict) else None
        if isinstance(stored, list):
            sent = set(r["seq"] for r in readings)
            return [seq for seq in stored if seq in sent]
        if self.profile["ack"] == "2xx":
            return [r["seq"] for r in readings]
        raise LinkError("the cloud's reply does not list the stored readings (HTTP %d)" % status)


class _Body:
    """The batch, encoded while it is sent (`http.Session.request`'s streamed body): no copy
    of the JSON is held in memory, only the readings themselves."""

    def __init__(self, batch, form):
        self.batch = batch
        self.form = form
        self.size = measure(self)

    def __len__(self):
        return self.size

    def write_to(self, stream):
        if not self.form:
            json.dump(self.batch, stream)
            return
        stream.write("name=tempnode%2Freadings&data=")
        json.dump(self.batch, FormEncoder(stream))
        stream.write("&private=true")


def _reason(reply):
    """'401 invalid_token' from a reply's status and error fields, for messages."""
    body = reply.json()
    error = body.get("error") or body.get("err") if isinstance(body, dict) else None
    return "%d %s" % (reply.status, error) if error else "HTTP %d" % reply.status
