"""The card kit's distributed harness: run a function on W ranks over gloo on the loopback.

`run_world(fn, world_size, *args)` forks W ranks from the verifier's own process (torch is
already imported there, and `args` travel by the fork, not by pickling), starts the default
process group in each (gloo, 127.0.0.1, a port the kernel picked, a short gloo timeout), runs
`fn(rank, world_size, *args)` in each, and returns the W results, made CPU tensors and sent back
through a pipe. Every rank is killed and reaped when the world ends, however it ends: all ranks
done, one rank raising (its error is the verdict: the first to fail is the cause, the others
only lose their partner), or the world's deadline passing (a hang: the ranks still running are
named; the later worlds of that verdict are not run, and fail at once). A failure is one
line, `rank 1 [what]: RuntimeError (your line 12): ...`.

`CommWatch(path)` is a dispatch mode, entered in a rank around the attempt's call, that records
what the rank sends and receives and every collective it runs, whatever the spelling: every
`torch.distributed` API (functional collectives included) reaches the c10d ops it sees.
"""

from __future__ import annotations

import datetime
import os
import pickle
import re
import select
import signal
import socket
import sys
import time
import traceback

import torch

from cards.checks import QuietDispatchMode

# A correct attempt on the cards' shapes finishes a world in well under 2 s.
DEADLINE_S = 20.0  # one world, start to finish
# A send or receive with no partner fails after this, as the rank's error.
GLOO_TIMEOUT_S = 5.0
# After a rank fails, how long the others may take to report their own errors.
_GRACE_S = 0.3
_SECONDARY = ("Connection closed by peer", "Connection reset", "Broken pipe")
_state = {"hung": False}


def attempt_path() -> str | None:
    """The attempt's file (the grading child loads it as the module `attempt`), or None."""
    module = sys.modules.get("attempt")
    return (
        os.path.abspath(module.__file__) if getattr(module, "__file__", None) else None
    )


def _describe(exc: BaseException) -> str:
    """One line: the exception, and the attempt's line where it was raised (if there)."""
    if isinstance(exc, AssertionError):  # a verifier's check inside the rank
        return str(exc).split("\nassert ")[0].strip() or "assertion failed"
    path, line = attempt_path(), None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    where = f" (your line {line})" if line else ""
    text = re.sub(r"\[[^\]]*gloo[^\]]*\]\s*", "", " ".join(str(exc).split()))
    if "Timed out waiting" in text and "for send" in text:
        text += (
            " (nobody received what this rank sent: gloo's blocking dist.send waits for the "
            "matching receive, so if every rank sends first they all wait; use dist.isend, "
            "or let even and odd ranks take turns)"
        )
    elif "Timed out waiting" in text:
        text += (
            " (this rank waited for a message no rank sent: sends and receives do not "
            "pair up)"
        )
    if len(text) > 600:
        text = text[:600] + " ..."
    return (
        f"{type(exc).__name__}{where}: {text}" if text else type(exc).__name__ + where
    )


