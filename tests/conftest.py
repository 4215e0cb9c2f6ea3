import os
import tempfile

pytest_plugins = ["micropython_harness", "cloud_fixtures"]

# The publisher's release signing key for every deploy and publish the suite runs (subprocesses
# inherit it): a key of the suite's own, never the user's (host_tools/release_key.py).
os.environ["TEMPNODE_RELEASE_KEY"] = os.path.join(
    tempfile.mkdtemp(prefix="tempnode-release-key-"), "release-key.pem"
)
