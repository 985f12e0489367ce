"""The executor on real (tiny) processes: exit codes, output capture, timeouts, kills."""

from __future__ import annotations

import errno
import os
import time

import pytest

from queuectl.hostid import pid_alive
from queuectl.lifecycle.policy import Result
from queuectl.runtime import executor, procs
from queuectl.runtime.executor import Execution, TailBuffer
from queuectl.runtime.timekeeper import LATE, Timekeeper
from queuectl.states import RunOutcome
from tests.executing import run_to_end
from tests.polling import wait_until


def test_success_keeps_stdout_and_stderr_interleaved(tmp_path):
    result = run_to_end("echo one; echo two >&2; echo three", cwd=str(tmp_path))
    assert result.outcome is RunOutcome.SUCCEEDED
    assert result.exit_code == 0
    assert result.output == "one\ntwo\nthree\n"
    assert result.error is None


def test_runs_in_cwd_with_job_environment(tmp_path):
    env = executor.job_environment("j1", 3)
    result = run_to_end(
        'pwd; echo "$QUEUECTL_JOB_ID/$QUEUECTL_ATTEMPT"', cwd=str(tmp_path), env=env
    )
    assert result.output.splitlines() == [os.path.realpath(tmp_path), "j1/3"]


def test_failure_keeps_exit_code(tmp_path):
    result = run_to_end("echo oops; exit 3", cwd=str(tmp_path))
    assert (result.outcome, result.exit_code, result.error) == (RunOutcome.FAILED, 3, "exit 3")


def test_missing_command_is_127_with_a_clear_error(tmp_path):
    result = run_to_end("no-such-command-queuectl", cwd=str(tmp_path))
    assert result.exit_code == 127
    assert result.outcome is RunOutcome.FAILED
    assert "not found" in result.error
    assert "no-such-command-queuectl" in result.output


def test_missing_cwd_is_a_failed_result_not_a_crash(tmp_path):
    gone = tmp_path / "gone"
    result = run_to_end("true", cwd=str(gone))
    assert result.outcome is RunOutcome.FAILED
    assert result.exit_code is None
    assert str(gone) in result.error


