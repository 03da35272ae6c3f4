"""Golden verdicts of the grading child, one fixture attempt per outcome, warm and cold.

Warm verdicts come from one warm grader shared by the whole module: every hostile attempt is
graded by the same parent, which must still grade a correct file correctly after each."""

import pytest
from conftest import ATTEMPTS

from drills.grading import client, grade
from drills.grading.runner import memory_limit

# Without an address-space cap (a GPU host: the driver needs a huge one) a hog is not stopped.
capped = pytest.mark.skipif(memory_limit() is None, reason="no memory cap on this host")

CASES = {
    # attempt file: (status, passed, failed, words that must appear in the message)
    "partial.py": ("fail", 2, 1, []),
    "syntax_error.py": ("error", 0, 0, ["SyntaxError", "line 1"]),
    "import_error.py": (
        "error",
        0,
        0,
        ["ModuleNotFoundError", "line 1", "torch_that_does_not_exist"],
    ),
    "missing_function.py": ("error", 0, 0, ["does not define `add_scaled`"]),
    "aborts.py": ("error", 0, 0, ["crashed", "SIGABRT", "test_adds"]),
    "os_exit.py": ("error", 0, 0, ["exited (3)", "test_adds", "without a verdict"]),
    "banned_alias.py": ("banned", 0, 0, ["torch.add", "line 5"]),
    "banned_method.py": ("banned", 0, 0, ["torch.Tensor.add", "line 2"]),
    "banned_getattr.py": ("banned", None, None, ["torch.add", "line 7"]),
    "patches_torch.py": ("banned", 0, 0, ["`torch.equal`", "`torch.allclose`"]),
    "patches_during_call.py": ("banned", None, None, ["`torch.equal`"]),
    "noisy_pass.py": ("pass", 3, 0, []),
    "huge_print.py": ("error", None, None, ["MiB of output"]),
}
if memory_limit() is not None:
    CASES["memory_hog.py"] = ("fail", 0, 3, [])
MODES = ["warm", "cold"]


@pytest.fixture(scope="module")
def warm_socket(tmp_path_factory):
    """One warm grader for the module, stopped at its end."""
    path = str(tmp_path_factory.mktemp("grader") / "grader.sock")
    process = client.ensure(path, idle=600)
    yield path
    client.stop(path)
    process.wait(timeout=30)


def graded(card, attempt, mode, socket, **kwargs):
    notes = []
    verdict = grade(
        card, attempt, warm=mode == "warm", socket=socket, note=notes.append, **kwargs
    )
    assert notes == [], notes  # no fall back to a cold child: the warm grader answered
    return verdict


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_verdicts(toy_card, warm_socket, name, mode):
    status, passed, failed, words = CASES[name]
    verdict = graded(toy_card, ATTEMPTS / name, mode, warm_socket)
    assert verdict["status"] == status, verdict
    if passed is not None:
        assert (verdict["passed"], verdict["failed"]) == (passed, failed), verdict
    for word in words:
        assert word in verdict["message"], verdict["message"]
    assert set(verdict) >= {
        "card",
        "status",
        "passed",
        "failed",
        "tests",
        "duration_s",
        "device",
    }
    assert verdict["card"] == "add_scaled"
    # the parent survived it, and still grades a correct file correctly
    if mode == "warm":
        after = graded(toy_card, toy_card.path / "reference.py", mode, warm_socket)
        assert (after["status"], after["passed"]) == ("pass", 3), after


@pytest.mark.parametrize(
    "name",
    ["aborts.py", "os_exit.py", "patches_torch.py", "banned_getattr.py", "partial.py"],
)
def test_warm_and_cold_agree_exactly(toy_card, warm_socket, name):
    warm = graded(toy_card, ATTEMPTS / name, "warm", warm_socket)
    cold = graded(toy_card, ATTEMPTS / name, "cold", warm_socket)
    warm.pop("duration_s"), cold.pop("duration_s")
    assert warm == cold


@capped
def test_memory_hog_fails_each_test_with_memory_error(toy_card, warm_socket):
    for mode in MODES:
        verdict = graded(toy_card, ATTEMPTS / "memory_hog.py", mode, warm_socket)
        assert all("MemoryError" in t["message"] for t in verdict["tests"]), verdict


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_times_out(toy_card, warm_socket, mode):
    from drills.grading.runner import gpu_host

    # a cold child on a GPU host takes seconds to start torch
    limit = 15 if gpu_host() else 4
    verdict = graded(
        toy_card, ATTEMPTS / "infinite_loop.py", mode, warm_socket, timeout=limit
    )
    assert verdict["status"] == "timeout"
    assert f"longer than {limit} s during test_adds[cpu]" in verdict["message"]


def test_reference_passes_with_per_test_results(toy_card):
    verdict = grade(toy_card, toy_card.path / "reference.py")
    assert verdict["status"] == "pass"
    assert [t["name"] for t in verdict["tests"]] == [
        "test_adds[cpu]",
        "test_scales[cpu]",
        "test_default_alpha_is_one[cpu]",
    ]
    assert verdict["device"] == "cpu"


def test_failure_message_is_the_verifiers(toy_card, warm_socket):
    verdict = graded(toy_card, ATTEMPTS / "partial.py", "warm", warm_socket)
    failed = [t for t in verdict["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["test_scales[cpu]"]
    assert failed[0]["message"] == "alpha must scale y"


def test_exception_in_attempt_names_the_line(toy_card, warm_socket):
    verdict = graded(toy_card, ATTEMPTS / "raises.py", "warm", warm_socket)
    assert verdict["status"] == "fail"
    assert all(
        t["message"] == "ValueError (your line 2): boom" for t in verdict["tests"]
    ), verdict


def test_unreadable_attempt(toy_card, tmp_path, warm_socket):
    path = tmp_path / "binary.py"
    path.write_bytes(b"\xff\xfe\x00bad")
    for mode in MODES:
        assert graded(toy_card, path, mode, warm_socket)["status"] == "error"


@pytest.mark.parametrize(
    ("wanted", "drill_device", "hidden"),
    [
        (["cpu"], None, True),
        (["cpu", "cuda"], "cpu", True),
        (["cpu", "cuda"], None, False),
    ],
)
def test_a_cpu_only_card_is_graded_with_cuda_hidden(
    monkeypatch, wanted, drill_device, hidden
):
    # With a GPU visible, a backward in the verifier's process starts autograd's device threads,
    # and every rank forked after it fails its own backward (seen on an H100 for ddp_gradients).
    import torch

    from drills.grading import child

    if drill_device:
        monkeypatch.setenv("DRILL_DEVICE", drill_device)
    else:
        monkeypatch.delenv("DRILL_DEVICE", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    asked = []  # torch keeps the first device count it reads: hiding after that is too late
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(1) or True)
    devices = child._devices(wanted, interpret=False)
    assert devices == ([drill_device] if drill_device else wanted)
    assert (child.os.environ["CUDA_VISIBLE_DEVICES"] == "") is hidden
    assert (
        bool(asked) is not hidden
    )  # grading on the CPU alone never asks CUDA anything
