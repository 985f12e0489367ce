"""What queuectl creates is private whatever the umask, or the shared group's.

Folders 0700 and files 0600 (with ``$QUEUECTL_SHARED_GROUP``: 2770 and 0660,
given to that group), set exactly after creation because the umask can only
trim a mode, and ``os.makedirs`` gives missing parents the umask's default.
A new file is created with ``O_EXCL | O_NOFOLLOW``: never through a link,
never into a file someone else made first.
"""

from __future__ import annotations

import os
import stat

from queuectl.errors import DatabaseError
from queuectl.store.filesafety import SHARED_GROUP_VAR, Trust, own_folder_problem, user_name


def folder_mode(trust: Trust) -> int:
    return 0o2770 if trust.shared_gid is not None else 0o700


def file_mode(trust: Trust) -> int:
    return 0o660 if trust.shared_gid is not None else 0o600


def make_folders(folder: str, trust: Trust | None = None, *, what: str = "database folder") -> None:
    """Create ``folder`` and any missing parent, each private (or the shared group's).

    ``os.makedirs`` gives only the last folder its mode, and the umask trims
    even that: under umask 000 the parents came out 0777. Each folder made here
    gets its exact mode. By path, which is safe because ``check`` has already
    found the nearest existing folder writable only by trusted users (or
    sticky, where nobody else can rename what we create). A folder that
    appears meanwhile (another queuectl starting) must pass the same checks.

    Raises:
        DatabaseError: a folder cannot be created, or one that appeared is unsafe.
    """
    trust = trust or Trust.current()
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise DatabaseError(f"{path} appeared meanwhile and is not a folder") from None
            problem = own_folder_problem(path, trust)
            if problem:
                raise DatabaseError(problem) from None
            continue
        except OSError as exc:
            raise DatabaseError(f"cannot create the {what} {path}: {exc.strerror}") from None
        if trust.shared_gid is not None:
            _give_to_shared_group(path, trust)
        os.chmod(path, folder_mode(trust))


def _give_to_shared_group(path: str, trust: Trust, fd: int | None = None) -> None:
    """With ``$QUEUECTL_SHARED_GROUP``, hand a new file or folder to that group.

    Raises:
        DatabaseError: the user is not in that group (only members may give files to it).
    """
    try:
        if fd is not None:
            os.fchown(fd, -1, trust.shared_gid)  # type: ignore[arg-type]
        else:
            os.chown(path, -1, trust.shared_gid, follow_symlinks=False)  # type: ignore[arg-type]
    except PermissionError:
        raise DatabaseError(
            f"cannot give {path} to the group in ${SHARED_GROUP_VAR}: "
            f"{trust.me} is not a member of it"
        ) from None


def create_file(path: str, trust: Trust | None = None) -> bool:
    """Create ``path`` empty with its exact mode; ``False`` when something is already there.

    ``O_EXCL`` with ``O_NOFOLLOW``: never through a link, never into someone else's file.
    """
    trust = trust or Trust.current()
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise DatabaseError(f"cannot create the database {path}: {exc.strerror}") from None
    try:
        settle_new_file(path, fd, trust)
    finally:
        os.close(fd)
    return True


def settle_new_file(path: str, fd: int, trust: Trust | None = None) -> None:
    """Give a file just created (open as ``fd``) its exact mode, and with
    ``$QUEUECTL_SHARED_GROUP`` to that group: the database's rule, for every file
    queuectl creates (worker logs too)."""
    trust = trust or Trust.current()
    if trust.shared_gid is not None:
        _give_to_shared_group(path, trust, fd)
    os.fchmod(fd, file_mode(trust))  # the umask may have trimmed it


def adopt_empty_file(path: str, trust: Trust | None = None) -> str | None:
    """Make an existing empty file fit to become the database: ours, and private.

    Returns:
        A line saying what was changed, or ``None`` when nothing needed to be.

    Raises:
        DatabaseError: the file belongs to another user (root's included).
    """
    trust = trust or Trust.current()
    st = os.lstat(path)  # ``check`` found a regular file in a folder only we can write
    if st.st_uid != trust.uid:
        raise DatabaseError(
            f"the empty file {path} belongs to {user_name(st.st_uid)}, not {trust.me}; "
            "queuectl makes a database only of its own files"
        )
    old, new = stat.S_IMODE(st.st_mode), file_mode(trust)
    if old == new:
        return None
    if trust.shared_gid is not None:
        _give_to_shared_group(path, trust)
    os.chmod(path, new)
    return f"the empty file {path} had mode {old:o}; made it {new:o} to use it as the database"


__all__ = ["adopt_empty_file", "create_file", "file_mode", "folder_mode", "make_folders"]
