"""The static dashboard in a real headless browser (Debian's chromium, driven by
selenium through chromedriver), opened from file:// with no server: the fleet chart,
the heat map and its drill-down to results and evidence, the diff of two runs, each
target's history, hostile names shown as text, and screenshots checked as images."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cisaudit import api
from cisaudit.cli import main
from cisaudit.store import Store

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "bundles" / "lab-docker.json"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("dash")
    store = Store(f"sqlite:///{root / 'store.db'}")
    catalog = api.load_catalog()
    waivers_file = root / "w.yaml"
    waivers_file.write_text(
        "waivers:\n  - id: W\n    controls: ['2.2']\n    reason: r\n"
        "    approved_by: a\n    expires: 2027-06-01\n"
    )
    from cisaudit.waivers import KnownControl, KnownControls, load_waivers

    known = KnownControls(
        KnownControl(p.id, c.id, c.check_slug)
        for p in catalog.packs.values()
        for c in p.controls.values()
    )
    ids = []
    for day, waived in ((1, True), (2, True), (3, False)):
        bundle = api.load_bundle(BUNDLE)
        for item in bundle.targets:
            item.groups = ["web"] if "weak" in item.name or "bare" in item.name else ["batch"]
        assert bundle.targets[0].name == "lab-bare"
        bundle.targets[0].name = HOSTILE  # in group web
        run = api.build_run(
            bundle.targets,
            catalog=catalog,
            selection=api.Selection(),
            started=f"2026-11-0{day}T02:00:00+00:00",
            options={"scope": "nightly"},
            waivers=load_waivers(waivers_file, known) if waived else None,
        )
        run.started_at = f"2026-11-0{day}T02:00:00+00:00"
        store.save(run, bundle.targets, scope="nightly")
        ids.append(run.run_id)
    out = root / "site"
    result = CliRunner().invoke(
        main, ["dashboard", "-o", str(out), "--store", f"sqlite:///{root / 'store.db'}"]
    )
    assert result.exit_code == 0, result.output
    return out, ids


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium and chromium-driver are required in CI (scripts/setup.sh)")
        pytest.skip("chromium or chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _ready(driver: Any) -> None:
    for _ in range(100):
        if driver.find_element("tag name", "body").get_attribute(
            "data-ready"
        ) == "1" and driver.find_elements("css selector", "#heat-table td.cell"):
            return
        time.sleep(0.05)
    raise AssertionError("the dashboard did not finish loading")


def _wait(driver: Any, selector: str) -> list[Any]:
    for _ in range(100):
        found = driver.find_elements("css selector", selector)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"nothing matches {selector}")


def _image_stats(path: Path) -> tuple[tuple[int, int], float, int]:
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        raw = rgb.tobytes()
        pixels = [raw[i : i + 3] for i in range(0, len(raw), 3)]
        busy = sum(1 for p in pixels if sum(p) < 700) / len(pixels)
        return rgb.size, busy, len(set(pixels))


def test_dashboard_in_a_real_browser(site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, ids = site
    browser.get((out / "index.html").as_uri())
    _ready(browser)
    assert browser.title == "cisaudit dashboard"  # the hostile name ran no script
    # the fleet score over time: one point per run, both series
    score = browser.find_element("css selector", "#fleet-svg polyline.score")
    assert len(score.get_attribute("points").split()) == 3
    assert browser.find_elements("css selector", "#fleet-svg polyline.unwaived")
    # heat map: 2 groups x the sections with verdicts
    rows = browser.find_elements("css selector", "#heat-table tbody tr")
    assert [r.find_element("tag name", "th").text for r in rows] == ["batch", "web"]
    first = out.parent / "overview.png"
    browser.save_screenshot(str(first))
    # drill-down: a cell opens its control results, a result opens its evidence
    cell = browser.find_element("css selector", '#heat-table td.cell[data-group="web"]')
    cell.click()
    results = _wait(browser, "#drill-table tbody tr")
    assert any(HOSTILE in r.text for r in results)  # printed as text
    failing = [r for r in results if "FAIL" in r.text] or results
    failing[0].click()
    evidence = _wait(browser, "#evidence-body .sha")
    assert len(evidence[0].text.split()[-1]) == 64
    second = out.parent / "drill.png"
    browser.save_screenshot(str(second))
    # the diff of the first and the last run: the failures the waiver had covered return
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "diff-a")).select_by_value(ids[0])
    Select(browser.find_element("id", "diff-b")).select_by_value(ids[2])
    browser.find_element("id", "diff-go").click()
    for _ in range(100):
        if "new failure" in browser.find_element("id", "diff-counts").text:
            break
        time.sleep(0.05)
    assert browser.find_element("id", "diff-counts").text.startswith("5 new failure(s)")
    assert len(browser.find_elements("css selector", "#diff-table tr.new")) == 5
    # each target's history
    names = [
        r.find_element("tag name", "td").text
        for r in browser.find_elements("css selector", "#target-table tbody tr")
    ]
    assert HOSTILE in names and "lab-weak" in names
    third = out.parent / "diff.png"
    browser.save_screenshot(str(third))
    # the screenshots are real pictures of a drawn page, and the page changed between them
    for shot in (first, second, third):
        size, busy, colours = _image_stats(shot)
        assert size[0] == 1280 and busy > 0.03 and colours > 50, (shot, busy, colours)
    assert first.read_bytes() != second.read_bytes() != third.read_bytes()
