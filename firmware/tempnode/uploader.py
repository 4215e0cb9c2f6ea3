"""Uploads: a batch of readings in the profile's request shape, and exactly which seqs are stored.

    uploader = Uploader(profile, device_id, tokens, clock)
    confirmed = uploader.post(session, readings, dropped, deadline_ms)

`readings` are dicts in the README's wire form (`seq`, `sensor`, `label`, `t` or `mono_ms`,
`c` or `error`). The batch is `{"device", "sent_mono_ms", "dropped", "readings"}`, sent as JSON
or as a Particle event form (`name=tempnode/readings&data=<batch JSON>&private=true`), at most
`_BATCH_MAX` bytes, and encoded while it is sent: no copy of it is ever held in memory.
`post` returns the seqs the cloud says it stored (`{"stored": [...]}`), only those that were in
this batch; a profile whose cloud answers a bare 2xx (`ack` "2xx") takes a success as "all
stored". Anything else raises `LinkError` with the reply's outcome (`tempnode.outcomes`), and
the caller keeps every reading: nothing is forgotten that the cloud did not confirm. A 2xx
that does not say what was stored is "garbage": the link backs off rather than resending the
batch at once.

An access token the cloud rejects (the profile's "expired" rules) is renewed once and the
batch sent once more, with a fresh `sent_mono_ms` (the cloud converts `mono_ms` stamps with it).
"""

import json

from micropython import const

from tempnode import outcomes
from tempnode.http import FormEncoder, measure
from tempnode.redact import LinkError

_BATCH_MAX = const(65536)
_ACK_FIELDS = ("stored",)


class Uploader:
    def __init__(self, profile, device_id, tokens, clock):
        self.profile = profile
        self.target = profile["readings_url"]
        self.device_id = device_id
        self.tokens = tokens
        self.clock = clock
        self.facts = {}  # more fields for every batch: the firmware version (tempnode.ota)

    def post(self, session, readings, dropped, deadline_ms):
        """Send `readings`; return the list of their seqs the cloud stored."""
        form = self.profile["readings_body"] == "particle_event"
        kind = "application/x-www-form-urlencoded" if form else "application/json"

        def body_for():  # each try says when it was sent (the cloud converts mono_ms with it)
            batch = {
                "device": self.device_id,
                "sent_mono_ms": self.clock.monotonic_ms(),
                "dropped": dropped,
                "readings": readings,
            }
            batch.update(self.facts)
            body = _Body(batch, form)
            if len(body) > _BATCH_MAX:
                raise LinkError(
                    "a batch of %d readings is %d bytes, over the %d byte limit: send fewer at "
                    "once" % (len(readings), len(body), _BATCH_MAX),
                    outcomes.CONFIG,
                )
            return body

        reply, outcome = self.tokens.resource(
            session,
            "POST",
            self.target,
            body_for,
            deadline_ms,
            {"Content-Type": kind},
            fields=_ACK_FIELDS,
        )
        if outcome != outcomes.OK:
            raise outcomes.failure(outcome, "upload", reply)
        return self._confirmed(reply, readings)

    def _confirmed(self, reply, readings):
        body = reply.json()
        stored = body.get("stored") if isinstance(body, dict) else None
        if isinstance(stored, list):
            sent = set(r["seq"] for r in readings)
            return [seq for seq in stored if seq in sent]
        if self.profile["ack"] == "2xx":
            return [r["seq"] for r in readings]
        raise LinkError(
            "upload: the cloud's reply does not list the stored readings (%s)"
            % outcomes.reason(reply),
            outcomes.GARBAGE,
        )


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
