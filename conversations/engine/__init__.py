"""The scenario engine: templating, answer checks, branch conditions and API calls."""