def test_a_file_as_cwd_fails_for_good(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    result = run_to_end("true", cwd=str(file))
    assert result.outcome is RunOutcome.FAILED
    assert result.final
    assert "does not exist (or is not a directory)" in result.error


@pytest.mark.parametrize("code", [errno.EIO, errno.ESTALE, errno.EACCES])
def test_a_cwd_that_cannot_be_read_now_fails_the_attempt_not_the_job(tmp_path, monkeypatch, code):
    # A network mount briefly away (EIO, ESTALE) or a permission being fixed (EACCES):
    # the job is retried with backoff, not sent to the DLQ as if the folder were gone.
    cwd = str(tmp_path)

    def unreadable(path, *args, **kwargs):
        if path == cwd:
            raise OSError(code, os.strerror(code), path)
        return os.lstat(path)

    monkeypatch.setattr(executor.os, "stat", unreadable)
    result = Execution.start("true", cwd=cwd)
    assert isinstance(result, Result)
    assert result.outcome is RunOutcome.FAILED
    assert not result.final
    assert os.strerror(code) in result.error
    assert "does not exist" not in result.error


def test_output_keeps_only_the_tail(tmp_path):
    # 5 MB through a 1 KiB limit: the tail survives, memory stays bounded.
    result = run_to_end(
        "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo END",
        cwd=str(tmp_path),
        output_limit=1024,
    )
    assert result.outcome is RunOutcome.SUCCEEDED
    assert len(result.output.encode()) <= 1024
    assert result.output.endswith("x\nEND\n")


def test_tail_buffer_memory_is_bounded_and_cut_characters_dropped():
    buffer = TailBuffer(8)
    for _ in range(1000):
        buffer.write("é".encode() * 5)  # 10 bytes per write
        assert len(buffer._data) <= 2 * 8 + 10
    text = buffer.text()
    assert text == "éééé"  # 8 bytes, whole characters only
    assert buffer.total == 10_000


def test_a_kept_tail_starts_at_a_line_not_inside_one(tmp_path):
    """``seq 1 100000`` kept "78" (the end of 89078) as its first line: a script counting
    or grepping the lines took it for output. Every line kept is whole."""
    result = run_to_end("seq 1 100000", cwd=str(tmp_path), output_limit=1024)
    lines = result.output.splitlines()
    first = int(lines[0])
    assert lines == [str(n) for n in range(first, 100_001)]
    assert len(result.output.encode()) > 512  # at most the first half is given up


@pytest.mark.parametrize(
    ("limit", "chunks", "kept"),
    [
        (4, [b"123\n456\n"], "456\n"),  # the tail began a line: its first line stays
        (4, [b"12345\n67\n"], "67\n"),  # began inside "12345": from the next line
        (3, [b"abcd\n", b"xyz"], "xyz"),  # trimmed just after a newline: whole
        (12, [b"abcdefghijklmnopqrstuvw\nxyz"], "pqrstuvw\nxyz"),  # no line in its first half
        (5, [b"x" * 20, "ééé".encode()], "éé"),  # one long line: only the cut character goes
    ],
)
def test_a_tail_cut_inside_a_line_starts_at_the_next_one_in_its_first_half(limit, chunks, kept):
    buffer = TailBuffer(limit)
    for chunk in chunks:
        buffer.write(chunk)
    assert buffer.text() == kept


def test_nul_and_invalid_utf8_are_replaced(tmp_path):
    result = run_to_end("printf 'a\\000b\\377c'", cwd=str(tmp_path))
    assert result.output == "a\ufffdb\ufffdc"


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_to_end(f"sleep 30 & echo $! > {pidfile}; sleep 30", cwd=str(tmp_path), timeout=0.3)
    assert time.monotonic() - started < 5
    assert result.outcome is RunOutcome.TIMED_OUT
    assert "timed out" in result.error
    grandchild = int(pidfile.read_text())
    assert wait_until(lambda: not pid_alive(grandchild))


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    started = time.monotonic()
    result = run_to_end("trap '' TERM; sleep 30", cwd=str(tmp_path), timeout=0.2, grace=0.3)
    assert time.monotonic() - started < 5
    assert result.outcome is RunOutcome.TIMED_OUT
    assert result.exit_code == 137
    assert "SIGKILL" in result.error


def test_a_loop_held_up_elsewhere_still_times_its_jobs_out(tmp_path, caplog):
    """The loop enforces timeouts between its database calls; a call that does not return
    (a frozen server, a network that drops packets) let a 2 s timeout run 16 s and more.
    The timekeeper thread stops the group ``LATE`` after the deadline, and the attempt
    says when the job was stopped, not when the loop came back."""
    keeper = Timekeeper()
    try:
        started = time.monotonic()
        execution = Execution.start(
            "trap '' TERM; sleep 30",
            cwd=str(tmp_path),
            timeout=0.3,
            grace=0.3,
            timekeeper=keeper,
            name="j-frozen",
        )
        assert isinstance(execution, Execution)
        # The loop is held up: nothing pumps. The group is gone within deadline + LATE + grace.
        wait_until(lambda: not procs.group_alive(execution.pgid), 5, "the timekeeper's kill")
        assert time.monotonic() - started < 0.3 + LATE + 0.3 + 0.5
        time.sleep(0.5)  # the loop comes back later still
        assert execution.pump(1.0)
    finally:
        keeper.close()
    result = execution.result
    assert result is not None and result.outcome is RunOutcome.TIMED_OUT
    took = float(result.error.split("timed out after ")[1].split("s")[0])
    assert 0.3 + LATE <= took < 0.3 + LATE + 0.3, result.error
    assert " (its timeout: 0.3s); killed by" in result.error  # "after 0.8s" read as the one set
    assert abs(result.duration - took) < 0.01  # the error rounds to 3 digits
    assert any("job j-frozen: timed out" in r.getMessage() for r in caplog.records)


def test_the_timekeeper_leaves_a_loop_that_keeps_up_alone(tmp_path):
    keeper = Timekeeper()
    try:
        result = run_to_end("sleep 30", cwd=str(tmp_path), timeout=0.2, timekeeper=keeper)
        assert result.outcome is RunOutcome.TIMED_OUT
        assert float(result.error.split("timed out after ")[1].split("s")[0]) < 0.2 + LATE
        assert "its timeout" not in result.error  # on time: the figure is the timeout
        assert keeper._watched == {}
    finally:
        keeper.close()


def test_background_child_of_a_finished_job_is_killed(tmp_path):
    pidfile = tmp_path / "bg.pid"
    result = run_to_end(
        f"sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}; echo done", cwd=str(tmp_path)
    )
    assert result.outcome is RunOutcome.SUCCEEDED
    assert wait_until(lambda: not pid_alive(int(pidfile.read_text())))


def test_external_kill_with_live_output_ticks(tmp_path):
    started = Execution.start("echo first; sleep 30", cwd=str(tmp_path))
    assert not isinstance(started, Result)
    execution = started
    assert wait_until(lambda: execution.pump(0.05) or "first" in execution.output())
    execution.kill(RunOutcome.CANCELLED, "cancelled by user")
    deadline = time.monotonic() + 5
    while not execution.pump(0.1):
        assert time.monotonic() < deadline
    assert execution.result.outcome is RunOutcome.CANCELLED
    assert execution.result.output == "first\n"
    # SIGKILL is delivered asynchronously: on a loaded machine the grandchild
    # can run for a moment after kill() returns, so poll with a deadline.
    assert wait_until(lambda: not procs.group_alive(execution.pgid))


def test_pid_alive_for_self_and_gone():
    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 12345)


