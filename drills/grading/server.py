"""The warm grader: a process that has imported torch and pytest, and forks one child per verdict.

`python -m drills.grading.server [--socket PATH] [--idle SECONDS]`. It listens on a Unix socket
(mode 0600) and speaks one JSON line each way per connection:

  {"op": "grade", "key", "dir", "timeout", "env", "preload", "triton"}
      ->  {"returncode", "timed_out"}
  {"op": "status"}  ->  what `drill grader status` shows
  {"op": "stop"}    ->  {"stopping": true}; it exits once the runs in flight have ended

A grade request names a run folder that the client prepared (`runner.Run`); the child reads its
spec there and writes its verdict there, and the client builds the verdict from it. The server
only forks, times, cancels (the client hung up) and kills. A request whose `key` differs from the
server's (other code, another Python, new packages) is answered `{"stale": why}` and the server
stops, so an old grader never grades.

One thread, one poll loop: forking from a threaded process is how children deadlock. The parent
never runs a torch operation and never initialises CUDA; each child does its own.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import importlib
import os
import select
import signal
import socket
import sys
import time
import traceback

from drills.grading import protocol
from drills.grading.runner import POLL_S, exited, gpu_host, reap

ALWAYS = ("torch", "numpy", "pytest")  # what every verifier needs, imported at start
# Imported on the first request of a card whose verifier needs it. Not triton: it costs 70 ms,
# and it decides at import whether it interprets (see `Server.triton`).
# `torch._dynamo`: the first step of any torch.optim optimiser imports it (seconds); the runner
# asks for it when a verifier uses torch.optim. It starts no thread, so it forks cleanly; on a
# GPU host it is not preloaded, since nothing has shown yet that its import leaves CUDA
# untouched in the parent (a parent that initialised CUDA breaks every forked child's CUDA).
PRELOADABLE = {"transformers", "torch._dynamo"}
CPU_HOST_ONLY = {"torch._dynamo"}


def preloadable(name: str, gpu: bool = False) -> bool:
    return any(
        (name == p or name.startswith(p + ".")) and not (gpu and p in CPU_HOST_ONLY)
        for p in PRELOADABLE
    )


ALREADY_RUNNING = 3  # exit status when another grader holds the lock


def preload(names) -> None:
    """Import heavy modules, and pytest's default plugins, so that children start warm."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            # `from transformers import LlamaForCausalLM`: not a module, but a lazy package's
            # attribute, whose first access imports the module that costs
            parent, _, attr = name.rpartition(".")
            if parent in sys.modules and attr[:1].isupper():
                try:
                    getattr(sys.modules[parent], attr)
                except Exception as exc:  # noqa: BLE001 - the child will report it too
                    print(f"preload {name} failed: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # noqa: BLE001 - the child will report it in its verdict
            print(f"preload {name} failed: {exc}", file=sys.stderr)
            continue
        if name == "pytest":
            from _pytest.config import default_plugins

            for plugin in default_plugins:
                try:
                    importlib.import_module(f"_pytest.{plugin}")
                except ImportError:
                    pass
            # what pytest.main and the tamper watch import lazily, seen in a child's sys.modules
            for lazy in (
                "_pytest._argcomplete",
                "pdb",
                "faulthandler",
                "resource",
                "numpy.testing",
            ):
                importlib.import_module(lazy)
            import _pytest.assertion.rewrite  # noqa: F401
    import ctypes  # noqa: F401 - the child asks to die with its parent through it

    import drills.grading.child
    import drills.grading.plugin
    import drills.grading.tamper  # noqa: F401


def log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)


class Job:
    def __init__(self, pid: int, conn: socket.socket, timeout: float):
        self.pid = pid
        self.conn = conn
        self.deadline = time.monotonic() + timeout


