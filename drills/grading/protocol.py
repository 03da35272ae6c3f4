"""What the warm grader and its clients share: where the socket is, the key that says whether a
grader is current, and the one-JSON-line messages. Standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile

from drills import __version__

MESSAGE_LIMIT = 1 << 20
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are cut at 107 bytes on Linux, 103 on macOS
_GRADING = os.path.dirname(os.path.abspath(__file__))


def socket_path() -> str:
    """`grader.sock` in the data directory; a data directory with a path too long for a socket
    gets one in a private folder of the temp directory (mode 0700), named by the directory."""
    from engine.paths import data_dir

    home = os.path.abspath(data_dir())
    path = os.path.join(home, "grader.sock")
    if len(path.encode()) <= _MAX_SOCKET_PATH:
        return path
    private = os.path.join(tempfile.gettempdir(), f"drill-{os.getuid()}")
    os.makedirs(private, mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    return os.path.join(private, hashlib.sha1(home.encode()).hexdigest()[:16] + ".sock")


def idle_seconds() -> float:
    text = os.environ.get("DRILL_GRADER_IDLE", "").strip()
    try:
        return float(text) if text else 900.0
    except ValueError:
        return 900.0


def warm_key() -> str:
    """Changes whenever a warm grader would grade differently from a fresh process: another
    Python, another drill version, edited grading code, or packages installed or removed."""
    import sysconfig

    parts = [os.path.realpath(sys.executable), sys.prefix, __version__]
    parts += [
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k.startswith(("OMP_", "MKL_"))
    ]
    try:  # installed distributions, with their versions in the folder names
        purelib = sysconfig.get_paths()["purelib"]
        parts += sorted(n for n in os.listdir(purelib) if n.endswith(".dist-info"))
    except OSError:
        pass
    for name in sorted(os.listdir(_GRADING)):
        if name.endswith(".py"):
            stat = os.stat(os.path.join(_GRADING, name))
            parts.append(f"{name}:{stat.st_mtime_ns}:{stat.st_size}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def send_message(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def read_message(sock: socket.socket) -> dict:
    """One JSON line; ValueError when the other side closed first or sent something else."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a reply")
        data += chunk
        if len(data) > MESSAGE_LIMIT:
            raise ValueError("reply too long")
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - callers catch ValueError
    return message


def ask(path: str, message: dict, timeout: float = 5.0) -> dict | None:
    """A request that is answered at once (status, stop); None when no grader answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            send_message(sock, message)
            return read_message(sock)
    except (OSError, ValueError):
        return None


def answers(path: str) -> bool:
    return ask(path, {"op": "status"}, timeout=2.0) is not None
