"""Where the Go core's own prints go in an engine host, whose stdout carries the frames.

whatsmeow and neonize's Go side write lines straight to file descriptor 1 ("Press Ctrl+C to
exit", "Pair Code: ...", "SendMessage: Error ..."). Each becomes a record of the ``neonize.go``
logger, in the process's log format (so with ``RELAY_LOG_FORMAT=json`` the host's stderr stays
one JSON object a line), and a pairing code in one is masked: a log line outlives the minute
the code is good for.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

log = logging.getLogger("neonize.go")
_PAIR_CODE = re.compile(r"(pair(?:ing)? code:?\s*)\S+", re.I)


def route_go_prints() -> threading.Thread:
    """Point descriptor 1 at a pipe read into log records; returns the reader (it ends when fd 1 closes)."""
    read_end, write_end = os.pipe()
    os.dup2(write_end, sys.stdout.fileno())
    os.close(write_end)
    # A thread, not the event loop: the Go core writes from its own threads, and must never
    # block on a full pipe because the loop is busy.
    reader = threading.Thread(target=_forward, args=(read_end,), name="go-prints", daemon=True)
    reader.start()
    return reader


def _forward(read_end: int) -> None:
    # Ends at end of file, when the process exits (the last write end closes).
    with os.fdopen(read_end, "rb") as pipe:
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip()
            if line:
                log.info("%s", _PAIR_CODE.sub(r"\1redacted", line))