class Server:
    def __init__(self, path: str, idle_s: float):
        self.path = path
        self.idle_s = idle_s
        self.key = protocol.warm_key()
        self.started = time.time()
        self.served = 0
        self.jobs: dict[int, Job] = {}  # by the client connection's fd
        self.listener: socket.socket | None = None
        self.lock_fd: int | None = None
        self.last_active = time.monotonic()
        # Without a GPU every Triton kernel runs under the interpreter, so this process (and any
        # Triton it imports) is in interpreter mode from the start; with one, Triton compiles.
        self.triton = "compile" if gpu_host() else "interpret"
        if self.triton == "interpret":
            os.environ["TRITON_INTERPRET"] = "1"

    # -- life ----------------------------------------------------------------------------------
    def claim(self, wait_s: float = 15.0) -> bool:
        """Take the grader's lock. False if another grader holds it and answers; one that is
        stopping (its runs still ending) is waited for."""
        self.lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        give_up = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                pass
            if protocol.answers(self.path) or time.monotonic() > give_up:
                return False
            time.sleep(0.05)

    def listen(self) -> None:
        try:
            os.unlink(self.path)  # a socket left by a grader that was killed
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self.listener.listen(64)

    def stop_listening(self, poller) -> None:
        if self.listener is not None:
            poller.unregister(self.listener)
            self.close_listener()

    def close_listener(self) -> None:
        """Stop taking requests (the lock stays held until the process exits)."""
        if self.listener is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self.listener.close()
        self.listener = None

    def serve(self) -> None:
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        while True:
            if self.listener is None and not self.jobs:
                return
            if not self.jobs and time.monotonic() - self.last_active > self.idle_s:
                return
            wait = (
                POLL_S
                if self.jobs
                else max(0.0, self.idle_s - (time.monotonic() - self.last_active))
            )
            for fd, _ in poller.poll(wait * 1000 + 1):
                if self.listener is not None and fd == self.listener.fileno():
                    self.accept(poller)
                elif fd in self.jobs:  # a client hung up with its run in flight: cancel
                    job = self.jobs.pop(fd)
                    poller.unregister(fd)
                    reap(job.pid)
                    job.conn.close()
                    log(f"child {job.pid} cancelled: its client hung up")
            self.finish_jobs(poller)

    def finish_jobs(self, poller) -> None:
        now = time.monotonic()
        for fd, job in list(self.jobs.items()):
            done = exited(job.pid)
            timed_out = not done and now > job.deadline
            if not (done or timed_out):
                continue
            del self.jobs[fd]
            poller.unregister(fd)
            returncode = reap(job.pid)
            self.reply(job.conn, {"returncode": returncode, "timed_out": timed_out})
            log(
                f"child {job.pid} ended ({returncode}{', timed out' if timed_out else ''})"
            )
            job.conn.close()
            self.served += 1
            self.last_active = time.monotonic()

    # -- requests ------------------------------------------------------------------------------
    def accept(self, poller) -> None:
        conn, _ = self.listener.accept()
        self.last_active = time.monotonic()
        try:
            conn.settimeout(5)
            request = protocol.read_message(conn)
        except (OSError, ValueError):
            conn.close()
            return
        try:
            if self.handle(request, conn, poller):
                return  # a run in flight: the connection stays open for its answer
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the grader
            traceback.print_exc()
            self.reply(conn, {"error": f"the warm grader failed: {exc!r}"})
        conn.close()

    def handle(self, request: dict, conn: socket.socket, poller) -> bool:
        """Answer one request; True when it started a run (answered when the run ends)."""
        op = request.get("op")
        if op == "status":
            self.reply(conn, self.status())
        elif op == "stop":
            self.stop_listening(poller)
            self.reply(conn, {"stopping": True})
        elif op == "grade" and request.get("key") != self.key:
            # stop listening before the reply: the client's next connect starts a new grader
            self.stop_listening(poller)
            self.reply(
                conn, {"stale": "the warm grader was started by other code or packages"}
            )
        elif op == "grade" and request.get("triton") not in (None, self.triton):
            why = (
                f"this run needs Triton to {request['triton']}; this grader's does not"
            )
            self.reply(conn, {"error": why})
        elif op == "grade":
            try:
                job = self.fork(request, conn)
            except (OSError, KeyError, TypeError) as exc:
                self.reply(conn, {"error": f"cannot fork a grading child: {exc}"})
            else:
                conn.settimeout(None)
                self.jobs[conn.fileno()] = job
                poller.register(conn, select.POLLIN | select.POLLHUP)
                return True
        else:
            self.reply(conn, {"error": f"unknown request {op!r}"})
        return False

    def fork(self, request: dict, conn: socket.socket) -> Job:
        gpu = gpu_host()
        preload(n for n in request.get("preload", []) if preloadable(n, gpu))
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the child's collections skip the parent's heap (and leave its pages shared)
        keep_closed = [self.listener.fileno(), self.lock_fd, conn.fileno()]
        keep_closed += [j.conn.fileno() for j in self.jobs.values()]
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            from drills.grading.child import forked

            forked(request["dir"], request["env"], keep_closed, parent)  # never returns
        log(f"child {pid} grades {request['dir']}")
        return Job(pid, conn, float(request["timeout"]))

    def status(self) -> dict:
        return {
            "pid": os.getpid(),
            "python": sys.executable,
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "served": self.served,
            "in_flight": len(self.jobs),
            "idle_exit_s": self.idle_s,
            "idle_s": round(time.monotonic() - self.last_active, 1),
            "preloaded": sorted(
                m
                for m in sys.modules
                if m.split(".")[0] in PRELOADABLE.union(ALWAYS) and m.count(".") < 3
            )[:40],
            "key": self.key,
        }

    @staticmethod
    def reply(conn: socket.socket, message: dict) -> None:
        try:
            conn.settimeout(5)
            protocol.send_message(conn, message)
        except OSError:
            pass  # the client went away


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="drill's warm grader")
    parser.add_argument(
        "--socket", default=None, help="socket path (default: in the data dir)"
    )
    parser.add_argument(
        "--idle", type=float, default=None, help="seconds idle before exiting"
    )
    args = parser.parse_args(argv)
    path = args.socket or protocol.socket_path()
    idle = args.idle if args.idle is not None else protocol.idle_seconds()
    server = Server(path, idle)
    if not server.claim():
        return ALREADY_RUNNING
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    preload(ALWAYS)
    server.listen()  # only now: a client that connects gets a warm grader
    # idle time counts from here, not from the imports
    server.last_active = time.monotonic()
    log(f"warm grader {os.getpid()} ready on {path}")
    try:
        server.serve()
    finally:
        for job in server.jobs.values():
            reap(job.pid)
        server.close_listener()
    log(f"warm grader {os.getpid()} exits after {server.served} verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
