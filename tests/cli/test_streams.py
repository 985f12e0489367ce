"""The contract where the process meets its surroundings: full disks, closed streams,
readers that leave, Ctrl+C, and input shaped to break the parser. Real processes,
since a ``CliRunner`` has neither file descriptors nor signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.polling import wait_until

QUEUECTL = [sys.executable, "-m", "queuectl"]


@pytest.fixture
def cli(db_path):
    """Run ``queuectl`` on the test's SQLite file; extra keywords go to ``subprocess.run``."""
    env = {**os.environ, "QUEUECTL_DB": db_path}

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        if "stdout" in kwargs:
            kwargs.setdefault("stderr", subprocess.PIPE)
        else:
            kwargs.setdefault("capture_output", True)
        kwargs.setdefault("env", env)
        kwargs.setdefault("text", True)
        return subprocess.run([*QUEUECTL, *args], timeout=60, **kwargs)

    run.env = env
    return run


def _jobs(cli) -> list[dict]:
    return json.loads(cli("list", "--json", "--all").stdout)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_that_cannot_be_written_is_one_line_and_what_was_done_stays(cli):
    with open("/dev/full", "w") as full:
        added = cli("add", "--", "echo", "x", stdout=full)
        listed = cli("list", "--json", stdout=full)
        status = cli("status", stdout=full)
    for result in (added, listed, status):
        assert result.returncode == 1
        assert (
            result.stderr == "Error: cannot write the output: [Errno 28] No space left on device\n"
        )
    assert [job["command"] for job in _jobs(cli)] == ["echo x"]  # the job was stored


