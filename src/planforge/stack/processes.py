"""Child processes of a stack: started in their own session, stopped with a grace period."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Child", "free_port", "port_free", "probe", "signals_deferred", "spawn", "terminate"]

_GRACE = 10.0
_LOG_LINES = 20


# --- child processes ----------------------------------------------------------------------------------------


@dataclass
class Child:
    """A process the stack started: a service or the gateway, its base URL and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self, lines: int = _LOG_LINES) -> str:
        """The last lines of its log."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """On Linux, the child gets SIGTERM when planforge dies without stopping it (kill -9): nothing is left behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn(command: list[str], log: Path, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start a child in its own session (a terminal's Ctrl-C reaches planforge only, which stops it in order)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def terminate(children: list[Child]) -> None:
    """SIGTERM to each, wait up to the grace period, then SIGKILL to the process group of any still running."""
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + _GRACE
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            # start_new_session made the child a group leader: this also reaches nginx's workers.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (SO_REUSEADDR, as uvicorn and nginx bind)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, tls: ssl.SSLContext | None = None) -> tuple[int, str]:
    """(status, body) of GET url (over TLS with tls, a client context); status 0 when nothing answered."""
    try:
        # url is http(s)://127.0.0.1:<port>/readyz (bandit B310)
        with urllib.request.urlopen(url, timeout=2, context=tls) as response:  # nosec B310
            return response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return 0, str(exc)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while stopping, so that a second Ctrl-C cannot leave children behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
