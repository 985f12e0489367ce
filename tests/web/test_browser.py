"""The served dashboard in a real Chromium: it paints, keys reach it, and nothing outlives a tab.

The screen is a canvas, so the tests read effects: the database, the process
table, the pixels of a screenshot, and what the app drew, as text
(``tests.web.browser.Tab``), to know a pane is on screen before a key is pressed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store import db
from queuectl.web.child import SESSION_ENV
from tests.polling import wait_until
from tests.web.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KEEP_FRAMES,
    PAINT_TIMEOUT_MS,
    VIEWPORT,
    Tab,
    missing,
)
from tests.web.conftest import job_state, seed
from tests.web.served import Served


@pytest.fixture(scope="module")
def tab(browser, served) -> Iterator[Tab]:
    """One tab for the module's looks and keys: each new tab costs a session's start."""
    opened = Tab(browser, served)
    yield opened
    opened.close()


@pytest.fixture
def fresh_db(tmp_path) -> str:
    path = str(tmp_path / "served-queue.db")
    seed(path)
    return path


def test_the_tokened_url_loads_and_its_first_frame_paints(tab, served):
    assert tab.page.title() == "served-queue.db · queuectl"
    tab.wait_for_text("dead-1")  # the jobs table, read from the database
    # A blank or failed page is one or two colours; text in several colours is hundreds.
    assert tab.colours() > 50


def test_keys_reach_the_app_the_dlq_pane_retries_a_dead_job(tab, served):
    tab.wait_for_text("dead-1")
    tab.press("2", then_shows="Last error")  # a column only the DLQ pane has
    tab.page.keyboard.press("r")
    wait_until(lambda: job_state(served.db, "dead-1") == "pending", 10, "dead-1 to be pending")
    assert job_state(served.db, "done-1") == "completed"  # the retry went to the DLQ's row


def test_a_read_only_dashboard_takes_keys_and_changes_nothing(browser, fresh_db):
    server = Served(fresh_db, "--read-only")
    try:
        tab = Tab(browser, server)
        assert tab.page.title() == "served-queue.db (read-only) · queuectl"
        tab.wait_for_text("dead-1")
        tab.press("2", then_shows="Last error")
        tab.press("r", then_shows="read-only")
        tab.press("R", then_shows="read-only")  # no confirmation asked in vain either
        assert job_state(fresh_db, "dead-1") == "dead"
        tab.close()
    finally:
        server.stop()


def test_an_abrupt_browser_kill_leaves_no_app_behind(served, capsys):
    """Chromium killed with SIGKILL, as a crashed or killed screenshot run ends."""
    if reason := missing():  # it starts Chromium itself, not through the fixture
        pytest.skip(reason)
    before = len(served.sessions())
    with tempfile.TemporaryDirectory() as profile:
        chromium = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_ARGS, f"--user-data-dir={profile}", served.url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its group: the browser and every helper it started
        )
        try:
            during = len(served.wait_sessions(before + 1, timeout=PAINT_TIMEOUT_MS / 1000))
        finally:
            os.killpg(chromium.pid, signal.SIGKILL)
            chromium.wait()
        served.wait_sessions(before, timeout=5)
    after = len(served.sessions())
    with capsys.disabled():
        print(f"\nsession processes: before {before}, with the tab {during}, after kill {after}")
    assert (during, after) == (before + 1, before)


def test_an_export_downloads_by_its_key_and_no_cookie_is_ever_set(browser, fresh_db):
    """The token is never in a cookie (a browser sends one to every port of the host);
    the log view's export, a download the terminal's script opens with nothing added,
    is reached by its own key."""
    import sqlite3
    import time

    with sqlite3.connect(fresh_db) as connection:
        connection.execute(
            "INSERT INTO queuectl_run (job_id, run, attempt, worker_id, host, started_at,"
            " finished_at, outcome, exit_code, output) VALUES"
            " ('done-1', 1, 1, 'w1', 'h', ?, ?, 'succeeded', 0, 'the exported output')",
            (time.time() - 30, time.time() - 29),
        )
    server = Served(fresh_db)
    try:
        tab = Tab(browser, server)
        tab.wait_for_text("done-1")
        tab.press("Enter", then_shows="Runs")
        # The log view's own title: the output itself is on the detail screen as well,
        # and an "s" pressed there exports nothing.
        tab.press("l", then_shows="succeeded · 1 line")
        with tab.page.context.expect_event(
            "response", lambda response: "/download/" in response.url, timeout=PAINT_TIMEOUT_MS
        ) as delivered:
            tab.page.keyboard.press("s")
        response = delivered.value
        assert response.status == 200
        assert "token" not in response.url
        assert "attachment" in response.headers["content-disposition"]
        assert tab.page.context.cookies() == []
        tab.close()
    finally:
        server.stop()


def test_a_worker_started_from_the_browser_gives_its_jobs_no_session_variables(browser, fresh_db):
    """Workers inherit the dashboard's environment, and the browser session's held
    Textual's web driver, the tab's size as COLUMNS and ROWS and the server's pid: a
    job's Python saw a 155-column terminal, and a Textual job would draw for a browser."""
    server = Served(fresh_db)
    try:
        tab = Tab(browser, server)
        tab.wait_for_text("dead-1")
        tab.press("3", then_shows="Stop all")
        tab.press("s", then_shows="How many")
        tab.page.keyboard.press("Enter")
        wait_until(lambda: _workers(fresh_db) == 1, 20, "the worker the browser started")
        db.open_database(fresh_db)
        try:
            enqueuing.enqueue(JobSpec(command="env", id="env-1"), now=time.time())
        finally:
            db.close_database()
        wait_until(lambda: job_state(fresh_db, "env-1") == "completed", 20, "env-1 to run")
        names = {line.split("=", 1)[0] for line in _output(fresh_db, "env-1").splitlines()}
        assert names and not names & set(SESSION_ENV), names & set(SESSION_ENV)
        assert "QUEUECTL_JOB_ID" in names  # the job's own variables are there
    finally:
        subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "queuectl"), "worker", "stop"],
            env={**os.environ, "QUEUECTL_DB": fresh_db},
            capture_output=True,
            timeout=60,
        )
        server.stop()


