"""The `relay` command: the composition root that starts every process, and the only code that may import
the web app, the workers and the webhook delivery together."""

from relay.cli.main import main

__all__ = ["main"]
