"""Every timing and protocol constant of the engine hosts, in one place."""

from __future__ import annotations

# A frame is a 4-byte big-endian length and that many bytes of JSON. Outgoing media travel
# inside a frame as base64 (16 MB of file ≈ 22 MB); anything larger is a broken peer.
FRAME_HEADER_BYTES = 4
MAX_FRAME_BYTES = 64 * 1024 * 1024

# The host's first frame: it has imported neonize and is ready for sessions.
HELLO = "hello"

# How long a starting host may take to say hello (importing neonize loads an 18 MB Go library).
HOST_START_TIMEOUT = 60.0
# A retiring host whose stdin is closed stops its clients and exits; after this it is killed.
HOST_EXIT_TIMEOUT = 40.0
# A host that closed its pipe before its hello is exiting: wait this long for its status before a
# kill. Killing it at once would reap it inside ``Popen.send_signal`` (it polls first), and asyncio's
# child watcher, finding it gone, would report exit code 255 instead of the real one.
HOST_EXIT_GRACE = 2.0

# Pauses before replacing a host that died, by how many died within CRASH_WINDOW_SECONDS
# before it: the first is replaced at once, a host that keeps dying costs ever longer waits.
CRASH_DELAYS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
CRASH_WINDOW_SECONDS = 120.0

# How often the worker reads each host's descriptors, memory and connect count.
RECYCLE_CHECK_SECONDS = 2.0
# Sessions leave a retiring host one at a time, this far apart, so WhatsApp does not see a burst.
MOVE_SPACING_SECONDS = 0.5