def _workers(path: str) -> int:
    with sqlite3.connect(path) as connection:
        query = "SELECT COUNT(*) FROM queuectl_worker WHERE state NOT IN ('stopped', 'lost')"
        return connection.execute(query).fetchone()[0]


def _output(path: str, job_id: str) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT output FROM queuectl_job WHERE id = ?", (job_id,)
        ).fetchone()[0]


def test_keys_reach_the_dashboard_without_a_first_click(browser, served):
    """The page's body had the focus: keys did nothing until the person clicked."""
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.add_init_script(KEEP_FRAMES)
        page.goto(served.url)
        page.wait_for_selector("body.-first-byte", timeout=PAINT_TIMEOUT_MS)
        page.wait_for_function("() => window.__frames.includes('dead-1')", timeout=PAINT_TIMEOUT_MS)
        since = page.evaluate("window.__frames.length")
        page.keyboard.press("2")
        page.wait_for_function(
            "(since) => window.__frames.slice(since).includes('Last error')",
            arg=since,
            timeout=PAINT_TIMEOUT_MS,
        )
    finally:
        page.close()


def test_a_click_on_the_page_outside_the_terminal_leaves_it_the_keys(tab, served):
    """A click on the strip under the terminal's last row gave the focus to the page's
    body, and the next keys went nowhere, unsaid."""
    tab.wait_for_text("dead-1")
    tab.page.mouse.click(5, VIEWPORT["height"] - 2)
    assert tab.page.evaluate("document.activeElement.className").startswith("xterm-helper")
    tab.press("3", then_shows="Stop all")  # not the DLQ: another test may have emptied it


