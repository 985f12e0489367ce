"""Whether a database file can be trusted: who could write it, or anything that leads to it.

Whoever can write the database can make the workers run any command as their
user, so before a worker starts or a command writes, queuectl checks the file,
the files SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``) and every
folder and symbolic link on the way to it, much as ssh checks a private key:

- each must belong to the current user or to root;
- none may be writable by other users. A folder *above* the database's own
  folder may be, when it is sticky and belongs to root or the user (``/tmp``):
  others cannot rename or replace what is ours in it. The database's own folder
  may not, sticky or not, since SQLite creates the ``-wal`` beside the file by
  name, and anyone who can create files there could plant one first;
- folders that hold the user's home folder are the system's and are not checked
  (ssh stops at the home folder too).

Group write is allowed on the user's own primary group when nobody else is in
it (the "user private groups" of Debian and Fedora, whose umask is 002, as
Debian's ssh allows it), and, as a documented opt-in for a team, on the group
named by ``$QUEUECTL_SHARED_GROUP``: its members are then trusted like the
user, and what queuectl creates is given to that group (folders 2770, files
0660) instead of being private (0700, 0600): see ``privatefiles``.

Pure standard library, so it runs before peewee or SQLite touch anything.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import stat
from collections import deque
from dataclasses import dataclass

from queuectl.errors import DatabaseError

SHARED_GROUP_VAR = "QUEUECTL_SHARED_GROUP"
"""Names the group that may share a database (see the module docstring and README)."""

SIBLING_SUFFIXES = ("-wal", "-shm", "-journal")
"""Files SQLite reads as part of the database: a planted one injects pages."""

MAX_LINKS = 40
"""Symbolic links followed before giving up, as the kernel's ELOOP limit."""


@functools.lru_cache(maxsize=64)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


@functools.lru_cache(maxsize=64)
def _group_members(gid: int) -> frozenset[int]:
    """Every user in the group: its listed members and those whose primary group it is."""
    try:
        names = grp.getgrgid(gid).gr_mem
    except KeyError:
        names = []
    uids = set()
    for name in names:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            continue  # a member name with no account cannot log in to write anything
    uids.update(entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid)
    return frozenset(uids)


def _shared_gid() -> int | None:
    """The group of ``$QUEUECTL_SHARED_GROUP`` (a name or a number), or ``None`` when unset.

    Raises:
        DatabaseError: the variable names no group on this system.
    """
    value = os.environ.get(SHARED_GROUP_VAR, "").strip()
    if not value:
        return None
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        if value.isdigit():
            return int(value)
        raise DatabaseError(f"${SHARED_GROUP_VAR} names no group here: {value!r}") from None


@dataclass(frozen=True)
class Trust:
    """Whose files the current user may run commands from."""

    uid: int
    primary_gid: int
    shared_gid: int | None
    home_ancestors: frozenset[str]
    """Folders that hold the home folder: the system's, not checked."""

    @classmethod
    def current(cls) -> Trust:
        uid = os.geteuid()
        try:
            entry = pwd.getpwuid(uid)
            home, primary_gid = os.path.realpath(entry.pw_dir), entry.pw_gid
        except KeyError:
            home, primary_gid = "/", os.getegid()
        ancestors = set()
        folder = os.path.dirname(home)
        while folder != home:
            ancestors.add(folder)
            home, folder = folder, os.path.dirname(folder)
        return cls(
            uid=uid,
            primary_gid=primary_gid,
            shared_gid=_shared_gid(),
            home_ancestors=frozenset(ancestors),
        )

    @property
    def me(self) -> str:
        return user_name(self.uid)

    def owner_ok(self, uid: int) -> bool:
        if uid in (self.uid, 0):
            return True
        return self.shared_gid is not None and uid in _group_members(self.shared_gid)

    def group_write_ok(self, gid: int) -> bool:
        """Group write is harmless on the user's private group, and allowed on the shared one."""
        if gid == self.shared_gid:
            return True
        return gid == self.primary_gid and _group_members(gid) <= {self.uid, 0}

    def others_can_write(self, st: os.stat_result) -> bool:
        mode = st.st_mode
        if mode & stat.S_IWOTH:
            return True
        return bool(mode & stat.S_IWGRP) and not self.group_write_ok(st.st_gid)

    def consequence(self, who: str = "other users") -> str:
        return f"{who} could make queuectl run commands as {self.me}"


