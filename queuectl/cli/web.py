"""``queuectl web``: the dashboard in a browser (the optional ``web`` extra)."""

from __future__ import annotations

import logging
import re
import sys
import time

import click

from queuectl.cli.common import AppContext, db_option, pass_app, warn, why_unwritable

EXTRA_MODULES = frozenset({"aiohttp", "textual_serve"})

SHORT_IDLE_SECONDS = 10.0
"""An ``--idle-timeout`` below this (but 0) is warned of: it ends a tab before a person
can use it. Not refused: a test of the idle end waits one second, not ten."""
"""What the ``web`` extra adds; only their absence means the extra is missing."""


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; only loopback unless --allow-remote.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="Keep the token in this private file (0600; made with a new token if missing), "
    "so the URL stays the same across restarts. Default: a new token each start.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback. Anyone with the URL can run commands: "
    "prefer 'ssh -L'.",
)
@click.option("--read-only", is_flag=True, help="Serve a dashboard whose every action is off.")
@click.option(
    "--idle-timeout",
    default="30m",
    show_default=True,
    metavar="DURATION",
    help="End a session after this long without input (0: never).",
)
@db_option
@pass_app
def web(
    app: AppContext,
    host: str,
    port: int,
    open_browser: bool,
    token_file: str | None,
    allow_remote: bool,
    read_only: bool,
    idle_timeout: str,
) -> None:
    """Serve the dashboard to a browser, behind a token.

    Prints the URL to open (it holds the token) and serves until Ctrl+C. Each
    browser tab runs its own dashboard, as `queuectl tui` does, at most 8 at once.
    From another machine, forward the port rather than exposing it (-t lets Ctrl+C
    reach the server):

    \b
    ssh -t -L 8000:127.0.0.1:8000 server 'queuectl web'
    """
    from queuectl.timeutil import parse_duration, set_duration
    from queuectl.web import access

    idle_seconds = parse_duration(idle_timeout, what="--idle-timeout")
    if 0 < idle_seconds < SHORT_IDLE_SECONDS:
        # 1ms ended every tab at once ("idle for 0.001s"), without a word at start.
        warn(
            f"--idle-timeout {idle_timeout} ends a tab after {set_duration(idle_seconds)}"
            " without a key or a click; 0 never ends one"
        )
    if token_file is not None and not token_file.strip():
        # Taken as no file, `--token-file "$F"` with F unset served a new token each start.
        raise click.BadParameter(
            f"a file is needed (got {token_file!r})", param_hint="--token-file"
        )
    host = access.bare_host(host)
    remote = access.check_listen_host(host, allow_remote=allow_remote)
    try:
        from queuectl.web.server import WebSettings, serve
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in EXTRA_MODULES:
            raise
        from queuectl.extras import install_hint

        raise click.ClickException(
            f"the web dashboard is an optional extra: {install_hint('web')}"
        ) from None
    token = access.read_token_file(token_file) if token_file is not None else access.new_token()
    # A bad database fails here, before anything listens. A read-only dashboard opens it
    # as read-only commands do, and creates none where there is none yet.
    if not read_only and (because := why_unwritable(app.resolve())) is not None:
        # As ``queuectl tui`` does: served to write, it offered every change and each
        # failed when tried ("attempt to write a readonly database"), with no word at start.
        warn(f"{because}: served read-only, as --read-only would")
        read_only = True
    app.read_only = read_only
    warnings: list[str] = []
    location = app.open(report=warnings.append)
    from queuectl.location import describe
    from queuectl.store import db

    if db.is_stand_in():
        raise click.ClickException(
            f"no queuectl database exists at {describe(location)} yet, and a read-only "
            "dashboard creates none: any command that writes (queuectl enqueue, worker start) "
            "creates it"
        )
    for warning in warnings:
        warn(warning)

    db.close_database()  # the sessions open their own; the server never reads it
    settings = WebSettings(
        location=location,
        token=token,
        host=host,
        port=port,
        remote=remote,
        read_only=read_only,
        idle_timeout=idle_seconds,
    )
    throttle = _log_to_stderr(token)
    if remote:
        logging.getLogger("queuectl.web").warning(
            "serving beyond this machine over plain HTTP: the token crosses the network "
            "unencrypted; prefer 'ssh -L', or put TLS in front"
        )
    import asyncio
    import signal

    try:
        stopped_by = asyncio.run(serve(settings, announce=_announce, open_browser=open_browser))
    finally:
        throttle.say_left_out()
    if stopped_by == signal.SIGINT:
        sys.exit(130)  # Ctrl+C, as every command exits after it


