"""Child processes that cannot outlive the process that started them.

`relay up` starts the web and worker processes, and the test suite starts
whole Relay stacks. If the parent is killed alone (kill -9 of one pid rather
than the group), orphaned children would keep a port bound, keep driving
WhatsApp sessions and keep writing to the database. On Linux the kernel can
signal a child when its parent dies; elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    """``preexec_fn`` for subprocess: SIGTERM this child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
