"""`tempnode sim`: the real firmware on the simulated board against the dev cloud, by scenario.

    tempnode sim boards/host/scenarios/demo.json

1. The dev cloud: the one serving from `--cloud-dir` (the folder every `tempnode cloud`
   command uses by default), else a new `tempnode cloud serve` there with the folder's
   virtual clock, left running so its dashboard stays up (`tempnode cloud stop` ends it).
2. A device is registered in the cloud with the scenario's dialect and token lifetimes; the
   device folder (config.json, secrets.json, the CA) is written, and the firmware is put on a
   fresh flash image exactly as on a real board: `tempnode deploy` and `tempnode provision`'s
   credential store, through mpremote, on the virtual board.
3. The board runs `firmware/` unmodified (`boards/host/launch.py`) in virtual time shared with
   the cloud; its console is shown live. A reset (deep sleep, watchdog, `machine.reset()`)
   restarts it, as the hardware would. The scenario's events happen at their virtual time:
   power cuts (SIGKILL: whatever the flash holds is what survives), cloud outages (503s in the
   cloud's own clock), revocations; a device-flow code the board prints is approved.
4. At the end, a census of the flash and of the cloud: readings taken, stored, still spooled,
   dropped, lost, duplicated; renewals; outages ridden out.

Scenario keys (JSON): `name`, `duration_s`, `seed`; `device` (`id`, `profile`, `access_ttl_s`,
`refresh_ttl_s`, `rotation`, `grace_s`); `config` (merged into config.json: intervals, labels);
`sensors`, `bus_faults` (the 1-Wire simulator, `boards/host/onewire_sim.py`); `wifi`,
`wifi_outages` (`boards/host/sim_wifi.py`); `cloud_outages`, `revocations`, `power_cuts` (here,
`{"from_s", "to_s"}` or `{"at_s"}`); `power_cut_writes` (the k-th boot loses power at that
block write: a campaign over every kind of write); `approve_device_flow` (default true).
"""

import importlib
import json
import os
import re
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from . import boards, build
from .cloud import process as cloud_process
from .cloud import running
from .cloud.admin_client import AdminClient
from .cloud.clock import ServerClock
from .cloud.command import VCLOCK_FILE
from .deploy import deploy
from .device import connect
from .errors import UserError
from .interrupt_line import InterruptLine
from .paths import BOARDS, BUILD, FIRMWARE, cloud_dir, data_home
from .provision import credential_from, store
from .virtual_board import LAUNCHER, VirtualBoard, micropython_binary

DEFAULT_SCENARIO = BOARDS / "host" / "scenarios" / "demo.json"
# The firmware as a board runs it (.mpy in RAM; 64-bit objects), plus what only the simulated
# board has: its hardware modules, the scenario and the bus model (a board's figures come from
# the 32-bit runs, README "Boards").
HEAPSIZE = "384k"
_USER_CODE = re.compile(r"enter the code (\S+)")
_POLL_S = 0.02
# A board publishes its clock lazily (boards/host/time.py: at most 1 s behind), so what a killed
# board had not published is lost; the power stays off longer than that, so virtual time
# never runs backwards across a power cut.
POWER_OFF_MS = 2000
_STOP_TIMEOUT_S = 10
_CRASH_LOOP = 5  # boots in a row that die with the interpreter's own error: give up

_SCENARIO_KEYS = {
    "name": str,
    "duration_s": int,
    "seed": int,
    "device": dict,
    "config": dict,
    "sensors": list,
    "bus_faults": list,
    "wifi": list,
    "wifi_outages": list,
    "cloud_outages": list,
    "revocations": list,
    "power_cuts": list,
    "power_cut_writes": list,
    "approve_device_flow": bool,
    "pins": dict,
}


