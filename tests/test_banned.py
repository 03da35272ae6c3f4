import pytest

from drills.grading.banned import RuntimeGuard, static_violations

SDPA = "torch.nn.functional.scaled_dot_product_attention"
BANNED = [
    SDPA,
    "torch.nn.MultiheadAttention",
    "torch.nn.attention",
    "torch.Tensor.softmax",
    "torch._VF",
]


@pytest.mark.parametrize(
    "source, name, line",
    [
        (
            "import torch\ny = torch.nn.functional.scaled_dot_product_attention(q, k, v)",
            SDPA,
            2,
        ),
        (
            "from torch.nn import functional as G\n\nG.scaled_dot_product_attention(q, k, v)",
            SDPA,
            3,
        ),
        (
            "import torch.nn.functional as F\nf = F.scaled_dot_product_attention",
            SDPA,
            2,
        ),
        (
            "from torch.nn.functional import scaled_dot_product_attention as sdpa",
            SDPA,
            1,
        ),
        (
            "import torch as t\nm = t.nn.MultiheadAttention(8, 2)",
            "torch.nn.MultiheadAttention",
            2,
        ),
        ("from torch.nn.attention import sdpa_kernel", "torch.nn.attention", 1),
        ("import torch.nn.attention", "torch.nn.attention", 1),
        ("def f(x):\n    return x.softmax(-1)", "torch.Tensor.softmax", 2),
        ("def f(x):\n    return (x * 2).softmax(-1)", "torch.Tensor.softmax", 2),
        # a private name is banned wherever its package re-exports it
        (
            "import torch.nn.modules.rnn as r\nr._VF.lstm_cell(x, hx, w, u)",
            "torch._VF",
            2,
        ),
        ("from torch.nn.functional import _VF", "torch._VF", 1),
    ],
)
def test_static_violations_found(source, name, line):
    found = static_violations(source, BANNED)
    assert [(v.name, v.line) for v in found][:1] == [(name, line)]
    assert "from scratch" in found[0].describe()


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ny = torch.softmax(x, -1)",  # torch.softmax is not banned in this list
        "import torch.nn.functional as F\ny = F.softmax(x, -1)",
        "def scaled_dot_product_attention(q, k, v):\n    return q",  # the contract's own name
        "import torch\nclass MultiHeadAttention(torch.nn.Module):\n    pass",
        "class Cell:\n    _VF = None\n\nCell._VF",  # the user's own private name
    ],
)
def test_allowed_code_is_not_flagged(source):
    assert static_violations(source, BANNED) == []


def test_syntax_error_raises():
    with pytest.raises(SyntaxError):
        static_violations("def f(:\n", BANNED)


def test_a_banned_namespace_leaves_torch_working(tmp_path):
    """Banning `torch._C._VariableFunctions` (the attention cards do) is a static ban only: the
    run-time guard must not replace the namespace, or `1 - x` (Tensor.__rsub__) breaks for
    every solution."""
    import importlib.util

    import torch

    attempt = tmp_path / "attempt.py"
    attempt.write_text("def f(x):\n    return 1 - x\n")
    namespace = torch._C._VariableFunctions
    guard = RuntimeGuard(
        str(attempt), ["torch._C._VariableFunctions", "torch.ops.aten"]
    )
    try:
        guard.install()
        assert torch._C._VariableFunctions is namespace
        spec = importlib.util.spec_from_file_location("attempt", attempt)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert torch.equal(module.f(torch.ones(2)), torch.zeros(2))
    finally:
        torch._C._VariableFunctions = namespace
