"""A hook's environment fits what Linux's ``execve`` takes, however long the job's command."""

from __future__ import annotations

from queuectl.jobspec import MAX_COMMAND_BYTES
from queuectl.lifecycle.hooks import HookCall
from queuectl.runtime.hooks import ARG_STRING_MAX, CUT_MARK, hook_environment, run_hook


def _call(command: str, job_command: str) -> HookCall:
    return HookCall(
        event="on_success",
        command=command,
        job_id="longcmd",
        state="completed",
        exit_code=0,
        attempt=1,
        job_command=job_command,
        queue="default",
        output="",
    )


def test_a_hook_starts_for_the_longest_command_a_job_may_have(tmp_path) -> None:
    """The job's 131,071-byte command with ``QUEUECTL_COMMAND=`` in front was one string
    too long: "could not start: Argument list too long", and the hook never ran."""
    seen = tmp_path / "seen"
    longest = "true #" + "é" * ((MAX_COMMAND_BYTES - 6) // 2)
    result = run_hook(
        _call(f'printf %s "$QUEUECTL_COMMAND" > {seen}', longest), timeout=10, base={}
    )
    assert result.error is None and result.exit_code == 0
    told = seen.read_bytes()
    assert len(told) + len(b"QUEUECTL_COMMAND=") + 1 <= ARG_STRING_MAX
    mark = CUT_MARK.encode()
    assert told.endswith(mark) and longest.startswith(told[: -len(mark)].decode())


def test_a_command_that_fits_is_given_whole() -> None:
    env = hook_environment(_call("true", "make\x00 test"), "/tmp/out", {})
    assert env[b"QUEUECTL_COMMAND"] == b"make test"


def test_a_hook_runs_where_the_worker_was_while_a_spawn_is_elsewhere(tmp_path, monkeypatch):
    """The worker's spawn changes directory to a job's ``cwd`` for an instant, and a hook
    started on the hook thread in that instant ran in that job's folder (2 of 3 tries
    from outside). The runner runs each hook where the process was when it was made."""
    from queuectl.runtime.hooks import HookRunner

    home, job_folder = tmp_path / "home", tmp_path / "job"
    home.mkdir()
    job_folder.mkdir()
    seen = tmp_path / "seen"
    monkeypatch.chdir(home)
    runner = HookRunner(lambda: 10.0, background=False, environment={}, report=lambda *_: None)
    monkeypatch.chdir(job_folder)  # as spawn does around posix_spawn, on the main thread
    runner.submit(_call(f"/bin/pwd -P > {seen}", "true"))
    assert seen.read_text().strip() == str(home.resolve())
