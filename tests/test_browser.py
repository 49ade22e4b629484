"""What a reader sees: every page of the built book opened in headless Chromium, offline.

Checks that math is rendered by MathJax (no raw TeX left, no MathJax error boxes), that every
image loads, that no cell shows an error, and that the page raises no JavaScript error. A
screenshot of each page is saved under the test build folder (_build/test/screenshots/).
Skips with its reason when Chromium or Playwright is missing (.ci/run installs Chromium).
"""

from __future__ import annotations

import shutil

import pytest

from conftest import TEST_BUILD
from test_book import toc_files

pytestmark = [pytest.mark.book, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep Chromium off the (closed) network and quiet as root in a container.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# sphinx-thebe's script and sphinx-book-theme's header both declare this constant; harmless
# (thebe is not used) and not ours to fix.
KNOWN_UPSTREAM_JS_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

READ_PAGE = """() => {
  const math = Array.from(document.querySelectorAll('.math'));
  const unrendered = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const text = document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText;
  return {
    n_math: math.length,
    unrendered: unrendered,
    merrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80)),
    raw_dollars: text.includes('$$'),
    broken_images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    n_images: document.images.length,
    errors: document.querySelectorAll('.output.traceback, .output.stderr, .output.error').length,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium not found (Debian package `chromium`); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.mark.parametrize("page_name", toc_files())
def test_reader_sees_a_clean_page(built_book, browser, page_name):
    shots = TEST_BUILD / "screenshots"
    shots.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: None if str(exc) in KNOWN_UPSTREAM_JS_ERRORS
            else js_errors.append(str(exc)))
    page.goto((built_book / f"{page_name}.html").as_uri(), wait_until="load")
    if page.evaluate("() => document.querySelectorAll('.math').length") > 0:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")
    seen = page.evaluate(READ_PAGE)
    page.screenshot(path=str(shots / f"{page_name.replace('/', '_')}.png"), full_page=False)
    page.close()

    assert not seen["unrendered"], f"{page_name}: math left unrendered: {seen['unrendered'][:5]}"
    assert not seen["merrors"], f"{page_name}: MathJax errors (undefined macro?): {seen['merrors'][:5]}"
    assert not seen["raw_dollars"], f"{page_name}: raw $$ visible in the text"
    assert not seen["broken_images"], f"{page_name}: images that do not load: {seen['broken_images']}"
    assert seen["errors"] == 0, f"{page_name}: {seen['errors']} cell(s) show an error or stderr"
    assert not js_errors, f"{page_name}: JavaScript errors: {js_errors[:3]}"
