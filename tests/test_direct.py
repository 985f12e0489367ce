"""Plain commands run without a shell (``runtime.direct``), and nothing else can tell."""

from __future__ import annotations

import os

import pytest

from queuectl.runtime import direct, executor
from queuectl.runtime.executor import Execution
from queuectl.states import RunOutcome
from tests.executing import run_to_end


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("sleep 0.01", ["sleep", "0.01"]),
        ("  make  test ", ["make", "test"]),
        (
            "./build.sh --jobs=4 a,b x:y 50% @host +1",
            ["./build.sh", "--jobs=4", "a,b", "x:y", "50%", "@host", "+1"],
        ),
        ("rsync -a src/ host:/dst", ["rsync", "-a", "src/", "host:/dst"]),
        ("/usr/bin/env", ["/usr/bin/env"]),
        # Builtins and keywords: the shell runs its own.
        ("true", None),
        ("echo hi", None),
        ("cd /tmp", None),
        (":", None),
        ("if", None),
        # Shell syntax of every kind.
        ("FOO=1 env", None),
        ("ls *.py", None),
        ("ls ~", None),
        ("echo $HOME", None),
        ("a | b", None),
        ("a; b", None),
        ("a && b", None),
        ("a > out", None),
        ("say 'hi'", None),
        ('say "hi"', None),
        ("a\\ b", None),
        ("a # note", None),
        ("a\nb", None),
        ("a\tb", None),
        ("(a)", None),
        ("{ a; }", None),
        ("", None),
        ("   ", None),
        ("-x", None),
        ("+x now", None),  # sh -c +x reads an option, not a program
        (".hidden", None),
    ],
)
def test_only_plain_words_running_a_program_skip_the_shell(command, words):
    assert direct.plain_words(command) == words


def test_a_plain_command_is_the_job_process_itself(tmp_path):
    started = Execution.start("sleep 30", cwd=str(tmp_path), env=executor.job_environment("j", 1))
    assert isinstance(started, Execution)
    try:
        assert os.path.basename(os.readlink(f"/proc/{started.pid}/exe")) == "sleep"
    finally:
        started.abandon()


def _environment(command: str, cwd: str, pwd: str) -> set[str]:
    env = {**executor.job_environment("j", 1), b"PWD": os.fsencode(pwd)}
    result = run_to_end(command, cwd=cwd, env=env)
    assert result.exit_code == 0, result
    return set(result.output.splitlines())


def test_the_program_gets_the_environment_the_shell_would_give_it(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    link = str(tmp_path / "link")
    # An inherited PWD naming another directory: the shell sets the physical path. One
    # naming this directory through a symlink: the shell keeps it.
    for pwd in ("/", link):
        direct_env = _environment("env", link, pwd)
        shell_env = _environment("exec env", link, pwd)  # 'exec': the shell runs it
        assert direct_env == shell_env
    assert f"PWD={real}" in _environment("env", link, "/")
    assert f"PWD={link}" in _environment("env", link, link)


def test_what_only_the_shell_can_say_it_says(tmp_path):
    script = tmp_path / "no-shebang"
    script.write_text("echo ran as a script\n")
    script.chmod(0o755)
    (tmp_path / "not-executable").write_text("echo never\n")
    cwd = str(tmp_path)
    assert run_to_end("./no-shebang", cwd=cwd).output == "ran as a script\n"
    refused = run_to_end("./not-executable", cwd=cwd)
    assert refused.exit_code == 126 and "Permission denied" in refused.output
    missing = run_to_end("no-such-program-queuectl now", cwd=cwd)
    assert missing.exit_code == 127 and "not found" in missing.output


def test_a_relative_path_entry_is_left_to_the_shell(tmp_path):
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho found in the job directory\n")
    tool.chmod(0o755)
    env = {**executor.job_environment("j", 1), b"PATH": b"bin:/usr/bin:/bin"}
    assert direct.find_program("tool", env) is None
    result = run_to_end("tool", cwd=str(tmp_path), env=env)
    assert result.output == "found in the job directory\n"


def test_a_program_that_handles_sigterm_cleans_up_on_a_timeout(tmp_path):
    # No shell in between to die of the SIGTERM first: the program's own handler runs,
    # within the grace period (0.5 s of cleanup here), and its last words are kept.
    script = tmp_path / "careful"
    script.write_text(
        "#!/bin/sh\ntrap 'sleep 0.5; echo cleaned up; exit 0' TERM\necho started\nsleep 5 & wait\n"
    )
    script.chmod(0o755)
    result = run_to_end("./careful", cwd=str(tmp_path), timeout=0.3, grace=5.0)
    assert result.outcome is RunOutcome.TIMED_OUT
    assert result.output == "started\ncleaned up\n"
    assert result.duration < 2.0  # it ended on its own, long before the SIGKILL