def _open_job_form(page, server: Served) -> None:
    """A fresh tab on ``server``, no click in it: once the Jobs pane is drawn, ``n``, and
    wait until the form is drawn."""
    page.add_init_script(KEEP_FRAMES)
    page.goto(server.url)
    page.wait_for_function("() => window.__frames.includes('dead-1')", timeout=PAINT_TIMEOUT_MS)
    since = page.evaluate("window.__frames.length")
    page.keyboard.press("n")
    page.wait_for_function(
        "(since) => window.__frames.slice(since).includes('shell command')",
        arg=since,
        timeout=PAINT_TIMEOUT_MS,
    )


def test_a_fresh_tab_types_into_the_job_form_without_a_first_click(browser, fresh_db):
    """Textual's web driver blurs the app at start-up, at times after the page's focus:
    with no click in the page, ``n`` opened the form with no field focused and what was
    typed was lost (the start dialog and the palette alike)."""
    server = Served(fresh_db)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _open_job_form(page, server)
        page.keyboard.type("echo typed", delay=30)
        page.keyboard.press("Control+s")
        wait_until(lambda: _commands(fresh_db) >= {"echo typed"}, 20, "the typed job")
    finally:
        page.close()
        server.stop()


def test_an_address_in_job_output_opens_no_tab_but_the_dashboard_still_opens_its_own(tab):
    """The terminal's link addon opened a plain URL from a job's output on one click
    (``window.open()`` with no address, then the address set): output is inert text."""
    assert tab.page.evaluate("window.open() === null")
    assert tab.page.evaluate("window.open.length") == 1  # the guard, not the native function


