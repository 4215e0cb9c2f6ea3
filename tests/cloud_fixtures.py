"""pytest fixtures for the local dev cloud (registered in conftest.py's `pytest_plugins`).

`dev_cloud`: a fresh dev cloud per test, served over HTTPS on a loopback port from a thread of
the test process, with an in-memory database. Yields a `DevCloudHandle`:

    dev_cloud.base_url        https://localhost:PORT
    dev_cloud.ca_der_path     the CA a device loads (DER); .ca_pem_path for CPython clients
    dev_cloud.vclock_path     virtual-clock file: pass it as TEMPNODE_VCLOCK to micropython
    dev_cloud.admin           host_tools.cloud.admin_client.AdminClient
    dev_cloud.session()       a requests.Session that trusts only the dev cloud's CA
    dev_cloud.url("/path")

`dev_cloud_process`: a factory that starts `tempnode cloud serve` as a subprocess (for tests
that need the cloud outside the test process); each one is stopped after the test.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from host_tools.cloud import app, process
from host_tools.cloud.admin_client import AdminClient


@dataclass
class DevCloudHandle:
    base_url: str
    ca_der_path: Path
    ca_pem_path: Path
    vclock_path: Path
    data_dir: Path
    admin: AdminClient
    running: object  # host_tools.cloud.app.Running: `.cloud` is the server's own state

    def url(self, path):
        return self.base_url + path

    def session(self):
        session = requests.Session()
        session.verify = str(self.ca_pem_path)
        session.trust_env = False  # loopback: no proxy, no CA bundle from the environment
        return session


@pytest.fixture(scope="session")
def dev_cloud_data_dir(tmp_path_factory):
    """One data directory (CA, server certificate, admin key) for every test's cloud."""
    return tmp_path_factory.mktemp("dev-cloud")


@pytest.fixture
def dev_cloud(dev_cloud_data_dir, tmp_path):
    vclock = tmp_path / "vclock"
    running = app.start(dev_cloud_data_dir, memory=True, vclock=vclock)
    try:
        yield DevCloudHandle(
            base_url=running.base_url,
            ca_der_path=running.certs.ca_der,
            ca_pem_path=running.certs.ca_pem,
            vclock_path=vclock,
            data_dir=dev_cloud_data_dir,
            admin=AdminClient(running.base_url, running.cloud.admin_key, running.certs.ca_pem),
            running=running,
        )
    finally:
        running.stop()


@pytest.fixture
def dev_cloud_process(tmp_path):
    """start(**options) -> host_tools.cloud.process.CloudProcess (`.info`, `.admin`)."""
    started = []

    def start(data_dir=None, **options):
        cloud = process.spawn(data_dir or tmp_path / f"cloud-{len(started)}", **options)
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.stop()
