"""The light commands import none of the heavy modules."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "click",
    "torch",
    "numpy",
    "triton",
    "transformers",
    "sqlite_utils",
    "jinja2",
    "rich",
    "pytest",
)

PROBE = """
import sys
sys.argv = ["drill", *{args!r}]
from drills.fast import main
try:
    main()
except SystemExit:
    pass
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["today"],
        ["list"],
        ["--help"],
        ["today", "--json"],
        ["list", "--json"],
        ["status"],
        [],
    ],
)
def test_light_commands_stay_light(args, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DRILL_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "TZ": "UTC",
    }
    # the first run creates the database (sqlite-utils allowed); the second must be light
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout


def test_today_json_is_json(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DRILL_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "TZ": "UTC",
    }
    out = subprocess.run(
        [sys.executable, "-m", "drills", "today", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "attention" in [e["card"] for e in json.loads(out.stdout)["plan"]]
