"""The web page at `/`, driven in headless Chromium (Debian's package) by Playwright.

The test installs Chromium with apt-get when it is missing (as root, as on the project's machines).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from service.api.diagram import GREEN, RED

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=True)
            subprocess.run(install, capture_output=True, check=True)
        path = shutil.which("chromium")
    assert path, "Chromium could not be installed"
    return path


@pytest.fixture
def page(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(base_url + "/")
        yield page
        browser.close()


def test_submit_watch_picture_and_sortable_table(page, keys, start_worker, tmp_path):
    start_worker()
    page.fill("#key", keys["acme"])
    page.click("#submit")  # the worked example is the page's default
    page.wait_for_selector("#nodes:not([hidden])", timeout=60_000)
    page.wait_for_selector("#diagram svg", timeout=30_000)
    assert page.text_content("#job-status") == "succeeded"
    assert '"f":-12' in page.text_content("#job-outputs")

    svg = page.locator("#diagram svg")
    greens = svg.locator(f"text[fill='{GREEN.lower()}'], text[fill='{GREEN}']").all_text_contents()
    reds = svg.locator(f"text[fill='{RED.lower()}'], text[fill='{RED}']").all_text_contents()
    assert sorted(greens) == sorted(["-2", "5", "-4", "3", "-12"])
    assert sorted(reds) == sorted(["-4", "-4", "3", "-4", "1"])
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

    rows = lambda: page.locator("#node-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")  # noqa: E731 - a one-line helper, read like the page it reads
    assert rows() == ["x", "y", "z", "q", "f"]
    page.click("th[data-key=grad]")
    assert rows()[-2:] == ["f", "z"] and set(rows()[:3]) == {"x", "y", "q"}  # ascending: -4 -4 -4 1 3
    page.click("th[data-key=grad]")
    assert rows()[:2] == ["z", "f"]


def test_problems_are_shown_with_their_paths(page, keys):
    page.fill("#key", keys["acme"])
    page.fill("#graph", '{"inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "w"]}]}')
    page.fill("#inputs", '{"x": 1}')
    page.click("#submit")
    page.wait_for_selector("#problems:not([hidden])", timeout=20_000)
    assert "graph.gates[0].inputs[1]: unknown node 'w'" in page.text_content("#problems")


def test_docs_list_the_operations_and_load_nothing_from_outside(base_url):
    from playwright.sync_api import sync_playwright

    requested = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(base_url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock-summary-path").all_text_contents()
        browser.close()
    assert any("/v1/graphs" in op for op in operations) and any("/v1/jobs/{job_id}/nodes" in op for op in operations)
    outside = [url for url in requested if not url.startswith(base_url) and not url.startswith("data:")]
    assert outside == [], outside


def test_the_form_reads_as_written_and_says_each_problem_once(page, keys):
    graph = page.input_value("#graph")
    assert graph.index('"name"') < graph.index('"inputs"') < graph.index('"gates"'), graph  # declared order
    page.fill("#key", keys["acme"])
    page.fill("#graph", '{"inputs": ["x"], "gates": [{"id": "g", "op": "pow", "inputs": ["x", "w"]}]}')
    page.fill("#inputs", '{"x": 1}')
    page.click("#submit")
    page.wait_for_selector("#problems:not([hidden])", timeout=30_000)
    lines = page.locator("#problems li").all_text_contents()
    assert lines == [
        "graph.gates[0].op: must be 'add' or 'mul', not 'pow'",
        "graph.gates[0].inputs[1]: unknown node 'w'",
    ]


def test_a_refused_key_is_explained_for_people(page):
    page.fill("#key", "gg_notakey_nope")
    page.click("#submit")
    page.wait_for_selector("#problems:not([hidden])", timeout=30_000)
    text = page.text_content("#problems")
    assert "API key was not accepted" in text and "gategraph keys create" in text and "Authorization" not in text
