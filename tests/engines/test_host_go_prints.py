"""An engine host's descriptor 1: what the Go core prints there reaches the log, as JSON in JSON mode."""

from __future__ import annotations

import json
import subprocess
import sys

# What a host does before neonize loads, then a print as the Go core makes it: a raw write to fd 1.
HOST = """
import os, sys
from relay.core.enums import LogFormat
from relay.core.logging_setup import configure_logging
from workers.engines.host.go_prints import route_go_prints
log_format = LogFormat(sys.argv[1])
configure_logging("info", log_format)
reader = route_go_prints()
os.write(1, b"Press Ctrl+C to exit\\nPair Code: ABCD-EFGH\\n")
os.close(1)
reader.join(10)
"""


def run_host(log_format: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-c", HOST, log_format], capture_output=True, text=True, timeout=60, check=True
    )


def test_with_json_logs_each_go_print_is_a_json_record_and_a_pair_code_is_masked() -> None:
    done = run_host("json")
    assert done.stdout == ""
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("neonize.go", "Press Ctrl+C to exit"),
        ("neonize.go", "Pair Code: redacted"),
    ]


def test_with_text_logs_go_prints_are_log_lines_too() -> None:
    done = run_host("text")
    assert done.stdout == "" and "ABCD-EFGH" not in done.stderr
    lines = done.stderr.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO  neonize.go Press Ctrl+C to exit",
        "INFO  neonize.go Pair Code: redacted",
    ]
