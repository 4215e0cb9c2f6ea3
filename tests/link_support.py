"""Helpers for the cloud-link end-to-end tests: a device folder for a device of a cloud (the dev
cloud, or a standard OpenID Connect server: `cloud_for`), and the logger
`tests/device_scripts/link_run.py` run by the real `micropython` against it.

    device = LinkDevice.create(tmp_path, dev_cloud, "oauth2", access_ttl_s=2)
    run = device.run({"steps": [{"do": "upload", "count": 10, "every_ms": 500}]})
    run.summary["kept"], run.console  # what the device still holds, its `tempnode:` lines

Every secret involved is registered with the secret scan (`link_secret_scan.issued`), and
every run's output is printed, so the scan sees it as part of the suite's output.
"""

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from micropython_harness import micropython_binary

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "tests" / "device_scripts"
YEAR_S = 365 * 86400


def issued(*values):
    # Imported here, not at the top: pytest must import the plugin first to load it as one.
    import link_secret_scan

    link_secret_scan.issued(*values)


@dataclass
class Run:
    output: str
    returncode: int
    summary: dict = field(default_factory=dict)

    @property
    def lines(self):
        return self.output.splitlines()

    @property
    def console(self):
        """The link's own console lines (`tempnode: ...`), without the logger's stamps."""
        return [line.split("] ", 1)[-1] for line in self.lines if "tempnode: " in line]

    def count(self, text):
        return sum(text in line for line in self.lines)


@dataclass
class LinkDevice:
    folder: Path
    cloud: object  # tests/cloud_fixtures.py DevCloudHandle
    info: dict = field(repr=False)  # the admin API's reply: ids, secrets, credential
    env: dict = field(default_factory=dict)

    @classmethod
    def create(cls, tmp_path, cloud, profile, device_id=None, **options):
        device_id = device_id or f"logger-{profile}"
        if profile == "usergrid":
            options = {"org": "acme", "app": "farm", **options}
        info = cloud.admin.create_device(device_id, profile=profile, **options)
        folder = tmp_path / device_id
        folder.mkdir(parents=True)
        device = cls(folder, cloud, info)
        device.write_files()
        return device

    def write_files(self):
        info = self.info
        profile = info["profile"]
        cloud = {
            "profile": profile,
            "base_url": self.cloud.base_url,
            "ca": "ca.der",
            "client_id": info["client_id"],
        }
        cloud.update({k: info[k] for k in ("org", "app") if k in info})
        cloud.update(info.get("cloud_config", {}))  # a cloud's own endpoints and options
        if profile == "speckle":
            cloud["app_id"] = info["client_id"]
        secrets = {"client_secret": info["client_secret"]} if info.get("client_secret") else {}
        if profile == "speckle":
            secrets = {"app_secret": info["client_secret"]}
        issued(info["client_secret"], info.get("password"))
        self.write_json("config.json", {"device_id": info["device_id"], "cloud": cloud})
        self.write_json("secrets.json", secrets)
        if "credential" in info:  # none yet: a device flow on the device gets it
            self.write_json("credential.json", self.host_credential())
        (self.folder / "ca.der").write_bytes(Path(self.cloud.ca_der_path).read_bytes())

    def host_credential(self):
        """credential.json as the host tools write it from a provisioned token reply."""
        info, reply = self.info, self.info["credential"]
        issued(reply.get("access_token"), reply.get("refresh_token"))
        if info["profile"] == "usergrid":
            return {
                "kind": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            }
        if "refresh_token" in reply:
            return {"kind": "refresh_token", "refresh_token": reply["refresh_token"]}
        return {"kind": "access_token", "access_token": reply["access_token"]}

    def write_json(self, name, obj):
        (self.folder / name).write_text(json.dumps(obj))

    def read_json(self, name):
        return json.loads((self.folder / name).read_text())

    def command(self, heapsize="256k"):
        return [micropython_binary(), "-X", f"heapsize={heapsize}", str(SCRIPTS / "link_run.py")]

    def environment(self, **extra):
        path = os.pathsep.join(str(p) for p in (SCRIPTS, REPO / "firmware", REPO / "boards/host"))
        env = dict(os.environ, MICROPYPATH=path, TEMPNODE_VCLOCK=str(self.cloud.vclock_path))
        env.update(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, plan, timeout=120, **env):
        """Run the logger to its end; return a `Run` (its summary parsed)."""
        self.write_json("plan.json", plan)
        proc = subprocess.run(
            self.command(),
            cwd=self.folder,
            env=self.environment(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return self.finish(proc.stdout + proc.stderr, proc.returncode)

    def spawn(self, plan, **env):
        """Start the logger and return the Popen (stdout piped, line-buffered text)."""
        self.write_json("plan.json", plan)
        return subprocess.Popen(
            self.command(),
            cwd=self.folder,
            env=self.environment(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )

    def run_approving(self, plan, timeout=60):
        """Run the logger and approve each device-flow code it prints, as a person would."""
        proc = self.spawn(plan)
        output = []
        for line in proc.stdout:
            output.append(line)
            code = re.search(r"enter the code (\S+)", line)
            if code:
                self.cloud.admin.approve(code.group(1))
        proc.wait(timeout=timeout)
        return self.finish("".join(output), proc.returncode)

    def finish(self, output, returncode):
        """Record what a run printed and received; parse its summary."""
        print(f"--- device {self.info['device_id']} (exit {returncode}) ---\n{output}")
        self.register_issued()
        run = Run(output, returncode)
        for line in run.lines:
            if line.startswith("SUMMARY "):
                run.summary = json.loads(line[len("SUMMARY ") :])
        return run

    def register_issued(self):
        path = self.folder / "issued-secrets.txt"
        if path.exists():
            issued(*path.read_text().split())
        credential = self.folder / "credential.json"
        if credential.exists():
            try:
                data = json.loads(credential.read_text())
            except ValueError:
                return
            issued(*(data.get(k) for k in ("access_token", "refresh_token", "client_secret")))

    def readings(self):
        return self.cloud.admin.readings(self.info["device_id"])

    def stored_seqs(self):
        return sorted(r["seq"] for r in self.readings())

    def events(self, kind=None):
        return self.cloud.admin.events(self.info["device_id"], kind=kind)


def cloud_for(request, server, **options):
    """The cloud a link test runs against: "dev cloud" (tests/cloud_fixtures.py; options are
    per device), or "oidc-provider", a standard OpenID Connect server and a readings API on
    another host (tests/oidc_cloud.py), started with `options`."""
    if server == "dev cloud":
        return request.getfixturevalue("dev_cloud")
    return request.getfixturevalue("oidc_cloud")(**options)


def uploads(count, every_ms=500, size=1, **options):
    return {"do": "upload", "count": count, "every_ms": every_ms, "size": size, **options}