def test_closed_standard_streams_are_nothing_to_read_and_nowhere_to_print(cli):
    job_id = cli("add", "--", "true").stdout.strip()
    shown = subprocess.run(
        [*QUEUECTL, "show", job_id],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        timeout=60,
        stderr=subprocess.PIPE,
        text=True,
        close_fds=True,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert shown.returncode == 0 and shown.stderr == ""
    enqueued = subprocess.run(
        [*QUEUECTL, "enqueue", "-"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )
    # Nothing to queue is no misuse: a note, exit 0 (a cron pipeline with no work today).
    assert enqueued.returncode == 0
    assert enqueued.stderr == "nothing enqueued: the file holds no jobs\n"


def test_a_reader_that_leaves_early_is_exit_0_for_every_command(cli):
    """``set -o pipefail`` scripts failed on ``status`` and ``stats`` (Rich exits 1 on a
    broken pipe), not on ``list`` (click). The reader is ``true``, gone before the
    command's first write, so every write meets the closed pipe."""
    cli("enqueue", "--file", "-", input="".join('{"command": "true"}\n' for _ in range(300)))
    for args in (["status"], ["stats"], ["list", "--all"], ["list", "--json", "--all"]):
        pipeline = subprocess.run(
            [
                "bash",
                "-c",
                'set -o pipefail; "$@" | true',
                "bash",
                *QUEUECTL,
                *args,
            ],
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pipeline.returncode == 0, (args, pipeline.stderr)
        assert "Traceback" not in pipeline.stderr and "Error" not in pipeline.stderr, args


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], ["worker", "--help"]])
def test_a_reader_gone_before_the_help_or_version_is_exit_0_too(cli, args):
    """The group's own --help and --version print while click parses, out of the
    commands' reach: click's answer to the broken pipe was exit 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has left before the first write
    try:
        result = cli(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_output_a_non_utf8_terminal_cannot_encode_is_escaped_not_a_traceback(cli):
    cli("add", "--id", "party", "--", "echo", "über", "🎉")
    shown = cli("show", "party", env={**cli.env, "PYTHONIOENCODING": "latin-1"}, text=False)
    assert shown.returncode == 0 and shown.stderr == b""
    assert b"echo \xfcber \\U0001f389" in shown.stdout  # latin-1's ü, and an escape
    listed = cli("list", env={**cli.env, "PYTHONIOENCODING": "ascii"})
    assert listed.returncode == 0 and listed.stderr == ""
    assert "echo \\xfcber \\U0001f389" in listed.stdout


def test_utf8_arguments_are_read_as_such_under_an_uncoerced_c_locale(cli):
    """With Python's locale coercion off, a C locale decodes arguments as ASCII: ``ü``
    was refused as "not valid UTF-8"; bytes that are not UTF-8 still are."""
    ascii_env = {**cli.env, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    added = subprocess.run(
        [*QUEUECTL, "add", "--id", "u", "--", "echo", "\u00fc".encode()],
        env=ascii_env,
        capture_output=True,
        timeout=60,
    )
    assert (added.returncode, added.stderr) == (0, b"")
    assert json.loads(cli("show", "u", "--json").stdout)["command"] == "echo \u00fc"
    refused = subprocess.run(
        [*QUEUECTL, "add", "--", "echo", b"\xff"], env=ascii_env, capture_output=True, timeout=60
    )
    assert (refused.returncode, refused.stderr) == (
        2,
        b"Error: argument 4 is not valid UTF-8 (byte 0xff at position 0)\n",
    )


def test_ctrl_c_exits_130_without_a_message(cli, db_path):
    job_id = cli("add", "--", "true").stdout.strip()  # pending: no worker
    waiting = subprocess.Popen(
        [*QUEUECTL, "wait", job_id],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Inside the command's loop once it watches the database (inotify, opened after
        # the database and after wait notes Ctrl+C): from there on Ctrl+C is the
        # command's to answer. The database open alone was seen too early in CI twice
        # (a hang, then a silent -2), which is Python's start, not queuectl's to answer.
        wait_until(
            lambda: (
                _holds_open(waiting.pid, db_path) and _holds_open(waiting.pid, "anon_inode:inotify")
            ),
            20,
            "wait to watch the database",
        )
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=20)
    finally:
        waiting.kill()
    assert waiting.returncode == 130, err
    assert "Aborted" not in err and "Traceback" not in err


def _holds_open(pid: int, path: str) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux's ``/proc``)."""
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(os.path.join(folder, name)) == path:
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", '{"command": "true", "env": ' + '{"a": ' * 5000 + "1" + "}" * 5001],
        [
            "cron",
            "add",
            "deep",
            "@daily",
            '{"command": "true", "env": ' + '{"a": ' * 5000 + "1" + "}" * 5001,
        ],
    ],
)
def test_json_nested_too_deeply_is_invalid_json(cli, args):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: ") and "nested too deeply" in result.stderr
    assert result.stderr.count("\n") == 1
    assert _jobs(cli) == []


LONG_NUMBER = "1" * 4301
"""Past Python's guard on int conversion: a plain ValueError, which was a traceback."""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["enqueue", '{"command": "true", "priority": ' + LONG_NUMBER + "}"],
            "Error: invalid JSON: Number too long at column 33\n",
        ),
        (
            [
                "cron",
                "add",
                "long",
                "@daily",
                '{"command": "true", "timeout": ' + LONG_NUMBER + "}",
            ],
            "Error: invalid JSON: Number too long at column 32\n",
        ),
    ],
)
def test_a_json_number_too_long_to_read_is_invalid_json(cli, args, error):
    result = cli(*args)
    assert (result.returncode, result.stderr) == (2, error)
    assert _jobs(cli) == []


