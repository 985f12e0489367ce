"""Run a command that needs no shell without one, as GNU make does for its recipe lines.

A job is a shell command, and ``/bin/sh -c 'sleep 1'`` runs it exactly; but for
a command with no shell syntax the shell only finds the program on ``PATH``,
forks, execs it and waits. That costs a process and most of a millisecond of CPU a job
(dash: ``sh -c 'sleep 0'`` 1.7 ms against ``sleep 0`` 0.8 ms, measured), which
on short jobs is most of what the job costs. So when the command is plain words
and its first word is no shell builtin or keyword, the worker execs the program
itself, with what the shell would have given it:

- its argv as the shell splits plain words (on spaces, nothing expanded);
- the program found on the job's ``PATH`` (``shutil.which``), as the shell looks;
- its environment unchanged but for ``PWD``, which dash sets on start: kept when it
  names the job's directory, else the directory's physical path (``getpwd``).

Whatever the shell would report differently, it reports: a program not found, not
executable or not a binary (a script without ``#!``) is started through the shell
after all, which prints its usual line and exits 127 or 126, or runs the script.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping

_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./ -]+")
"""Characters no POSIX shell treats specially inside a word: no quotes, expansions,
globs, redirections, separators, comments or tildes. Tabs and newlines are out too."""

SHELL_WORDS = frozenset(
    # dash's and bash's builtins and reserved words that a plain word can spell: the
    # shell would run its own, not the program of that name on PATH.
    """: alias bg bind break builtin caller case cd chdir command compgen complete compopt
    continue coproc declare dirs disown do done echo elif else enable esac eval exec exit
    export false fc fg fi for function getopts hash help history if in jobs kill let local
    logout mapfile popd printf pushd pwd read readarray readonly return select set shift
    shopt source suspend test then time times trap true type typeset ulimit umask unalias
    unset until wait while""".split()  # noqa: SIM905 - a word list reads better so
)


def plain_words(command: str) -> list[str] | None:
    """The argv the shell would give ``command``, if it is plain words and runs a
    program; ``None`` when only a shell can run it faithfully."""
    if not _PLAIN.fullmatch(command):
        return None
    words = command.split()  # only spaces can separate words here (``_PLAIN``)
    if not words:
        return None
    first = words[0]
    # "-x" and "+x" are options to ``sh -c`` itself, ".x" may be the dot builtin's.
    option_like = first.startswith(("-", "+", ".")) and "/" not in first
    if first in SHELL_WORDS or "=" in first or option_like:
        return None  # a builtin, a keyword, an assignment, a dot-command or an option
    return words


def find_program(name: str, env: Mapping[bytes, bytes]) -> str | None:
    """Where the shell would find ``name``: as given when it holds a ``/``, else on the
    job's ``PATH``; ``None`` when that is for the shell to say (unset ``PATH``, not found)."""
    if "/" in name:
        return name
    path = env.get(b"PATH")
    if not path:
        return None  # the shell's default PATH differs between shells: let it search
    if any(not entry.startswith(b"/") for entry in path.split(b":")):
        return None  # a relative entry (or an empty one, "."): it means the job's directory
    return shutil.which(name, path=os.fsdecode(path))


def shell_pwd(env: Mapping[bytes, bytes], cwd: str) -> bytes:
    """``PWD`` as dash sets it in ``cwd``: the inherited one if it names that directory,
    else the directory's physical path."""
    inherited = env.get(b"PWD")
    if inherited and inherited.startswith(b"/"):
        try:
            here, there = os.stat(cwd), os.stat(inherited)
        except OSError:
            pass
        else:
            if stat.S_ISDIR(there.st_mode) and os.path.samestat(here, there):
                return inherited
    return os.fsencode(os.path.realpath(cwd))
