"""`drill report --html` in a real headless Chromium (the system's package, driven by
playwright): no console errors, no request leaves the page, every chart has data, user text is
escaped, and a screenshot is kept (its path is printed)."""

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from test_report import BANK, EVIL_TITLE, EVIL_TOPIC, live, make_bank

CHARTS = ("heatmap", "strength", "forecast", "solve")
OUTPUT = Path(os.environ.get("DRILL_TEST_OUTPUT", "/tmp/drill-test-output"))


def chromium() -> str:
    """The system's Chromium; installed from Debian's packages when missing and we may."""
    names = ("chromium", "chromium-browser", "google-chrome")
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["install"], ["update"], ["install"]):  # update only if needed
            args = ["apt-get", *step] + (
                ["-y", "-qq", "chromium"] if step == ["install"] else ["-qq"]
            )
            done = subprocess.run(
                args, env=env, capture_output=True, timeout=600, check=False
            )
            if step == ["install"] and done.returncode == 0:
                break
        found = shutil.which("chromium")
    if not found:
        pytest.skip(
            "no Chromium: install the system package (`apt-get install chromium`); "
            "the test could not install it (not root, or no apt-get)"
        )
    return found


def test_report_page_in_headless_chromium(tmp_path, monkeypatch, capsys):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install -e '.[test]' brings playwright"
    )
    browser_path = chromium()
    monkeypatch.setenv("DRILL_CARDS", str(make_bank(tmp_path / "bank")))
    monkeypatch.setenv("DRILL_WARM", "0")
    (tmp_path / "work").mkdir()
    live(120, datetime(2026, 11, 29, 9, 0).astimezone(), tmp_path / "work")
    from engine import paths
    from engine.store import Store

    Store(paths.db_path()).set_setting("interview_date", "2026-12-20")
    page_path = tmp_path / "report.html"
    made = subprocess.run(
        [sys.executable, "-m", "drills", "report", "--html", str(page_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"wrote {page_path}" in made.stdout

    errors, requests, dialogs = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: dialogs.append(d.message) or d.dismiss())
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri(), wait_until="load")
        load_ms = page.evaluate(
            "performance.getEntriesByType('navigation')[0].loadEventEnd"
        )
        charts = {
            name: page.evaluate(
                """name => {
                const fig = document.getElementById('chart-' + name);
                const svg = fig && fig.querySelector('svg');
                const marks = fig ? [...fig.querySelectorAll('[id^="data-' + name + '"]')] : [];
                const drawn = marks.map(m => m.getBBox()).filter(b => b.width * b.height > 0);
                const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                return {has: fig && fig.dataset.hasData, width: box.width,
                        height: box.height, marks: marks.length, drawn: drawn.length};
            }""",
                name,
            )
            for name in CHARTS
        }
        text = page.inner_text("body")
        counts = page.evaluate(
            "({scripts: document.scripts.length, imgs: document.images.length,"
            " bolds: [...document.querySelectorAll('b')].map(b => b.textContent)})"
        )
        shot = tmp_path / "report-screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    OUTPUT.mkdir(parents=True, exist_ok=True)
    kept = OUTPUT / "report-screenshot.png"
    shutil.copyfile(shot, kept)
    with capsys.disabled():
        print(
            f"\nreport page {page_path.stat().st_size / 1024:.0f} KiB, loaded in "
            f"{load_ms:.0f} ms; screenshot: {kept}"
        )
    assert errors == [] and dialogs == []
    assert requests == [page_path.as_uri()]  # the page itself, nothing else
    for name, c in charts.items():
        assert c["has"] == "1" and c["width"] > 200 and c["height"] > 80, (name, c)
        assert c["drawn"] > 0, (name, c)
    # user text: shown as written, never run or parsed as markup
    assert counts["scripts"] == 0 and counts["imgs"] == 0
    assert EVIL_TITLE in text and EVIL_TOPIC in text
    assert "bold" not in counts["bolds"]
    assert all(BANK[s][0] in text for s in ("attention", "sampling"))
    assert "Interview on 2026-12-20: 21 days left" in text and "Top-p sampling" in text
    assert shot.stat().st_size > 20_000
