pytest_plugins = ["krafa_kit.testing"]