def _commands(path: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT command FROM queuectl_job")}


def _remove_database(path: str) -> None:
    """The database and its log files gone, as ``rm`` of them under a running server."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _why_it_ended(page, url: str) -> str:
    """Open ``url`` in ``page`` and return what the tab says, once its session has ended."""
    page.goto(url)
    page.wait_for_selector("body.-closed.-explained", timeout=PAINT_TIMEOUT_MS)
    return page.inner_text("#why")


def test_a_tab_whose_dashboard_cannot_start_shows_why(browser, fresh_db):
    """A database refused under a running server ended the tab with the generic "it was
    quit, the tab lost its connection, …": only the server's log said why."""
    server = Served(fresh_db)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _remove_database(fresh_db)
        with open(fresh_db, "wb") as junk:
            junk.write(b"not a database at all " * 200)
        why = _why_it_ended(page, server.url)
        assert why.startswith("The dashboard could not start: ") and "served-queue.db" in why, why
        assert not page.is_visible("#causes")
    finally:
        page.close()
        server.stop()


def test_a_database_gone_since_the_server_started_is_not_made_again_by_a_new_tab(browser, fresh_db):
    """A tab opened after the database was deleted (or its folder moved) made a new,
    empty one in its place, and the tabs already open then read that empty queue."""
    server = Served(fresh_db)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _remove_database(fresh_db)
        why = _why_it_ended(page, server.url)
        assert why.startswith("The dashboard could not start: ") and "is gone" in why, why
        assert not os.path.lexists(fresh_db)
    finally:
        page.close()
        server.stop()


def test_a_tab_whose_dashboard_was_quit_says_so(browser, fresh_db):
    """``q`` in the tab ended the session, and the page listed every possible cause
    ("quit, lost its connection, idle, or the server stopped") though the server knew."""
    server = Served(fresh_db)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.add_init_script(KEEP_FRAMES)
        page.goto(server.url)
        page.wait_for_function("() => window.__frames.includes('1 Jobs')", timeout=PAINT_TIMEOUT_MS)
        page.keyboard.press("q")
        page.wait_for_selector("body.-closed.-explained", timeout=PAINT_TIMEOUT_MS)
        assert page.inner_text("#why") == "The session ended: the dashboard quit"
        assert not page.is_visible("#causes")
        # Its title says so, and it stays ended: only a stop or a lost connection reconnects.
        assert page.title() == "ended · served-queue.db · queuectl"
    finally:
        page.close()
        server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_tab_comes_back_by_itself_once_a_stopped_server_is_back(browser, fresh_db, tmp_path):
    """A screen on the wall (``--idle-timeout 0``) stayed on "the server stopped" with a
    Restart button after the server was restarted: nobody is there to press it."""
    port = str(_free_port())
    same = ("--port", port, "--token-file", str(tmp_path / "token"), "--idle-timeout", "0")
    server = Served(fresh_db, *same)
    tab = Tab(browser, server)
    try:
        tab.wait_for_text("dead-1")
        assert server.stop() == 0
        tab.page.wait_for_selector("body.-closed.-explained", timeout=PAINT_TIMEOUT_MS)
        assert tab.page.inner_text("#why") == (
            "The session ended: the server stopped. This tab reconnects when it is back."
        )
        assert tab.page.title() == "reconnecting · served-queue.db · queuectl"
        server = Served(fresh_db, *same)  # the same address and token
        tab.page.wait_for_function(
            "() => document.body.classList.contains('-first-byte')"
            " && !document.body.classList.contains('-closed')",
            timeout=30_000,
        )
        tab.wait_for_text("dead-1")
        assert tab.page.title() == "served-queue.db · queuectl"
        server.wait_sessions(1)
    finally:
        tab.close()
        server.stop()


def test_a_tab_whose_server_goes_quiet_says_what_it_shows_may_be_stale(browser, fresh_db):
    """A stalled ``ssh -L`` tunnel, a network dropping packets or a stopped server closes
    no connection: a screen on the wall kept showing the last figures, as if current, with
    no sign. The page's pings go unanswered, and it says so until an answer comes."""
    server = Served(fresh_db, "--idle-timeout", "0")
    tab = Tab(browser, server, fake_clock=True)
    page = tab.page
    try:
        tab.wait_for_text("dead-1")
        assert not page.is_visible("#quiet")
        os.kill(server.pid, signal.SIGSTOP)
        try:
            # 5 s of the page's clock a step, until what was on its way has come in and
            # the silence is 15 s long.
            deadline = time.monotonic() + 30
            while not page.evaluate("document.body.classList.contains('-quiet')"):
                assert time.monotonic() < deadline, "the page never said the server was quiet"
                page.clock.fast_forward(5_000)
                page.wait_for_timeout(100)
            assert page.title() == "no answer · served-queue.db · queuectl"
            said = page.inner_text("#quiet")
            assert re.fullmatch(
                r"No answer from the server for \d+ s: what this tab shows may be out of date\."
                r" It carries on by itself once the server answers\.",
                said.replace("\n", " "),
            ), said
            # Over the key bar, not the header's job counts (a web user's try).
            box = page.locator("#quiet").bounding_box()
            assert box is not None and box["y"] > page.viewport_size["height"] / 2, box
        finally:
            os.kill(server.pid, signal.SIGCONT)
        page.wait_for_function(
            "() => !document.body.classList.contains('-quiet')", timeout=PAINT_TIMEOUT_MS
        )
        assert page.title() == "served-queue.db · queuectl"
        assert not page.evaluate("document.body.classList.contains('-closed')")
        tab.press("2", then_shows="dead-1")  # the same session, taking keys
        # The terminal's script logs the pong of its own one ping; ours it never sees.
        assert sum("ping=" in line for line in tab.console) <= 1, tab.console
    finally:
        tab.close()
        server.stop()


def test_a_server_back_with_another_token_offers_no_restart(browser, fresh_db):
    """The tab said to open the address the server printed, and still offered Restart,
    which showed a bare "403 Forbidden": the new token is not this page's."""
    port = str(_free_port())
    server = Served(fresh_db, "--port", port, "--idle-timeout", "0")
    tab = Tab(browser, server)
    try:
        tab.wait_for_text("dead-1")
        assert server.stop() == 0
        tab.page.wait_for_selector("body.-closed.-explained", timeout=PAINT_TIMEOUT_MS)
        assert tab.page.is_visible("#restart")
        server = Served(fresh_db, "--port", port, "--idle-timeout", "0")  # a new token
        tab.page.wait_for_selector("body.-refused", timeout=30_000)
        assert tab.page.inner_text("#why") == (
            "The server is back with another token: open the address it printed."
        )
        assert not tab.page.is_visible("#restart")
        assert not tab.page.is_visible("#restart-hint")
    finally:
        tab.close()
        server.stop()


ASKS_BEFORE_UNLOAD = """() => {
  const event = new Event("beforeunload", {cancelable: true});
  window.dispatchEvent(event);
  return event.defaultPrevented;
}"""
"""Whether the page would ask before unloading (this Chromium, driven by Playwright, closes
a page without showing the question, so its handler's answer is read instead)."""


def test_leaving_a_half_filled_job_form_asks_first(browser, fresh_db):
    """A reload or Ctrl+W (a word deleted in a terminal, the tab closed in a browser)
    ended the session without a word, with a half-filled form or staged config edits."""
    server = Served(fresh_db)
    tab = Tab(browser, server)
    try:
        tab.wait_for_text("dead-1")
        assert tab.page.evaluate(ASKS_BEFORE_UNLOAD) is False
        tab.press("n", then_shows="Command")
        tab.page.wait_for_function(ASKS_BEFORE_UNLOAD, timeout=PAINT_TIMEOUT_MS)
        tab.page.keyboard.press("Escape")  # the form closed: nothing left to lose
        tab.page.wait_for_function(f"() => !({ASKS_BEFORE_UNLOAD})()", timeout=PAINT_TIMEOUT_MS)
    finally:
        tab.close()
        server.stop()


def test_a_paste_holding_the_paste_end_stays_text_in_the_job_form(browser, fresh_db):
    """The browser's terminal wraps a paste in ESC [200~ … ESC [201~ and strips nothing:
    a pasted ESC [201~ ended the paste early and typed the rest as keys, and the form
    enqueued "echo SAFE-AEVIL" with no Enter pressed. The page drops ESC from a paste."""
    server = Served(fresh_db)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _open_job_form(page, server)
        since = page.evaluate("window.__frames.length")
        page.evaluate(
            """() => {
                const data = new DataTransfer();
                data.setData("text/plain", "echo SAFE-A\\x1b[201~\\rEVIL");
                const input = document.querySelector("#terminal .xterm-helper-textarea");
                input.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data,
                    bubbles: true, cancelable: true}));
            }"""
        )
        page.wait_for_function(
            "(since) => window.__frames.slice(since).includes('SAFE-A[201~')",
            arg=since,
            timeout=PAINT_TIMEOUT_MS,
        )
        assert not any("SAFE-A" in command for command in _commands(fresh_db))
        page.keyboard.press("Control+s")
        wait_until(lambda: _commands(fresh_db) >= {"echo SAFE-A[201~\nEVIL"}, 20, "the pasted job")
    finally:
        page.close()
        server.stop()


def test_the_palettes_screenshot_is_a_download(browser, fresh_db):
    """It opened the SVG in a new tab by a single-use link (a reload lost it), where
    README says a browser downloads it, as the log view's export."""
    server = Served(fresh_db)
    try:
        tab = Tab(browser, server)
        tab.wait_for_text("dead-1")
        tab.press("Control+p", then_shows="Search for commands")
        tab.page.keyboard.type("screenshot", delay=30)
        # Its help line: the title itself is drawn with the typed letters highlighted,
        # so the frames never hold "Screenshot" in one run (a CI run waited for it).
        tab.wait_for_text("Save an SVG")
        with tab.page.context.expect_event(
            "response", lambda response: "/download/" in response.url, timeout=PAINT_TIMEOUT_MS
        ) as delivered:
            tab.page.keyboard.press("Enter")
        response = delivered.value
        assert response.status == 200
        assert "attachment" in response.headers["content-disposition"]
        assert response.headers["content-type"].startswith("image/svg+xml")
        tab.close()
    finally:
        server.stop()
