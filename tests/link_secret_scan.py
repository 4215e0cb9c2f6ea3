"""pytest plugin: every secret the cloud-link tests issue, checked against everything printed.

Registered by the link test modules (`pytest_plugins = ["link_secret_scan"]`). From then on it
keeps the text of every test report of the session (captured stdout, stderr and log sections,
failure tracebacks) and every line the dev cloud logs (its request log is switched on at INFO
if nothing configured it). Under pytest-xdist those modules and the scan are one group that one
worker runs: every test that hands out a secret prints in the session the scan reads.
The link tests register each secret they handle with `issued()`: client secrets and passwords
from the admin API, and every token and code the device registered with `tempnode.redact`
(the device logger `tests/device_scripts/link_run.py` writes them to `issued-secrets.txt`).
`test_link_secrets.py` runs last and looks for each secret in all of that text.
"""

import logging

import pytest

SCAN_TEST = "test_no_issued_secret_appears_in_any_output"
MIN_SECRET_LEN = 8

_issued = set()
_texts = []


class _Collect(logging.Handler):
    def emit(self, record):
        try:
            _texts.append(self.format(record))
        except Exception:  # noqa: BLE001 - a log record that cannot be formatted is skipped
            pass


def issued(*values):
    """Register secrets (strings) the tests handed out or the device received."""
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LEN:
            _issued.add(value)


def issued_secrets():
    return set(_issued)


def collected_texts():
    return list(_texts)


def add_text(text):
    _texts.append(text)


def pytest_configure(config):
    handler = _Collect(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    cloud_log = logging.getLogger("tempnode.cloud")
    cloud_log.addHandler(handler)
    if cloud_log.level == logging.NOTSET:
        cloud_log.setLevel(logging.INFO)  # the request log an operator of the cloud would see


def pytest_runtest_logreport(report):
    for _, content in report.sections:
        _texts.append(content)
    if report.longrepr is not None:
        _texts.append(report.longreprtext)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The scan runs after every other test, so it sees the whole suite's output. Under
    pytest-xdist (`--dist loadgroup`) the tests that issue secrets (the modules that name this
    plugin) and the scan form one group, run by one worker in this order."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and "link_secret_scan" in getattr(module, "pytest_plugins", ()):
            item.add_marker(pytest.mark.xdist_group("link-secrets"))
    last = [item for item in items if item.name == SCAN_TEST]
    items[:] = [item for item in items if item.name != SCAN_TEST] + last
