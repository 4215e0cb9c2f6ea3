pytest_plugins = ["micropython_harness"]
