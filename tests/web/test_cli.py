"""``queuectl web`` refusing what it must refuse: one line on stderr, the documented exit code."""

from __future__ import annotations

import logging
import os
import socket
import sys

import pytest
from click.testing import CliRunner

import queuectl
from queuectl.cli import cli
from tests.test_import_hygiene import loaded_modules


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_a_host_beyond_loopback_is_refused_without_allow_remote(db_path, host):
    line = one_line_error(run("web", "--host", host), 2)
    assert "--allow-remote" in line and "ssh -L" in line
    assert not os.path.exists(db_path)  # refused before the database is even opened


def test_without_the_extra_it_says_how_to_install_it(db_path, monkeypatch):
    for name in [m for m in sys.modules if m.startswith(("queuectl.web.server", "aiohttp"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not installed
    line = one_line_error(run("web"), 1)
    # This queuectl's source folder, not the name: PyPI's queuectl is another project.
    source = os.path.dirname(os.path.dirname(os.path.abspath(queuectl.__file__)))
    assert line == f"Error: the web dashboard is an optional extra: pip install '{source}[web]'"


def test_the_install_hint_outside_a_source_folder_never_names_pypi(monkeypatch, tmp_path):
    from queuectl import extras

    monkeypatch.setattr(extras, "__file__", str(tmp_path / "site" / "queuectl" / "extras.py"))
    assert extras.install_hint("postgres") == (
        "pip install '.[postgres]' in queuectl's source folder (PyPI's queuectl is another project)"
    )


def test_a_token_file_others_can_read_is_refused(db_path, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("a" * 32)
    token_file.chmod(0o644)
    line = one_line_error(run("web", "--token-file", str(token_file)), 1)
    assert "chmod 600" in line
    assert not os.path.exists(db_path)


def test_an_empty_token_file_is_a_usage_error_not_a_new_token(db_path):
    """``--token-file "$F"`` with F unset served a new token, where the script meant the
    URL to stay the same across restarts."""
    line = one_line_error(run("web", "--token-file", ""), 2)
    assert "Invalid value for --token-file: a file is needed (got '')" in line


def test_a_token_file_that_cannot_be_read_is_named(db_path):
    """EIO while reading it was reported as "cannot write the output"."""
    line = one_line_error(run("web", "--token-file", "/proc/self/mem"), 1)
    assert line == "Error: cannot read the token file /proc/self/mem: Input/output error"


@pytest.mark.parametrize("value", ["soon", "-5s"])
def test_a_bad_idle_timeout_is_a_usage_error(db_path, value):
    line = one_line_error(run("web", "--idle-timeout", value), 2)
    assert "--idle-timeout" in line


def test_a_port_in_use_is_one_line(db_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("web", "--port", str(port)), 1)
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")


def test_an_unusable_database_fails_before_anything_listens(tmp_path):
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not a database" * 100)
    before = not_a_db.read_bytes()
    line = one_line_error(run("--db", str(not_a_db), "web", "--port", "0"), 1)
    assert "junk.db" in line
    assert not_a_db.read_bytes() == before


def test_the_cli_loads_nothing_of_the_server_until_web_runs():
    modules = loaded_modules("import queuectl.cli")
    assert not {m for m in modules if m.startswith(("aiohttp", "textual_serve", "queuectl.web"))}


def test_an_ipv6_host_in_brackets_as_in_a_url_is_the_address(db_path):
    """``--host '[::1]'`` was taken for a name: "cannot listen on [[::1]]:…: unknown error -2"."""
    with socket.socket(socket.AF_INET6) as taken:
        try:
            taken.bind(("::1", 0))
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc.strerror}")
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("web", "--host", "[::1]", "--port", str(port)), 1)
    assert line == f"Error: cannot listen on [::1]:{port}: address already in use"


@pytest.mark.parametrize("host", ["::ffff:127.0.0.1", "[::ffff:127.0.0.1]"])
def test_an_ipv4_address_written_in_ipv6_is_served_as_ipv4(db_path, host):
    """``::ffff:127.0.0.1`` was refused as reaching "anyone who reaches the port", and once
    taken for loopback Linux would not bind it ("invalid argument")."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("web", "--host", host, "--port", str(port)), 1)
    assert line == f"Error: cannot listen on 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize("host", ["[localhost]", "[::1", "::1]", "[127.0.0.1]"])
def test_brackets_around_anything_but_an_ipv6_address_are_a_usage_error(db_path, host):
    line = one_line_error(run("web", "--host", host), 2)
    assert line == f"Error: --host {host!r}: brackets hold an IPv6 address only"
    assert not os.path.exists(db_path)
    line = one_line_error(run("metrics", "--serve", f"{host}:9108"), 2)
    assert line == f"Error: --serve host {host!r}: brackets hold an IPv6 address only"


def test_a_read_only_dashboard_creates_no_database(tmp_path):
    """``status`` and every read-only command create nothing; ``web --read-only`` made the
    database and its folder, then served an empty queue."""
    missing = tmp_path / "not-yet" / "queue.db"
    line = one_line_error(run("--db", str(missing), "web", "--read-only", "--port", "0"), 1)
    assert line == (
        f"Error: no queuectl database exists at {missing} yet, and a read-only dashboard "
        "creates none: any command that writes (queuectl enqueue, worker start) creates it"
    )
    assert not missing.parent.exists()


def test_a_loopback_name_that_does_not_resolve_is_one_line(db_path):
    """``--host localhost.`` is loopback by name, so not asked of DNS beforehand, and the
    bind's failure to resolve it said "unknown error -2"."""
    try:
        socket.getaddrinfo("nothing.localhost.", None)
    except OSError:
        pass
    else:
        pytest.skip("this host resolves nothing.localhost.")
    line = one_line_error(run("web", "--host", "nothing.localhost.", "--port", "0"), 1)
    assert line == "Error: cannot resolve --host 'nothing.localhost.'"


def _unparsable_request(exc: Exception | None = None) -> logging.LogRecord:
    """aiohttp's record of a request it could not parse (``exc``: the parser's error)."""
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("127.0.0.1",),
        (type(exc), exc, None) if exc is not None else None,
    )


def test_bad_requests_left_out_of_the_log_are_counted_when_the_server_stops(caplog):
    """A burst of unparsable requests logged its first and counted the others for a line
    a minute later, which never came when no more did (a web user's try)."""

    from queuectl.cli.web import _Throttle

    throttle = _Throttle()
    assert [throttle.filter(_unparsable_request()) for _ in range(4)] == [True, False, False, False]
    with caplog.at_level("INFO", logger="queuectl.web"):
        throttle.say_left_out()
        throttle.say_left_out()  # said once
    assert [r.getMessage() for r in caplog.records] == [
        '3 more like "Error handling request from …" since the last such line'
    ]


def test_a_bad_request_after_a_quiet_spell_counts_those_left_out_since_the_last_line(
    monkeypatch,
):
    """Seven minutes after a burst, the next bad request said "(and 6 more like it in the
    last minute)": they were minutes old."""
    import importlib
    import logging

    web = importlib.import_module("queuectl.cli.web")  # the module, not its command
    now = [1000.0]
    monkeypatch.setattr(web.time, "monotonic", lambda: now[0])
    throttle = web._Throttle()

    def record() -> logging.LogRecord:
        return logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Bad request", (), None
        )

    assert [throttle.filter(record()) for _ in range(7)] == [True] + [False] * 6
    now[0] += 7 * 60
    late = record()
    assert throttle.filter(late)
    assert late.getMessage() == "Bad request (and 6 more like it since the last such line)"


