"""Files the dashboard writes for the person: a job's output (``s`` in the log view) and
a screenshot (the palette's "Screenshot"), both 0600 in the downloads folder or, without
one, the folder the dashboard was started in."""

from __future__ import annotations

import os
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def file_safe(job_id: str) -> str:
    """A job id as part of a file name: anything but letters, digits and ``._:-`` becomes
    ``_``, and at most 100 characters. Ids stored past the CLI's checks (a member of a
    shared PostgreSQL queue, a tampered file) are untrusted: ``/../../../etc/x`` as an id
    wrote the export outside the export folder, with the attacker's output in it."""
    return _UNSAFE.sub("_", job_id)[:100] or "_"


def save_privately(folder: str, name: str, text: str) -> str:
    """Write ``text`` to a new file in ``folder``, readable by this user alone; its path.

    A job's output is the user's own: Textual's delivery wrote it with the umask's
    mode (0644), through a symlink and over a file someone planted under that name
    in a shared folder. Here the file is new (``O_EXCL``, never through a link) and
    0600; a name taken already gets ``-2``, ``-3``, … before ``.log``.
    """
    if os.path.basename(name) != name or name in (".", ".."):
        raise ValueError(f"not a file name: {name!r}")  # a name, never a path
    stem, dot, suffix = name.rpartition(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for attempt in range(1, 1000):
        candidate = name if attempt == 1 else f"{stem}-{attempt}{dot}{suffix}"
        path = os.path.join(folder, candidate)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            os.fchmod(out.fileno(), 0o600)  # whatever the umask
            out.write(text)
        return path
    raise FileExistsError(f"{name} and 998 more names like it are taken in {folder}")


def export_folder() -> str:
    """Where an export goes in a terminal: the downloads folder when there is one, else
    the folder the dashboard was started in (as ``wget`` saves). Textual's default is
    the downloads folder alone, and a server's account seldom has one: the export
    failed with "No such file or directory"."""
    from platformdirs import user_downloads_path

    downloads = user_downloads_path()
    return str(downloads) if downloads.is_dir() else os.getcwd()
