from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.stack import RelayStack

# The stack's database and Redis opened in the test process (shared with the webhook tests).
from tests.webhooks.conftest import ledger  # noqa: F401


@pytest.fixture
def extra_workers(stack: RelayStack) -> Iterator[Callable[[int], None]]:
    """Start more workers for one test; afterwards stop them, leaving exactly one worker alive."""
    started: list[subprocess.Popen[bytes]] = []

    def start(count: int) -> None:
        started.extend(stack.start_worker() for _ in range(count))

    yield start
    alive = [p for p in stack.workers if p.poll() is None]
    for process in alive[1:]:
        stack.kill(process, signal.SIGTERM)
    if not alive:
        stack.start_worker()