def test_a_command_that_cannot_be_passed_to_exec_is_a_failed_result(tmp_path):
    result = run_to_end("echo a\x00b", cwd=str(tmp_path))
    assert result.outcome is RunOutcome.FAILED
    assert "cannot start" in result.error


def test_a_jobs_env_goes_over_the_workers_and_queuectl_names_over_both():
    base = {b"PATH": b"/usr/bin", b"STAGE": b"worker", b"QUEUECTL_JOB_ID": b"stale"}
    env = executor.job_environment("j1", 2, base, {"STAGE": "prod", "QUEUECTL_ATTEMPT": "9"})
    assert env[b"PATH"] == b"/usr/bin" and env[b"STAGE"] == b"prod"
    assert (env[b"QUEUECTL_JOB_ID"], env[b"QUEUECTL_ATTEMPT"]) == (b"j1", b"2")
    assert base[b"STAGE"] == b"worker"  # the worker's own copy is untouched


@pytest.mark.parametrize("command", ["echo through the shell; true", "true"])
@pytest.mark.parametrize("code", [errno.EAGAIN, errno.ENFILE, errno.ENOMEM])
def test_a_start_the_system_has_no_resources_for_is_given_back_not_failed(
    tmp_path, monkeypatch, command, code
):
    """Through the shell or exec'd directly (``direct``: the shortage is not the
    program's, so the shell is not tried instead), the job is not at fault."""
    tried = []

    def short(path, *args, **kwargs):
        tried.append(path)
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(os, "posix_spawn", short)
    result = Execution.start(command, cwd=str(tmp_path))
    assert isinstance(result, Result)
    assert result.outcome is RunOutcome.INTERRUPTED
    assert "the system is short of" in result.error
    assert len(tried) == 1


@pytest.mark.parametrize("code", [errno.ENOENT, errno.EACCES, errno.ENOTDIR])
def test_a_program_or_directory_the_job_names_wrongly_still_fails_its_attempt(
    tmp_path, monkeypatch, code
):
    def refused(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(os, "posix_spawn", refused)
    result = Execution.start("echo through the shell; true", cwd=str(tmp_path))
    assert isinstance(result, Result)
    assert result.outcome is RunOutcome.FAILED
    assert "short of" not in result.error


@pytest.mark.parametrize(
    ("chunks", "so_far", "total_so_far"),
    [
        ([b"caf\xc3"], "caf", 3),
        ([b"caf\xc3", b"\xa9"], "café", 5),
        ([b"\xe2\x82"], "", 0),
        ([b"\xf0\x9f\x98"], "", 0),
        ([b"a\xff"], "a\ufffd", 2),  # never a character's start: stored as it is
    ],
)
def test_a_running_jobs_flush_leaves_a_character_still_arriving(chunks, so_far, total_so_far):
    """Flushed as "caf�" and then "café", ``logs --follow`` printed the whole output twice
    and said output was skipped; the count beside it said a byte was dropped."""
    buffer = TailBuffer(64)
    for chunk in chunks:
        buffer.write(chunk)
    assert (buffer.text(so_far=True), buffer.total_so_far) == (so_far, total_so_far)
    assert buffer.text() == b"".join(chunks).decode("utf-8", "replace")  # the final one


def test_a_running_jobs_flushes_keep_the_whole_window_for_logs_follow():
    """A reviewer's catch: the line cut applied to running flushes too, so a flush held
    less than the limit; growth that fit the limit then read as "output skipped" in
    ``logs --follow`` and the rest of a line shown in part was lost."""
    from queuectl.cli.logs import new_text

    buffer = TailBuffer(100)
    written = b""
    for number in range(5):  # 200 bytes of 40-byte lines: past the limit, cut mid-line
        line = f"line{number:04d}".encode() + b"." * 31 + b"\n"
        buffer.write(line[:25])
        buffer.write(line[25:])
        written += line
    first, first_total = buffer.text(so_far=True), buffer.total_so_far
    assert first.encode() == written[-100:]  # the whole window, a line's end first
    more = b"x" * 90
    buffer.write(more)
    written += more
    second, second_total = buffer.text(so_far=True), buffer.total_so_far
    new, skipped = new_text(first, second, second_total - first_total)
    assert not skipped and (first + new).encode() == written[-(100 + 90) :]
    assert buffer.text() == "x" * 90  # the final text still starts at a line
