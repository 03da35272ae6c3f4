"""Golden verdicts of the grading child: one fixture attempt per outcome."""

import pytest
from conftest import ATTEMPTS

from drills.grading import grade

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
    "banned_alias.py": ("banned", 0, 0, ["torch.add", "line 5"]),
    "banned_method.py": ("banned", 0, 0, ["torch.Tensor.add", "line 2"]),
    "banned_getattr.py": ("banned", None, None, ["torch.add", "line 7"]),
    "noisy_pass.py": ("pass", 3, 0, []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_verdicts(toy_card, name):
    status, passed, failed, words = CASES[name]
    verdict = grade(toy_card, ATTEMPTS / name)
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


def test_reference_passes_with_per_test_results(toy_card):
    verdict = grade(toy_card, toy_card.path / "reference.py")
    assert verdict["status"] == "pass"
    assert [t["name"] for t in verdict["tests"]] == [
        "test_adds[cpu]",
        "test_scales[cpu]",
        "test_default_alpha_is_one[cpu]",
    ]
    assert verdict["device"] == "cpu"


def test_failure_message_is_the_verifiers(toy_card):
    verdict = grade(toy_card, ATTEMPTS / "partial.py")
    failed = [t for t in verdict["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["test_scales[cpu]"]
    assert failed[0]["message"] == "alpha must scale y"


def test_exception_in_attempt_names_the_line(toy_card):
    verdict = grade(toy_card, ATTEMPTS / "raises.py")
    assert verdict["status"] == "fail"
    assert all(
        t["message"] == "ValueError (your line 2): boom" for t in verdict["tests"]
    ), verdict


def test_infinite_loop_times_out(toy_card):
    verdict = grade(toy_card, ATTEMPTS / "infinite_loop.py", timeout=8)
    assert verdict["status"] == "timeout"
    assert "longer than 8 s" in verdict["message"]


def test_gigantic_output_is_cut_off(toy_card):
    verdict = grade(toy_card, ATTEMPTS / "huge_print.py")
    assert verdict["status"] == "error"
    assert "MiB of output" in verdict["message"]


def test_unreadable_attempt(toy_card, tmp_path):
    path = tmp_path / "binary.py"
    path.write_bytes(b"\xff\xfe\x00bad")
    verdict = grade(toy_card, path)
    assert verdict["status"] == "error"


def test_memory_cap_turns_a_hog_into_a_verdict(toy_card):
    verdict = grade(toy_card, ATTEMPTS / "memory_hog.py")
    assert verdict["status"] == "fail"
    assert all("MemoryError" in t["message"] for t in verdict["tests"]), verdict