def _announce(url: str) -> None:
    """The tokened URL, alone on its line on stdout, at once (a script may be waiting for it)."""
    sys.stdout.write(url + "\n")
    sys.stdout.flush()


def _log_to_stderr(token: str) -> _Throttle:
    """Session and server news on stderr, one ``queuectl web: …`` line each, never
    holding ``token``.

    Replaces the handler an earlier call installed (tests run the command many
    times in one process, each with its own stderr).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("queuectl-web")
    handler.setFormatter(_OneLine(token))
    throttle = _Throttle()
    handler.addFilter(throttle)
    loggers = (("queuectl.web", logging.INFO), ("aiohttp", logging.WARNING))
    for name, level in (*loggers, ("asyncio", logging.WARNING)):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "queuectl-web"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
    return throttle


THROTTLE_SECONDS = 60.0


class _Throttle(logging.Filter):
    """aiohttp's and asyncio's news, each kind at most once a minute.

    They log what a client did wrong ("Error handling request" for a request it
    cannot parse): anyone who could reach the port, token or not, wrote a line
    into the server's log per request, thousands a second. Each kind (logger,
    message, and for a request it could not parse, what the parser said is wrong)
    is shown the first time, then once a minute with how many were left out; the
    server's own lines (``queuectl.web``) are never held back.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown_at: dict[tuple[str, str, str], float] = {}
        self._left_out: dict[tuple[str, str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("queuectl."):
            return True
        kind = (record.name, str(record.msg), _parse_problem(record))
        now = time.monotonic()
        shown = self._shown_at.get(kind)
        if shown is not None and now - shown < THROTTLE_SECONDS:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        self._shown_at[kind] = now
        if left_out := self._left_out.pop(kind, 0):
            # Since the last such line, which may be long before the last minute.
            record.msg = f"{record.msg} (and {left_out} more like it since the last such line)"
        return True

    def say_left_out(self) -> None:
        """As the server stops, how many of each kind were left out since last shown: a
        burst of bad requests followed by none was counted and never said."""
        for (_name, message, problem), count in self._left_out.items():
            like = re.sub(r"%[sdr]", "…", message) + (f" ({problem})" if problem else "")
            logging.getLogger("queuectl.web").info(
                "%s more like %s since the last such line", count, f'"{like}"'
            )
        self._left_out.clear()


def _parse_problem(record: logging.LogRecord) -> str:
    """What aiohttp's parser said is wrong with a request (``Invalid header token``), from
    the record's exception; ``""`` for a record without one. Every unparsable request
    was one kind: an ``HTTP/9.9`` probe after a bad header was counted "like it" and
    never described (a web user's try). Only the leading words, before any quoted bytes
    or figures (``Bad status line 'HTTP/9.9'``): the parser's own, a short fixed set,
    so a client cannot make every request a kind of its own."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None:
        return ""
    text = " ".join(str(exc).split())
    _, found, said = text.partition("message: ")
    words = re.match(r"[A-Za-z][A-Za-z -]*", said) if found else None
    return words.group().strip()[:60] if words else type(exc).__name__


class _OneLine(logging.Formatter):
    """``queuectl web: …``, one line, inert, whatever is logged: aiohttp logs a request it
    cannot parse with its traceback, so anyone who reached the port, token or not, could
    write multi-line tracebacks into the server's log, one per request."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        from urllib.parse import unquote

        from queuectl.errors import first_line
        from queuectl.textsafe import one_line

        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            said = first_line(error)
            if said.endswith(":"):  # aiohttp's "400, message:" puts the reason below it
                said = " ".join(str(error).split())[:REASON_CELLS]
            message = f"{message}: {said}"
        # A request it cannot parse is quoted whole ("Bad status line: … b'GET
        # /?token=… HTTP/9.9'"): the token then sat in a log others may read. The
        # token itself goes, however the request spelled its name (``%74oken=``) or
        # where it put it (a header); so does any value after a ``token=``.
        message = TOKEN_IN_URL.sub(r"\1…", message)
        if self.token in unquote(message):  # spelled with escapes: its letters as %XX
            message = unquote(message)
        message = message.replace(self.token, "…")
        return "queuectl web: " + one_line(message)


TOKEN_IN_URL = re.compile(r"(\btoken=)[^\s&'\"#]+")
"""A token in a URL a log line quotes; kept out of every line the server logs."""


REASON_CELLS = 200
"""How much of an unparsable request's reason a log line keeps: it may quote the request."""
