"""No token or secret the tests issued appears anywhere in the suite's output.

`link_secret_scan` (a pytest plugin) collects the text of every test report of the session
and the dev cloud's log, and every secret the link tests handled; this test runs last (the
plugin moves it there). It first runs a scenario of its own that goes through every path
that prints (renewals, a lost rotation, needs-provisioning, the device flow, the REPL view),
so the scan always has something to look at, even when it runs alone.
"""

from link_support import LinkDevice, uploads

pytest_plugins = ["link_secret_scan"]


def test_no_issued_secret_appears_in_any_output(dev_cloud, tmp_path):
    import link_secret_scan as scan  # here: pytest imports it first, as a plugin

    device = LinkDevice.create(tmp_path, dev_cloud, "oauth2", access_ttl_s=2, grace_s=0)
    dev_cloud.admin.add_fault("token", "drop_reply", count=1)
    plan = {"steps": [uploads(3), {"do": "provision"}, uploads(6), {"do": "show"}]}
    run = device.run_approving(plan)
    assert run.summary["kept"] == [] and run.summary["renewals"] >= 1
    scan.add_text(run.output)

    secrets = scan.issued_secrets()
    texts = scan.collected_texts()
    # Client secrets, passwords, device codes, and every access and refresh token issued
    # (counted first: an assertion must not print the secrets themselves).
    count = len(secrets)
    assert count >= 8
    hits = sorted(
        {(secret[:4] + "...", text[:60]) for secret in secrets for text in texts if secret in text}
    )
    print(f"scanned {len(texts)} outputs for {len(secrets)} secrets: {len(hits)} hits")
    assert hits == []