@dataclass(frozen=True)
class Verdict:
    """What ``check`` found: every problem (none when safe) and the file's real path."""

    problems: tuple[str, ...]
    real_path: str
    planted: tuple[str, ...] = ()
    """A ``-wal``, ``-shm`` or ``-journal`` of another owner than the database file,
    unsafe (also in ``problems``): someone else made it. SQLite reads it as soon as
    it opens the file, even read-only, and run as root hands it to the file's owner,
    after which nothing would say where it came from: a reader may not open it."""

    @property
    def problem(self) -> str | None:
        """The first problem: the one a writer's refusal names."""
        return self.problems[0] if self.problems else None


def check(path: str, trust: Trust | None = None) -> Verdict:
    """Look at everything that decides what SQLite will read at ``path`` (absolute).

    Parts that do not exist yet are fine: queuectl creates them itself, private.
    The files are looked at even when a folder on the way is already unsafe: a
    ``-wal`` someone else planted there must be named too (a reader warned only of
    the folder, and the folder, once mended, hid the planted file).
    """
    trust = trust or Trust.current()
    problem, real_path = _walk(path, trust)
    problems = [problem] if problem else []
    own = own_folder_problem(os.path.dirname(real_path), trust)
    if own and own not in problems:
        problems.append(own)
    planted = []
    for suffix in ("", *SIBLING_SUFFIXES):
        found = _check_file(real_path + suffix, trust)
        if found:
            problems.append(found)
            if suffix and _owner(real_path + suffix) != _owner(real_path):
                planted.append(found)
    return Verdict(tuple(problems), real_path, tuple(planted))


def _owner(path: str) -> int | None:
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


def way_problem(path: str, trust: Trust | None = None) -> tuple[str | None, str]:
    """The first folder or link on the way to ``path`` that someone else could change, and
    the real path: the database's rules, for another private file (a web token).

    Its own folder is held to the rules of any folder on the way (a sticky one is
    fine), as it has no ``-wal`` created beside it by name; the file itself is its
    reader's to check, opened without following a link at the real path.
    """
    return _walk(os.path.abspath(path), trust or Trust.current(), sticky_own_folder=True)


def _walk(path: str, trust: Trust, *, sticky_own_folder: bool = False) -> tuple[str | None, str]:
    """Resolve ``path`` one name at a time, checking each folder looked into and each link.

    Returns:
        (the first problem or ``None``, the real path as far as it was resolved,
        the names not looked at appended as given).
    """
    parts = deque(name for name in path.split("/") if name not in ("", "."))
    current = "/"
    problem = _check_folder(current, trust)
    links = 0
    while parts and problem is None:
        name = parts.popleft()
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        try:
            st = os.lstat(candidate)
        except OSError:  # missing (queuectl creates the rest), or hidden from us (opening says)
            return None, os.path.join(candidate, *parts)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                return f"too many symbolic links on the way to {path}", path
            if not trust.owner_ok(st.st_uid):
                owner = user_name(st.st_uid)
                problem = f"the symbolic link {candidate} belongs to {owner}; "
                return problem + trust.consequence(owner), os.path.join(candidate, *parts)
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            parts.extendleft(name for name in reversed(target.split("/")) if name not in ("", "."))
            continue
        if not parts or not stat.S_ISDIR(st.st_mode):
            return None, os.path.join(candidate, *parts)  # the file (or a file in the way)
        current = candidate
        own = not sticky_own_folder and _holds_the_file(current, parts)
        problem = _check_folder(current, trust, st, own=own)
    return problem, os.path.join(current, *parts)


def _holds_the_file(folder: str, parts: deque[str]) -> bool:
    """Whether the one name left is the database itself, not a link to it elsewhere.

    SQLite keeps the ``-wal`` beside the file a link leads to, so the folder of
    a link (checked as its owner's) may be sticky, as any folder on the way.
    """
    return len(parts) == 1 and not os.path.islink(os.path.join(folder, parts[0]))