def _to_cpu(value):
    """Results as plain CPU tensors (detached) in the same containers."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def _rank_main(rank, world_size, listener, write_fd, fn, args, gloo_timeout_s):
    """A rank's whole life after the fork; never returns."""
    status, payload = "error", "the rank ended without a result"
    try:
        if sys.platform.startswith("linux"):  # die with the verifier, never linger
            try:
                import ctypes

                ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                pass
        # As DataLoader workers do: no intra-op thread pool inherited through the fork.
        torch.set_num_threads(1)
        import torch.distributed as dist

        timeout = datetime.timedelta(seconds=gloo_timeout_s)
        store = dist.TCPStore(
            "127.0.0.1",
            listener.getsockname()[1],
            world_size,
            is_master=rank == 0,
            master_listen_fd=listener.fileno() if rank == 0 else None,
            timeout=timeout,
        )
        dist.init_process_group(
            "gloo", store=store, rank=rank, world_size=world_size, timeout=timeout
        )
        status, payload = "ok", _to_cpu(fn(rank, world_size, *args))
    except BaseException as exc:  # noqa: BLE001 - whatever the attempt raises is the verdict
        status, payload = "error", _describe(exc)
    try:
        data = pickle.dumps((status, payload), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001
        data = pickle.dumps(("error", f"its result could not be sent back: {exc}"))
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
        os.close(write_fd)
        # Stay alive (sockets open) until the parent has every result and kills the world: a
        # rank that exits early could reset a connection a slower rank still reads from.
        while True:
            time.sleep(60)
    finally:
        os._exit(0)


def run_world(
    fn,
    world_size: int,
    *args,
    deadline_s: float = DEADLINE_S,
    gloo_timeout_s: float = GLOO_TIMEOUT_S,
    what: str = "",
) -> list:
    """[fn(rank, world_size, *args) for each rank], each computed in its own process with the
    default process group set up. Raises AssertionError, one line naming the rank, when a rank
    raises or the world passes its deadline. `what` names the world in that line."""
    context = f" [{what}]" if what else ""
    if _state["hung"]:  # one hang is the verdict; later worlds would only hang too
        raise AssertionError(
            f"not run{context}: an earlier world of this attempt hung (see its failure)"
        )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    pids, reads = {}, {}
    try:
        listener.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race
        listener.listen(64)
        sys.stdout.flush()
        sys.stderr.flush()
        for rank in range(world_size):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                for fd in reads:
                    os.close(fd)
                _rank_main(
                    rank, world_size, listener, write_fd, fn, args, gloo_timeout_s
                )
            os.close(write_fd)
            pids[rank], reads[read_fd] = pid, rank
        listener.close()
        return _collect(pids, reads, world_size, deadline_s, context)
    finally:
        listener.close()
        for fd in reads:
            try:
                os.close(fd)
            except OSError:
                pass
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids.values():
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _collect(pids, reads, world_size, deadline_s, context) -> list:
    buffers = {rank: bytearray() for rank in range(world_size)}
    results, errors = {}, []  # errors in the order they arrived
    open_fds = dict(reads)
    end = time.monotonic() + deadline_s
    while open_fds:
        left = end - time.monotonic()
        if errors:
            left = min(left, errors[0][2] + _GRACE_S - time.monotonic())
        if left <= 0:
            break
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            rank = open_fds[fd]
            chunk = os.read(fd, 1 << 20)
            if chunk:
                buffers[rank] += chunk
                continue
            del open_fds[fd]
            try:
                status, payload = pickle.loads(bytes(buffers[rank]))
            except Exception:  # noqa: BLE001 - it died before writing (killed, crashed)
                status, payload = "error", _death(pids[rank])
            if status == "ok":
                results[rank] = payload
            else:
                errors.append((rank, payload, time.monotonic()))
    if errors:
        # A rank whose partner failed first only sees its connection drop: name the cause.
        errors.sort(key=lambda e: any(m in e[1] for m in _SECONDARY))
        rank, message, _ = errors[0]
        if "Timed out waiting" in message:
            _state["hung"] = True
        raise AssertionError(f"rank {rank}{context}: {message}")
    if len(results) < world_size:
        _state["hung"] = True
        stuck = [r for r in range(world_size) if r not in results]
        names = ", ".join(str(r) for r in stuck)
        raise AssertionError(
            f"rank{'s' if len(stuck) > 1 else ''} {names}{context}: still running after "
            f"{deadline_s:g} s (a hang: a receive whose send never comes, a send nobody "
            f"receives, or a collective that only some ranks call); the world was stopped"
        )
    return [results[r] for r in range(world_size)]


def _death(pid: int) -> str:
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "the rank died without a result"
    if done and os.WIFSIGNALED(status):
        return f"the rank died of signal {os.WTERMSIG(status)} without a result"
    if done:
        return f"the rank exited (status {os.WEXITSTATUS(status)}) without a result"
    return "the rank closed its result pipe without a result"


# -- what a rank communicates ------------------------------------------------------------------

_POINT_TO_POINT = {"send", "recv_", "recv_any_source_"}
# Waits on (and wrappers of) work already counted when it was started.
_NOT_COMMUNICATION = {"wait_tensor", "_wrap_tensor_autograd"}


class CommWatch(QuietDispatchMode):
    """Entered in a rank around the attempt's call: `sent` / `received` (elements, summed over
    point-to-point sends and receives), `peers_sent` / `peers_received` (the ranks talked to),
    and `collectives` ([(op name, the attempt's line or None)]). A receive from any source
    counts as peer -1. `path` is the attempt's file (for the lines)."""

    def __init__(self, path: str | None = None):
        super().__init__()
        self.path = path or attempt_path()
        self.sent = self.received = 0
        self.peers_sent, self.peers_received = set(), set()
        self.collectives: list[tuple[str, int | None]] = []

    def _line(self) -> int | None:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename != self.path:
            frame = frame.f_back
        return frame.f_lineno if frame is not None else None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        namespace = func.namespace
        if namespace in ("c10d", "_c10d_functional", "c10d_functional"):
            name = func._opname
            if name in _POINT_TO_POINT and args:
                count = sum(t.numel() for t in args[0])
                peer = int(args[2]) if name != "recv_any_source_" else -1
                if name == "send":
                    self.sent += count
                    self.peers_sent.add(peer)
                else:
                    self.received += count
                    self.peers_received.add(peer)
            elif name not in _NOT_COMMUNICATION:
                self.collectives.append((f"{namespace}.{name}", self._line()))
        return func(*args, **(kwargs or {}))

    def summary(self) -> dict:
        """What a rank returns to the verifier: plain Python values."""
        return {
            "sent": self.sent,
            "received": self.received,
            "peers_sent": sorted(self.peers_sent),
            "peers_received": sorted(self.peers_received),
            "collectives": list(self.collectives),
        }