def load_scenario(path):
    path = Path(path)
    try:
        scenario = json.loads(path.read_text())
    except OSError:
        raise UserError(f"no scenario file {path}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(scenario, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key, value in scenario.items():
        kind = _SCENARIO_KEYS.get(key)
        if kind is None:
            known = ", ".join(sorted(_SCENARIO_KEYS))
            raise UserError(f"{path}: unknown key {key!r}, expected one of {known}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserError(f"{path}: {key} is {value!r}, expected a {kind.__name__}")
    if scenario.get("duration_s", 0) <= 0:
        raise UserError(f"{path}: duration_s must be a positive number of seconds")
    return scenario


def windows(scenario, key):
    """[(from_s, to_s)] of a scenario's `key`; an `at_s` event is a zero-length window."""
    out = []
    for item in scenario.get(key, ()):
        start = item.get("from_s", item.get("at_s"))
        out.append((start, item.get("to_s", start)))
    return out


class VirtualClockFile:
    """The 8-byte offset file the board and the cloud share (boards/host/time.py); read as the
    dev cloud reads it."""

    def __init__(self, path):
        self.path = Path(path)
        self._reader = ServerClock(path)

    def now_ms(self):
        return int(time.time() * 1000) + self._reader.vclock_ms()

    def advance_ms(self, ms):
        """Move virtual time on while no board runs (a board that runs owns the file)."""
        self.path.write_bytes(struct.pack("<q", self._reader.vclock_ms() + ms))


def compiled_hardware():
    """The simulated board's hardware modules (`boards/host/*.py` but the boot ROM) as `.mpy`.
    On a board they are C and cost the Python heap nothing to load; from source, each boot
    would parse them in the heap the firmware runs in, and that parse's peak and the gaps it
    leaves would be the simulator's, not the firmware's."""
    board = boards.load_board("host")
    return build.compiled_modules(
        LAUNCHER.parent, BUILD / "host-hardware", board["mpy_arch"], skip=(LAUNCHER.name,)
    )


def start_cloud(data_dir, stop_after):
    """(CloudProcess or None, info): the cloud serving from `data_dir`, or a new one there
    (left running for its dashboard unless `stop_after`: it outlives this command then)."""
    info = running.running_info(data_dir)
    if info is not None:
        if not info.get("vclock"):
            raise UserError(
                f"the dev cloud serving from {data_dir} has no virtual clock for the "
                "simulator: stop it (`tempnode cloud stop`) and run again"
            )
        return None, info
    proc = cloud_process.spawn(data_dir, None, Path(data_dir) / VCLOCK_FILE, detach=not stop_after)
    return proc, proc.info


def host_board_module(name):
    """A simulated-board module that is plain data or runs under CPython too."""
    sys.path.insert(0, str(BOARDS / "host"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


resets = host_board_module("resets")  # exit statuses of the board process


def sensor_labels(scenario):
    """config.json `sensors` for the scenario's labelled sensors (their ROMs as the board
    will read them)."""
    onewire_sim = host_board_module("onewire_sim")
    labels = {}
    for index, spec in enumerate(scenario.get("sensors", ())):
        if "label" in spec:
            rom = onewire_sim.Device(spec, scenario.get("seed", 0) + index).rom_hex()
            labels[rom] = {"label": spec["label"], "resolution": spec.get("resolution", 12)}
    return labels


def write_device_folder(folder, scenario, info, registered):
    device = scenario.get("device", {})
    cloud = {
        "profile": device.get("profile", "oauth2"),
        "base_url": info["url"],
        "ca": "ca.der",
        "client_id": registered["client_id"],
    }
    for key in ("org", "app", "app_id"):
        if registered.get(key):
            cloud[key] = registered[key]
    wifi = scenario.get("wifi") or [{"ssid": "sim-wifi", "password": "sim-wifi-password"}]
    config = {
        "device_id": registered["device_id"],
        "board": "host",
        "wifi": [{"ssid": net["ssid"]} for net in wifi],
        "cloud": cloud,
        "sensors": sensor_labels(scenario),
    }
    config.update(scenario.get("config", {}))
    secrets = {"wifi": {net["ssid"]: net.get("password", "") for net in wifi}}
    if registered.get("client_secret"):
        secrets["client_secret"] = registered["client_secret"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "secrets.json").write_text(json.dumps(secrets))
    (folder / "secrets.json").chmod(0o600)
    shutil.copyfile(info["ca_der"], folder / "ca.der")
    return config


def install(work, folder, flash_image, credential):
    """Put the firmware, config, secrets and credential on a blank flash image, the way a real
    board gets them: deploy and provision over mpremote (here on the virtual board)."""
    with VirtualBoard(work / "install", flash_image) as board:
        deploy(folder, board.port, reset=False)
        with connect(board.port) as device:
            store(device, credential)


class Run:
    """One scenario run: the board process, its console, the events, the census. `board` is
    (interpreter, heap size) for the board's process: the venv's 64-bit `micropython` and
    `HEAPSIZE` unless a test gives a 32-bit one and a board's budget."""

    def __init__(self, scenario, work, cloud_info, device_id, out=print, admin=None, board=None):
        self.scenario = scenario
        self.board = board or (micropython_binary(), HEAPSIZE)
        self.work = work
        self.cloud_info = cloud_info
        self.device_id = device_id
        self.out = out
        # What the run asks of the cloud (approvals, outages, the census) goes through `admin`:
        # the dev cloud's admin API, or a test's own cloud with the same methods.
        self.admin = admin or AdminClient(
            cloud_info["url"],
            Path(cloud_info["admin_key_file"]).read_text().strip(),
            cloud_info["ca_pem"],
        )
        self.clock = VirtualClockFile(cloud_info["vclock"])
        self.t0_ms = self.clock.now_ms()
        self.end_ms = self.t0_ms + scenario["duration_s"] * 1000
        self.flash = work / "flash.img"
        self._interrupt = InterruptLine(work / "interrupt-line")
        self.boots = 0
        self.resets = {}
        self.console = []
        self.approved = []
        self.crashes_in_a_row = 0
        self._cuts_at_write = list(scenario.get("power_cut_writes", ()))
        self._events = sorted(
            [(at, "power_cut") for at, _ in windows(scenario, "power_cuts")]
            + [(at, "revoke") for at, _ in windows(scenario, "revocations")]
        )

    def schedule_cloud_outages(self):
        for start, end in windows(self.scenario, "cloud_outages"):
            self.admin.add_fault(
                "any",
                "status",
                status=503,
                **{"from": self.t0_ms / 1000 + start, "until": self.t0_ms / 1000 + end},
            )

    def virtual_s(self):
        return (self.clock.now_ms() - self.t0_ms) / 1000

    def _next_boot_env(self):
        scenario_file = self.work / "scenario.json"
        hardware = compiled_hardware()
        env = {}
        if self._cuts_at_write:
            env["TEMPNODE_POWER_CUT_AT_WRITE"] = str(self._cuts_at_write.pop(0))
        return env | {
            "TEMPNODE_FLASH": str(self.flash),
            "TEMPNODE_SCENARIO": str(scenario_file),
            "TEMPNODE_SCENARIO_T0_MS": str(self.t0_ms),
            "TEMPNODE_VCLOCK_UNTIL_MS": str(self.end_ms),
            "TEMPNODE_VCLOCK": self.cloud_info["vclock"],
            "TEMPNODE_HARDWARE_MPY": str(hardware),
            "MICROPYPATH": f"{hardware}:{LAUNCHER.parent}",
            **self._interrupt.env,
        }

    def run(self):
        (self.work / "scenario.json").write_text(json.dumps(self.scenario))
        self.schedule_cloud_outages()
        while self.virtual_s() < self.scenario["duration_s"]:
            status = self._boot()
            if status is None:
                break  # the scenario's time is up
            if status == 0:
                self.out("sim: the board stopped at its REPL (see its last lines); ending the run")
                break
            if status == 1:
                self.crashes_in_a_row += 1
                if self.crashes_in_a_row >= _CRASH_LOOP:
                    raise UserError("the firmware crashed at every boot: see the console above")
            else:
                self.crashes_in_a_row = 0
        return self.census()

    def _boot(self):
        """Run one boot; its exit status, or None when the scenario ended during it."""
        self.boots += 1
        interpreter, heapsize = self.board
        proc = subprocess.Popen(
            [interpreter, "-X", f"heapsize={heapsize}", str(LAUNCHER)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.work,
            env=dict(os.environ, **self._next_boot_env()),
        )
        os.set_blocking(proc.stdout.fileno(), False)
        pending = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                for _ in sel.select(_POLL_S):
                    chunk = proc.stdout.read() or b""
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._console(line.decode(errors="replace").rstrip("\r"))
                if proc.poll() is not None:
                    rest = (pending + (proc.stdout.read() or b"")).decode(errors="replace")
                    for line in rest.splitlines():
                        self._console(line)
                    self._note_exit(proc.returncode)
                    return proc.returncode
                now_s = self.virtual_s()
                if now_s >= self.scenario["duration_s"]:
                    self._stop(proc)
                    return None
                if self._events and self._events[0][0] <= now_s:
                    _, what = self._events.pop(0)
                    if what == "power_cut":
                        self.out(f"sim: [{_stamp(now_s)}] POWER CUT")
                        self._kill(proc)
                        self.clock.advance_ms(POWER_OFF_MS)
                        # The RTC domain loses power too, even if the board was in deep
                        # sleep (its RTC memory already written for the wake).
                        Path(f"{self.flash}.rtc").unlink(missing_ok=True)
                        self.resets["power_cut"] = self.resets.get("power_cut", 0) + 1
                        return resets.exit_status(resets.PWRON_RESET)
                    revoked = self.admin.revoke(self.device_id)
                    self.out(f"sim: [{_stamp(now_s)}] the cloud revoked {revoked} token(s)")

    def _stop(self, proc):
        """The end of the run: Ctrl-C, as a person at the console would. The logger closes
        everything and returns to the REPL, which ends at its closed input; the board then
        writes its counts. A board that does not stop in time is cut off."""
        self._interrupt.interrupt(proc)
        try:
            out, _ = proc.communicate(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            return
        for line in out.decode(errors="replace").splitlines():
            self._console(line)

    def _kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()

    def _note_exit(self, status):
        if status > resets.EXIT_BASE:
            what = resets.EVENTS.get(status - resets.EXIT_BASE, str(status))
            self.resets[what] = self.resets.get(what, 0) + 1

    def _console(self, line):
        self.console.append(line)
        self.out(f"[{_stamp(self.virtual_s())}] {line}")
        match = _USER_CODE.search(line)
        if match and self.scenario.get("approve_device_flow", True):
            self.admin.approve(match.group(1))
            self.approved.append(match.group(1))
            self.out(f"sim: [{_stamp(self.virtual_s())}] a person approved the code in a browser")

    def census(self):
        spool = spool_census(self.work, self.flash)
        stored = self.admin.readings(self.device_id)
        seqs = [r["seq"] for r in stored]
        taken = spool["taken"]
        stamped = [(r["sensor"], r.get("t")) for r in stored if r.get("t") is not None]
        events = self.admin.events(self.device_id)
        kinds = {}
        for event in events:
            kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
        return {
            "device_id": self.device_id,
            "virtual_s": round(self.virtual_s()),
            "boots": self.boots,
            "resets": self.resets,
            "taken": taken,
            "stored": len(set(seqs)),
            "spooled": spool["depth"],
            "dropped": spool["dropped"],
            "lost": taken - len(set(seqs)) - spool["depth"] - spool["dropped"],
            "stored_twice": len(seqs) - len(set(seqs)),
            "same_reading_two_seqs": len(stamped) - len(set(stamped)),
            "stored_without_time": len(stored) - len(stamped),
            "token_events": kinds,
            "device_flow_approvals": len(self.approved),
            "wifi_outages": len(windows(self.scenario, "wifi_outages")),
            "cloud_outages": len(windows(self.scenario, "cloud_outages")),
        }


SPOOL_CENSUS = """
import json, sys, vfs
sys.path[:0] = [{firmware!r}, {board!r}]
from sim_flash import SimFlash
from tempnode.clock import Clock
from tempnode.spool import Spool
flash = SimFlash.open({image!r}, 4096, {blocks})
vfs.mount(vfs.VfsLfs2(flash), "/flash")
import os
os.chdir("/flash")
config = json.load(open("config.json"))
spool = Spool("spool", config.get("spool_capacity", 10000), Clock())
print(json.dumps({{"taken": spool.taken(), "depth": spool.depth(), "dropped": spool.dropped()}}))
"""


def spool_census(work, image):
    """What the flash's spool holds now, read by the firmware's own Spool under MicroPython."""
    blocks = boards.load_board("host")["filesystem_kb"] * 1024 // 4096
    code = SPOOL_CENSUS.format(
        firmware=str(FIRMWARE), board=str(BOARDS / "host"), image=str(image), blocks=blocks
    )
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=512k", "-c", code],
        capture_output=True,
        text=True,
        cwd=work,
        env=dict(os.environ, MICROPYPATH=str(LAUNCHER.parent)),
        timeout=60,
    )
    if proc.returncode != 0:
        raise UserError(f"could not read the board's spool: {proc.stdout}{proc.stderr}".strip())
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    return facts


def format_summary(facts, dashboard):
    lines = [
        "",
        "=== tempnode sim: summary ===",
        f"virtual time      {_stamp(facts['virtual_s'])} in {facts['run_wall_s']} s of wall time, "
        f"{facts['boots']} boot(s); resets: "
        + (", ".join(f"{k} {v}" for k, v in sorted(facts["resets"].items())) or "none"),
        f"device            {facts['device_id']} (`tempnode cloud readings {facts['device_id']}`)",
        f"readings taken    {facts['taken']}",
        f"stored in cloud   {facts['stored']}",
        f"still spooled     {facts['spooled']} (sent at the next upload)",
        f"dropped           {facts['dropped']} (spool full)",
        f"lost              {facts['lost']}",
        f"duplicated        {facts['stored_twice'] + facts['same_reading_two_seqs']}",
        f"without a time    {facts['stored_without_time']} (taken before the clock was known)",
        "token events      "
        + ", ".join(f"{k} {v}" for k, v in sorted(facts["token_events"].items())),
        f"device flow       {facts['device_flow_approvals']} code(s) approved",
        f"outages ridden    Wi-Fi {facts['wifi_outages']}, cloud {facts['cloud_outages']}",
        f"dashboard         {dashboard}",
    ]
    return "\n".join(lines)


def _stamp(seconds):
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    return f"d{days} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def simulate(scenario_path, work_dir, cloud_dir, stop_cloud=False, out=print):
    scenario = load_scenario(scenario_path)
    work = Path(work_dir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cloud_proc, info = start_cloud(cloud_dir, stop_cloud)
    try:
        admin = AdminClient(
            info["url"], Path(info["admin_key_file"]).read_text().strip(), info["ca_pem"]
        )
        device = dict(scenario.get("device", {}))
        device_id = device.pop("id", "sim-logger") + f"-{int(time.time())}"
        registered = admin.create_device(device_id, device.pop("profile", "oauth2"), **device)
        folder = work / "device"
        write_device_folder(folder, scenario, info, registered)
        out(f"sim: installing the firmware on a fresh simulated board ({device_id})")
        install(work, folder, work / "flash.img", credential_from(registered["credential"]))
        name = scenario.get("name", scenario_path)
        out(f"sim: running {name} for {_stamp(scenario['duration_s'])} of virtual time")
        started = time.monotonic()
        facts = Run(scenario, work, info, device_id, out).run()
        facts["run_wall_s"] = round(time.monotonic() - started, 1)
    finally:
        stopped = cloud_proc is not None and stop_cloud
        if stopped:
            cloud_proc.stop()
    dashboard = "(the dev cloud this run started is stopped)" if stopped else info["dashboard"]
    out(format_summary(facts, dashboard))
    if not stopped:
        out(f"\nthe dev cloud keeps running (pid {info['pid']}): `tempnode cloud stop` stops it")
    if shutil.which("tempnode") is None:
        out(
            f"`tempnode` is {Path(sys.executable).with_name('tempnode')}: "
            "`source .venv/bin/activate` puts it on your PATH"
        )
    return facts


def run(args):
    facts = simulate(args.scenario, args.work_dir, args.cloud_dir, args.stop_cloud)
    return 1 if facts["lost"] or facts["stored_twice"] or facts["same_reading_two_seqs"] else 0


def register(subparsers):
    p = subparsers.add_parser("sim", help="run the firmware on the simulated board (a scenario)")
    p.add_argument("scenario", nargs="?", default=str(DEFAULT_SCENARIO), help="scenario JSON")
    work, data = data_home() / "sim", cloud_dir()
    p.add_argument("--work-dir", default=str(work), help=f"board files (default {work})")
    p.add_argument("--cloud-dir", default=str(data), help=f"the dev cloud's data (default {data})")
    p.add_argument("--stop-cloud", action="store_true", help="stop a cloud this run started")
    p.set_defaults(func=run)