def _check_folder(
    folder: str, trust: Trust, st: os.stat_result | None = None, *, own: bool = False
) -> str | None:
    """A folder looked into: only trusted users may write it.

    Sticky folders that belong to root or the user (``/tmp``) are safe on the
    way (nobody else can rename what is ours in them), but not as the
    database's ``own`` folder, where someone could create its ``-wal`` first.
    """
    if folder in trust.home_ancestors:
        return None
    st = st or os.stat(folder)
    name = f"the database folder {folder}" if own else f"the folder {folder} (on the way to it)"
    if not trust.owner_ok(st.st_uid):
        owner = user_name(st.st_uid)
        return f"{name} belongs to {owner}; " + trust.consequence(owner)
    sticky_safe = bool(st.st_mode & stat.S_ISVTX) and st.st_uid in (0, trust.uid) and not own
    if trust.others_can_write(st) and not sticky_safe:
        return (
            f"{name} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            + trust.consequence()
        )
    return None


def own_folder_problem(folder: str, trust: Trust) -> str | None:
    """The database's own folder, or one queuectl found made meanwhile: nobody else's."""
    try:
        st = os.stat(folder)
    except OSError:
        return None  # missing: created by queuectl, private (or hidden: opening says)
    return _check_folder(folder, trust, st, own=True)


def log_folder_problem(folder: str, trust: Trust | None = None) -> str | None:
    """The workers' log folder (``worker start``'s), and the way to it: nobody else's.

    Another user who can write it can rename a worker's log away and put text of their
    own at the path ``worker start`` printed and the worker's row records; the log file
    itself (0600, created with ``O_EXCL``) does not help then. It sits beside the
    database's path, or in the XDG data folder, which no database check covers on
    PostgreSQL, nor beside a link to the database in a sticky folder.
    """
    trust = trust or Trust.current()
    folder = os.path.abspath(folder)
    # Not a database: its folder was called "the database folder" (an outside try),
    # and may be sticky, as any folder on the way (the log folder itself is checked next).
    problem, _real = _walk(folder, trust, sticky_own_folder=True)
    if problem:
        return problem
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return None  # not made yet: the way to it is sound, and it is made private
    harm = "could replace the workers' logs with text of their own"
    if not trust.owner_ok(st.st_uid):
        owner = user_name(st.st_uid)
        return f"the log folder {folder} belongs to {owner}, who {harm}"
    if trust.others_can_write(st):
        mode = stat.S_IMODE(st.st_mode)
        return f"the log folder {folder} is writable by other users (mode {mode:o}), who {harm}"
    return None


def _check_file(path: str, trust: Trust) -> str | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None  # as in own_folder_problem
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link beside the database; SQLite would follow it"
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder, not a database file"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if not trust.owner_ok(st.st_uid):
        owner = user_name(st.st_uid)
        return f"the database file {path} belongs to {owner}; " + trust.consequence(owner)
    if trust.others_can_write(st):
        return (
            f"the database file {path} is writable by other users "
            f"(mode {stat.S_IMODE(st.st_mode):o}); " + trust.consequence()
        )
    return None


def readable_by_others(real_path: str) -> str | None:
    """Whether other users can read the database (or a file beside it) at ``real_path``,
    said; ``None`` when not.

    Only a warning: reading runs nothing. But every job's command, ``env`` and output
    are in those files, so a database restored with ``cp`` under umask 022 into a
    0755 folder handed them to every local user, without a word (an outside try).
    A file others could read in a folder they cannot enter is not exposed.
    """
    if not _others_can_enter(os.path.dirname(real_path)):
        return None
    for suffix in ("", *SIBLING_SUFFIXES):
        try:
            st = os.stat(real_path + suffix)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
            return (
                f"the database file {real_path + suffix} is readable by other users (mode"
                f" {stat.S_IMODE(st.st_mode):o}), and so are its jobs' commands, env and"
                f" output: chmod go-rw {real_path}*"
            )
    return None


def _others_can_enter(folder: str) -> bool:
    """Whether every folder from the root down to ``folder`` lets other users through."""
    while True:
        try:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(folder)
        if parent == folder:
            return True
        folder = parent


__all__ = [
    "SHARED_GROUP_VAR",
    "Trust",
    "Verdict",
    "check",
    "own_folder_problem",
    "readable_by_others",
    "user_name",
    "way_problem",
]
