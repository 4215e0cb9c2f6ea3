pytest_plugins = ["micropython_harness", "cloud_fixtures", "oidc_cloud"]
