# A small logger driving the cloud link, run by the CPython link tests under MicroPython.
#
# It reads `plan.json` from the current directory (the device's files are there too:
# config.json, secrets.json, credential.json, the CA) and runs its steps in order:
#   {"do": "upload", "count": N, "every_ms": MS, "size": K, "deadline_ms": D, "close": true}
#       N rounds: sample K readings, upload everything not yet confirmed, sleep MS
#       (virtual time); "close" ends the upload session after each round.
#   {"do": "provision"}      the device flow, as tempnode.provision() will run it
#   {"do": "renew", "count": N}    N forced renewals in one session (the kill campaign)
#   {"do": "show"}           print the link's repr and status, as at the REPL
# Unconfirmed readings and the last seq are kept in logger-state.json between runs, as a
# spool keeps them across a reboot. It prints "ready" once the link is set up, the link's
# console lines as they happen, one line per failed upload ("upload failed: ..."), and at
# the end one line "SUMMARY <json>": readings taken, seqs still kept, renewals, TLS
# handshakes, and the link's status. Every secret the firmware registers with
# `tempnode.redact` is appended to `issued-secrets.txt` for the secret scan.
import json
import sys
import time

from tempnode import atomic, redact
from tempnode.clock import Clock
from tempnode.cloud_link import CloudLink
from tempnode.redact import LinkError

_register = redact.secret


def recording_secret(value):
    # Test hook: every secret the firmware registers is also noted for the secret scan.
    if isinstance(value, str) and len(value) >= 8:
        with open("issued-secrets.txt", "a") as f:
            f.write(value + "\n")
    return _register(value)


redact.secret = recording_secret


def load(name):
    with open(name) as f:
        return json.loads(f.read())


def stamp(line):
    print("[%d] %s" % (CLOCK.monotonic_ms(), line))


CLOCK = Clock()
plan = load("plan.json")
link = CloudLink(load("config.json"), load("secrets.json"), CLOCK, ".")
# Readings not confirmed yet (what a spool would hold) and the last seq, kept across runs.
# Written atomically: the kill campaign may stop this process in the middle of the write.
state = atomic.read_json("logger-state.json") or {"kept": [], "taken": 0}
kept = state["kept"]
taken = state["taken"]
failures = 0


def sample(count):
    global taken
    for _ in range(count):
        taken += 1
        kept.append(
            {
                "seq": taken,
                "sensor": "28ff4a1b02170345",
                "label": "tank",
                "mono_ms": CLOCK.monotonic_ms(),
                "c": 20 + taken % 50 / 10,
            }
        )


def upload_round(step):
    global kept, failures
    deadline = CLOCK.monotonic_ms() + step.get("deadline_ms", 10000)
    batch = kept[:50]
    try:
        confirmed = link.upload(batch, deadline)
    except LinkError as e:
        failures += 1
        stamp("upload failed: %s" % e)
        return
    finally:
        if step.get("close", True):
            link.close()
    done = set(confirmed)
    kept = [r for r in kept if r["seq"] not in done]
    stamp("uploaded %d of %d" % (len(done), len(batch)))


def renew(step):
    try:
        for n in range(step["count"]):
            link.tokens.renew(link.session, CLOCK.monotonic_ms() + 10000)
            print("renewed %d" % (n + 1))
    except LinkError as e:
        stamp("renew failed: %s" % e)
    link.close()


print("ready")
for step in plan["steps"]:
    if step["do"] == "upload":
        for _ in range(step["count"]):
            sample(step.get("size", 1))
            upload_round(step)
            CLOCK.sleep_ms(step.get("every_ms", 0))
    elif step["do"] == "provision":
        try:
            link.provision(CLOCK.monotonic_ms() + step.get("deadline_ms", 600000))
        except LinkError as e:
            stamp("provision failed: %s" % e)
    elif step["do"] == "renew":
        renew(step)
    elif step["do"] == "show":  # what a person at the REPL would see
        print(repr(link), repr(link.store), repr(link.tokens), link.status())

atomic.write_json("logger-state.json", {"kept": kept, "taken": taken})
summary = {
    "taken": taken,
    "kept": [r["seq"] for r in kept],
    "failures": failures,
    "renewals": link.tokens.renewals,
    "handshakes": link.session.connections,
    "requests": link.session.requests,
    "status": link.status(),
    "rtc": time.time(),
}
print("SUMMARY " + json.dumps(summary))
sys.exit(0)
