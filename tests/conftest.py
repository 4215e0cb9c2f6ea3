import os
import tempfile

pytest_plugins = ["micropython_harness", "cloud_fixtures", "oidc_cloud"]

# Each pytest-xdist worker builds firmware into a folder of its own (host_tools.paths.BUILD):
# two workers compiling into one folder would read each other's half-written files.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    _REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["TEMPNODE_BUILD_DIR"] = os.path.join(_REPO, "build", "pytest-" + _WORKER)

# The publisher's release signing key for every deploy and publish the suite runs (subprocesses
# inherit it): a key of the suite's own, never the user's (host_tools/release_key.py).
os.environ["TEMPNODE_RELEASE_KEY"] = os.path.join(
    tempfile.mkdtemp(prefix="tempnode-release-key-"), "release-key.pem"
)
