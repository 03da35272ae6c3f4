"""The pytest plugin of the grading child: fixtures for verifiers, and the JSON reporter.

Verifiers receive the attempt as the `impl` fixture (the imported module) and the torch device
name as `device`, parametrized over the devices this run grades on. They never import the
attempt by name.
"""

from __future__ import annotations

import time

import pytest

from drills.grading import triton_errors
from drills.grading.banned import BannedCallError
from drills.grading.tamper import tamper_message
from drills.grading.verdict import make, truncate, write_result

_PREFIXES = ("AssertionError: ", "Failed: ")


def _message(excinfo, attempt_path: str) -> str:
    exc = excinfo.value
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        text = str(exc)
        # `assert cond, msg` adds pytest's introspection after the message: keep the message.
        return truncate(text.split("\nassert ")[0].strip() or "assertion failed")
    line = None
    for entry in excinfo.traceback:
        if str(entry.path) == attempt_path:
            line = entry.lineno + 1
    where = f" (your line {line})" if line else ""
    # A Triton kernel that does not compile: the kernel's line and the compiler's reason.
    reason = triton_errors.describe(exc, attempt_path) or str(exc)
    text = f": {reason}" if reason else ""
    return truncate(f"{type(exc).__name__}{where}{text}")


class Reporter:
    def __init__(self, module, devices, guard, out, base, attempt_path, tamper=None):
        self.module = module
        self.tamper = tamper
        self.devices = devices
        self.guard = guard
        self.out = out
        self.base = base
        self.attempt_path = attempt_path
        self.tests: list[dict] = []
        self.started = time.perf_counter()
        self.running = None
        self.speed: dict | None = (
            None  # a kernel card's speed report (see cards/kernels.py)
        )
        self.min_speedup = 0.0

    # -- fixtures -------------------------------------------------------------------------
    @pytest.fixture
    def impl(self):
        return self.module

    @pytest.fixture
    def speed_report(self):
        """For a kernel card's speed test: `speed_report(report)` keeps the report for the
        verdict; `speed_report.min_speedup` is the card's bar (0: none)."""

        def record(report: dict) -> None:
            self.speed = dict(report)

        record.min_speedup = self.min_speedup
        return record

    def pytest_generate_tests(self, metafunc):
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", self.devices)

    # -- reporting ------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid, location):
        self.running = nodeid.split("::", 1)[-1]
        self._write(partial=True)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and not call.excinfo.errisinstance(
            pytest.skip.Exception
        ):
            report.drill_message = _message(call.excinfo, self.attempt_path)

    def pytest_runtest_logreport(self, report):
        name = report.nodeid.split("::", 1)[-1]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.skipped:
                status = "skipped"
            else:
                status = "passed" if report.passed else "failed"
            message = getattr(report, "drill_message", "")
            self.tests.append({"name": name, "status": status, "message": message})

    def pytest_collectreport(self, report):
        if report.failed:
            self.tests.append(
                {
                    "name": "collect",
                    "status": "failed",
                    "message": truncate(str(report.longrepr)),
                }
            )

    def finish(self, exit_code: int = 0):
        self.running = None
        self.exit_code = exit_code
        self._write(partial=False)

    def _write(self, partial: bool):
        duration = time.perf_counter() - self.started
        tampered = self.tamper.changes() if self.tamper and not partial else []
        message = ""
        if partial:
            status = "running"
        elif self.guard.violations:
            status, message = "banned", self.guard.violations[0].describe()
        elif tampered:
            status, message = "banned", tamper_message(tampered)
        else:
            passed = sum(t["status"] == "passed" for t in self.tests)
            failed = sum(t["status"] == "failed" for t in self.tests)
            if failed == 0 and passed > 0:
                status = "pass"
            elif passed + failed == 0:
                status = "error"
                code = getattr(self, "exit_code", 0)
                message = f"the verifier ran no test (pytest exit code {code})"
            else:
                status = "fail"
        result = make(
            self.base["card"],
            status,
            self.tests,
            self.base["device"],
            message,
            duration,
        )
        if partial:
            result["running"] = self.running
        elif self.speed is not None and status == "pass":
            result["speed"] = self.speed
        write_result(self.out, result)


__all__ = ["BannedCallError", "Reporter"]
