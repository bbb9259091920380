"""This process' host as process ids see it: the host name and, on Linux, the PID namespace.

Containers that share a host name (host networking, a pod's sidecars) do not share process
ids: a pid recorded by one is only checked (``os.kill(pid, 0)``) by a process whose host
identity is the same.
"""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    """``host/pidns-4026531836`` (just the host name where namespaces are not visible)."""
    try:
        return f"{socket.gethostname()}/pidns-{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return socket.gethostname()
