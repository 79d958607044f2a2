"""How Relay starts its own Python processes: never importing from the current directory.

`python -m relay` puts the current directory first on ``sys.path``, so a
project folder holding a ``webhooks.py``, ``workers.py`` or ``relay.py`` (common
names in any app that receives webhooks) would shadow Relay's own packages in
the web and worker processes. Python's ``-P`` (3.11+, the interpreter Relay
requires) leaves the current directory off ``sys.path``. We keep ``-m`` with
the running interpreter rather than the installed ``relay`` script: the script
may not be on ``PATH``, and ``sys.executable`` is the interpreter Relay was
installed into.
"""

from __future__ import annotations

import sys


def relay_command(role: str) -> list[str]:
    """The argv that runs ``relay <role>`` in a child, whatever folder it is started from."""
    return [sys.executable, "-P", "-m", "relay", role]
