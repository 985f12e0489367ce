"""Driving a served dashboard in Chromium: for the browser tests and the screenshot script.

Debian's ``chromium`` (Playwright cannot download its own browsers here) driven
by Playwright. The screen is a canvas, so what the app draws is read from the
terminal stream itself: a wrapper around the page's ``WebSocket`` keeps it as
text, which says when the app has drawn a pane before a key is pressed.
"""

from __future__ import annotations

import base64
import os
import shutil
from typing import Any

from tests.web.served import Served

CHROMIUM = (
    os.environ.get("QUEUECTL_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls home at start, and this machine's closed network
    # answers by refusing its connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why a browser cannot be driven here, or ``None`` when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests need playwright: pip install -e '.[test]'"
    return None


def launch(playwright: Any) -> Any:
    """Headless Chromium with a fresh profile (Playwright makes one per launch)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


VIEWPORT = {"width": 1280, "height": 800}
PAINT_TIMEOUT_MS = 20_000
"""A session's first frame, or a key's answer, on a shared machine with a cold app."""

KEEP_FRAMES = """
(() => {
  const Native = window.WebSocket;
  window.__frames = "";
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const decoder = new TextDecoder();
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") {
          window.__frames += decoder.decode(event.data, {stream: true});
        }
      });
    }
  };
})();
"""
"""Runs before the page's own script: what the app draws is kept in ``window.__frames``."""

COUNT_COLOURS = """
async (png) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const image = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  const colours = new Set();
  for (let i = 0; i < pixels.length; i += 4) {
    colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  }
  return colours.size;
}
"""


class Tab:
    """A page on a served dashboard, with the app's output readable as text."""

    def __init__(
        self,
        browser: Any,
        served: Served,
        viewport: dict[str, int] = VIEWPORT,
        *,
        fake_clock: bool = False,
    ) -> None:
        """``fake_clock``: the page's timers run on Playwright's clock, which a test can
        move forward (``page.clock.fast_forward``); it runs at the real pace meanwhile."""
        self.browser = browser
        self.page = browser.new_page(viewport=viewport)
        if fake_clock:
            self.page.clock.install()
        self.console: list[str] = []
        """What the page logged, its scripts' messages included."""
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.add_init_script(KEEP_FRAMES)
        self.page.goto(served.url)
        self.page.wait_for_selector("body.-first-byte", timeout=PAINT_TIMEOUT_MS)
        self.page.click(".xterm-screen")  # keyboard focus, as a person's first click gives it

    def wait_for_text(self, text: str, since: int = 0) -> None:
        """Until the app has drawn ``text`` (after ``since`` characters of its output)."""
        self.page.wait_for_function(
            "([text, since]) => window.__frames.slice(since).includes(text)",
            arg=[text, since],
            timeout=PAINT_TIMEOUT_MS,
        )

    def press(self, key: str, then_shows: str) -> None:
        """Press ``key`` and wait until the app draws ``then_shows`` in answer."""
        since = self.page.evaluate("window.__frames.length")
        self.page.keyboard.press(key)
        self.wait_for_text(then_shows, since)

    def colours(self) -> int:
        """How many distinct colours a screenshot of the tab holds (decoded by Chromium)."""
        png = base64.b64encode(self.page.screenshot()).decode()
        blank = self.browser.new_page()
        try:
            return blank.evaluate(COUNT_COLOURS, png)
        finally:
            blank.close()

    def close(self) -> None:
        self.page.close()