def test_a_file_nested_too_deeply_is_refused_whole(cli, tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"command": "true"}\n' + "[" * 100_000 + "\n")
    result = cli("enqueue", "--file", str(path))
    assert result.returncode == 2
    assert result.stderr == "Error: line 2: invalid JSON: nested too deeply at column 1\n"
    assert _jobs(cli) == []


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_db_option_is_a_usage_error_not_the_default_database(cli, value, tmp_path):
    result = cli("--db", value, "add", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "'--db': is empty" in result.stderr
    assert os.listdir(tmp_path) == [] and _jobs(cli) == []


@pytest.mark.parametrize("name", ["q.db\x01", "q\x1b]0;x\x07.db", "q\x85.db"])
def test_a_db_path_holding_a_control_character_is_a_usage_error(cli, name, tmp_path):
    """A stray byte made a file of that name, and started workers on it, unsaid."""
    result = cli("--db", str(tmp_path / name), "add", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "'--db': holds a control character" in result.stderr
    assert "\x1b" not in result.stderr  # shown inert
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("value", "args"),
    [
        *((" ", args) for args in (("add", "--", "true"), ("status",), ("web",))),
        ("q.db\x01", ("add", "--", "true")),
        ("q\x1b]0;x\x07.db", ("worker", "start")),
    ],
)
def test_queuectl_db_is_checked_as_db_is(cli, value, args, tmp_path):
    """A script's ``QUEUECTL_DB="   "`` made a database file named three spaces, and a
    stray byte one holding it, with workers on it: ``--db`` refused both, the variable
    scripts use did not. (An existing database under such a name is read: a folder
    named so, ``test_status_shows_a_hostile_database_path_inert``.)"""
    result = cli(*args, cwd=tmp_path, env={**cli.env, "QUEUECTL_DB": value})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: $QUEUECTL_DB ")
    assert "\x1b" not in result.stderr  # shown inert
    assert os.listdir(tmp_path) == []


def test_an_empty_queuectl_db_is_unset_and_db_beats_a_bad_one(cli, db_path, tmp_path):
    assert cli("add", "--", "true", cwd=tmp_path).returncode == 0
    beaten = cli("--db", db_path, "status", env={**cli.env, "QUEUECTL_DB": "\x01"})
    assert beaten.returncode == 0, beaten.stderr
    home = {**cli.env, "QUEUECTL_DB": "", "HOME": str(tmp_path), "XDG_DATA_HOME": ""}
    assert f"{tmp_path}/.local/share/queuectl" in cli("status", env=home).stdout


def test_the_dashboard_without_a_terminal_says_so_instead_of_hanging(cli):
    result = cli("tui", stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: the dashboard needs a terminal")


@pytest.mark.parametrize("args", [("wait",), ("logs", "--follow")], ids=["wait", "logs"])
def test_a_wait_on_a_database_deleted_under_it_ends_saying_so(cli, db_path, tmp_path, args):
    """They read on in the deleted file, whose workers had stopped, silent for ever (an
    outside try): the file gone from its path ends them, as it ends the workers."""
    job_id = cli("add", "--", "true").stdout.strip()  # pending: no worker
    said = tmp_path / "stderr"
    with said.open("w") as stderr:
        waiting = subprocess.Popen(
            [*QUEUECTL, args[0], job_id, *args[1:]],
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    try:
        # In its loop: both say first what they wait for ("waiting: … no worker"). The
        # file open alone was too early: the open itself then failed (a CI run).
        wait_until(lambda: "waiting:" in said.read_text(), 20, "the wait under way")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db_path + suffix):
                os.unlink(db_path + suffix)
        waiting.wait(timeout=20)
    finally:
        waiting.kill()
    err = said.read_text()
    assert waiting.returncode == 1, err
    assert err.splitlines()[-1] == (
        f"Error: the database file {db_path} was deleted or moved away;"
        f" {' '.join(args)} ends here, as do the workers on it"
    )
    assert "Traceback" not in err


@pytest.mark.parametrize("terminal", [True, False])
def test_after_ctrl_c_a_terminal_gets_its_line_ended_and_a_pipe_nothing(monkeypatch, terminal):
    """A shell starts a new line after a death by SIGINT, not after an exit: the prompt
    came right after the ``^C`` the terminal echoed (``logs --follow``, ``wait``)."""
    import io

    from queuectl.cli.common import exit_interrupted

    class Stderr(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    err = Stderr()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as ended:
        exit_interrupted()
    assert ended.value.code == 130
    assert err.getvalue() == ("\n" if terminal else "")
