"""Talking to the warm grader: find it, start it, hand it a run, wait for the child's end.

Any trouble (no fork on this platform, a grader that will not start, one that dies or answers
nonsense) raises `WarmUnavailable`; `drills.grading.grade` then grades in a cold child and says
so in one line. A grader from other code answers `stale` and stops; a new one is started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from drills.grading import protocol
from drills.grading.runner import Run, child_env

START_WAIT_S = 120.0  # a grader's start: torch and pytest imports, on a slow disk
# beyond the run's own time limit: preloading transformers, a busy host
REPLY_GRACE_S = 60.0


class WarmUnavailable(Exception):
    """No warm grader could grade this run; the message says why."""


def enabled() -> bool:
    return os.environ.get("DRILL_WARM", "1").strip() != "0" and hasattr(os, "fork")


def log_path(path: str) -> str:
    return os.path.splitext(path)[0] + ".log"


def spawn(path: str, idle: float | None = None) -> subprocess.Popen:
    """Start a grader in its own session; it outlives this process and exits when idle."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    log = log_path(path)
    if os.path.exists(log) and os.path.getsize(log) > 1 << 20:
        os.replace(log, log + ".old")
    argv = [sys.executable, "-m", "drills.grading.server", "--socket", path]
    if idle is not None:
        argv += ["--idle", str(idle)]
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(),
        )


def ensure(path: str, idle: float | None = None) -> subprocess.Popen | None:
    """A grader answers on `path` when this returns: the process if this call started it."""
    if protocol.answers(path):
        return None
    from drills.grading.server import ALREADY_RUNNING

    try:
        process = spawn(path, idle)
    except OSError as exc:
        raise WarmUnavailable(f"cannot start it: {exc}") from None
    give_up = time.monotonic() + START_WAIT_S
    while time.monotonic() < give_up:
        if protocol.answers(path):
            return process
        code = process.poll()
        if code == ALREADY_RUNNING and not protocol.answers(path):
            raise WarmUnavailable(
                "another grader holds its lock but does not answer (`drill grader stop`)"
            )
        if code is not None and code != ALREADY_RUNNING:
            raise WarmUnavailable(
                f"it exited ({code}) while starting: see {log_path(path)}"
            )
        time.sleep(0.02)
    raise WarmUnavailable(f"it did not start within {START_WAIT_S:g} s")


def _request(path: str, run: Run, cancel) -> dict | None:
    """Send a grade request and wait for its answer; None if cancelled (the child is killed
    when we hang up)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(path)
            protocol.send_message(
                sock,
                {
                    "op": "grade",
                    "key": protocol.warm_key(),
                    "dir": run.dir,
                    "timeout": run.timeout,
                    "env": child_env(),
                    "preload": run.preload,
                    "triton": run.triton,
                },
            )
        except OSError as exc:
            raise WarmUnavailable(f"cannot reach it: {exc}") from None
        give_up = time.monotonic() + run.timeout + REPLY_GRACE_S
        sock.settimeout(0.05)
        data = b""
        while not data.endswith(b"\n"):
            if cancel is not None and cancel.is_set():
                return None
            if time.monotonic() > give_up:
                raise WarmUnavailable("it did not answer in time")
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise WarmUnavailable(f"it broke off: {exc}") from None
            if not chunk:
                raise WarmUnavailable("it stopped during the check")
            data += chunk
    import json

    try:
        return json.loads(data)
    except ValueError:
        raise WarmUnavailable("it answered something that is not JSON") from None


def run_warm(run: Run, cancel=None, path: str | None = None) -> tuple[int, bool] | None:
    """(returncode, timed_out) of a child forked by the warm grader; None if cancelled."""
    if not hasattr(os, "fork"):
        raise WarmUnavailable("this platform cannot fork")
    try:
        path = path or protocol.socket_path()
    except OSError as exc:  # a private socket folder that cannot be made
        raise WarmUnavailable(f"no place for its socket: {exc}") from None
    for _ in range(2):
        ensure(path)
        reply = _request(path, run, cancel)
        if reply is None:
            return None
        if "stale" in reply:
            continue  # that grader is stopping; the next round starts a current one
        if "error" in reply:
            raise WarmUnavailable(reply["error"])
        try:
            return int(reply["returncode"]), bool(reply["timed_out"])
        except (KeyError, TypeError, ValueError):
            raise WarmUnavailable(f"it answered {reply!r}") from None
    raise WarmUnavailable("it was from other code and would not be replaced")


def start_in_background() -> None:
    """Warm a grader up while the user writes (`drill start`); never fails the caller."""
    if not enabled():
        return
    try:
        path = protocol.socket_path()
        if not protocol.answers(path):
            spawn(path)
    except OSError:
        pass


def status(path: str | None = None) -> dict | None:
    return protocol.ask(path or protocol.socket_path(), {"op": "status"})


def stop(path: str | None = None, wait_s: float = 10.0) -> dict | None:
    """Ask the grader to stop; waits until it no longer answers. None if none was running."""
    path = path or protocol.socket_path()
    reply = protocol.ask(path, {"op": "stop"})
    give_up = time.monotonic() + wait_s
    while reply is not None and protocol.answers(path) and time.monotonic() < give_up:
        time.sleep(0.05)
    return reply