def test_a_very_short_idle_timeout_is_warned_of_at_start(db_path):
    """``--idle-timeout 1ms`` ended every tab at once, and the server said nothing of it
    (a web user's try)."""
    pytest.importorskip("textual_serve", reason="the web extra is not installed")
    from tests.web.served import Served

    served = Served(db_path, "--idle-timeout", "1ms")
    said = served.wait_log("serving")
    served.stop()
    assert said.startswith(
        "Warning: --idle-timeout 1ms ends a tab after 0.001s without a key or a click;"
        " 0 never ends one\n"
    ), said


def test_each_kind_of_unparsable_request_gets_its_own_line_and_count():
    """Every request the parser refused was one kind: an ``HTTP/9.9`` probe after a bad
    header was counted "like it" and never described (a web user's try). Kinds go by
    the parser's words, not the bytes it quotes, which a client chooses."""

    from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader

    from queuectl.cli.web import _Throttle

    throttle = _Throttle()
    shown = [
        throttle.filter(_unparsable_request(exc))
        for exc in (
            InvalidHeader(b"Bad Header Line"),
            BadStatusLine("HTTP/9.9"),
            BadStatusLine("HTTP/9.8"),  # the same kind: its quoted bytes differ only
            BadHttpMessage("Invalid character in Content-Length: b'abc'"),
            InvalidHeader(b"Other"),
        )
    ]
    assert shown == [True, True, False, True, False]
