"""``filesafety``: which files and folders another user could use to run commands as us.

Ownership is the point, so these run as root and hand files to ``nobody`` with
``chown`` (and plant them as ``nobody`` in a forked child where who creates
the file matters); they skip, saying why, for anyone else.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat

import pytest

from queuectl.errors import DatabaseError
from queuectl.store import filesafety, privatefiles
from tests.security.conftest import NOBODY, as_nobody, needs_root

pytestmark = needs_root

NOGROUP = NOBODY.pw_gid
"""nobody's primary group: a group with users other than root in it."""


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _problem(path) -> str | None:
    return filesafety.check(str(path)).problem


@pytest.fixture
def home(tmp_path):
    """A private folder (pytest's are 0700 under the sticky /tmp) for one test."""
    return tmp_path


def test_pytest_tmp_folders_are_safe(home):
    """Every test's database lives here: /tmp is sticky and root's, the rest private."""
    assert _problem(home / "q.db") is None
    assert _problem(home / "missing" / "deeper" / "q.db") is None


def test_a_file_of_another_user(home):
    path = home / "q.db"
    path.write_bytes(b"")
    os.chown(path, NOBODY.pw_uid, -1)
    assert _problem(path) == (
        f"the database file {path} belongs to nobody; "
        "nobody could make queuectl run commands as root"
    )


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_the_files_sqlite_keeps_beside_the_database(home, suffix):
    path = home / "q.db"
    path.write_bytes(b"")
    beside = home / f"q.db{suffix}"
    beside.write_bytes(b"")
    os.chmod(beside, 0o606)
    assert f"{beside} is writable by other users (mode 606)" in _problem(path)
    os.chmod(beside, 0o600)
    os.chown(beside, NOBODY.pw_uid, -1)
    assert f"{beside} belongs to nobody" in _problem(path)
    beside.unlink()
    beside.symlink_to(home / "elsewhere")
    assert "is a symbolic link beside the database" in _problem(path)


def test_a_folder_others_can_write_on_the_way(home):
    shared = home / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    problem = _problem(shared / "team" / "q.db")
    assert problem.startswith(
        f"the folder {shared} (on the way to it) is writable by other users (mode 777)"
    )


def test_a_sticky_folder_is_safe_above_the_database_but_not_as_its_own_folder(home):
    sticky = home / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    assert _problem(sticky / "mine" / "q.db") is None  # like /tmp/mine/q.db
    assert _problem(sticky / "q.db") == (
        f"the database folder {sticky} is writable by other users (mode 1777); "
        "other users could make queuectl run commands as root"
    )


def test_a_sticky_folder_of_another_user_is_not_safe(home):
    sticky = home / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    os.chown(sticky, NOBODY.pw_uid, -1)
    assert "belongs to nobody" in _problem(sticky / "mine" / "q.db")


def test_a_symbolic_link_planted_by_another_user(open_tmp):
    """Even in a sticky folder, where links are allowed, a link of nobody's is not followed."""
    sticky = open_tmp / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    mine = open_tmp / "mine"
    mine.mkdir(mode=0o700)
    as_nobody(lambda: os.symlink(str(mine), str(sticky / "link")))
    assert _problem(sticky / "link" / "q.db") == (
        f"the symbolic link {sticky / 'link'} belongs to nobody; "
        "nobody could make queuectl run commands as root"
    )


def test_links_of_our_own_are_followed_and_their_targets_checked(home):
    real = home / "real"
    real.mkdir(mode=0o700)
    (home / "relative").symlink_to("real")
    (home / "absolute").symlink_to(real)
    (real / "q.db").write_bytes(b"")
    (home / "file-link.db").symlink_to(real / "q.db")
    for given in (home / "relative" / "q.db", home / "absolute" / "q.db", home / "file-link.db"):
        verdict = filesafety.check(str(given))
        assert verdict == filesafety.Verdict((), str(real / "q.db")), given
    os.chmod(real, 0o777)  # the target's own folder counts, wherever the link is
    assert f"the database folder {real} is writable" in _problem(home / "relative" / "q.db")


def test_a_loop_of_links_is_a_problem_not_a_hang(home):
    (home / "a").symlink_to(home / "b")
    (home / "b").symlink_to(home / "a")
    assert _problem(home / "a" / "q.db").startswith("too many symbolic links")


def test_group_write_is_safe_only_on_our_own_private_group(home):
    folder = home / "db"
    folder.mkdir()
    os.chmod(folder, 0o770)
    assert _problem(folder / "q.db") is None  # group root: nobody but root is in it
    os.chown(folder, -1, NOGROUP)
    assert "is writable by other users (mode 770)" in _problem(folder / "q.db")
    staff = grp.getgrnam("staff").gr_gid  # empty, but not root's own group
    os.chown(folder, -1, staff)
    assert "is writable by other users" in _problem(folder / "q.db")


def test_the_shared_group_opt_in(home, monkeypatch):
    """QUEUECTL_SHARED_GROUP: its members are trusted and may write; others still may not."""
    folder = home / "team"
    folder.mkdir()
    os.chown(folder, -1, NOGROUP)
    os.chmod(folder, 0o2770)
    path = folder / "q.db"
    path.write_bytes(b"x")
    os.chown(path, NOBODY.pw_uid, NOGROUP)  # written by a teammate
    os.chmod(path, 0o660)
    assert _problem(path).startswith(
        f"the database folder {folder} is writable by other users (mode 2770)"
    )
    monkeypatch.setenv(filesafety.SHARED_GROUP_VAR, "nogroup")
    assert _problem(path) is None
    os.chmod(path, 0o666)
    assert "writable by other users (mode 666)" in _problem(path)
    os.chmod(path, 0o660)
    os.chown(path, pwd.getpwnam("daemon").pw_uid, -1)  # not in the group
    assert f"the database file {path} belongs to daemon" in _problem(path)
    monkeypatch.setenv(filesafety.SHARED_GROUP_VAR, "no-such-group")
    with pytest.raises(DatabaseError, match="QUEUECTL_SHARED_GROUP names no group here"):
        _problem(path)


def test_the_shared_group_gets_what_queuectl_creates(home, monkeypatch):
    monkeypatch.setenv(filesafety.SHARED_GROUP_VAR, "nogroup")
    folder = home / "a" / "b"
    privatefiles.make_folders(str(folder))
    assert privatefiles.create_file(str(folder / "q.db"))
    for path, mode in ((home / "a", 0o2770), (folder, 0o2770), (folder / "q.db", 0o660)):
        assert (_mode(path), os.stat(path).st_gid) == (mode, NOGROUP), path
    assert _problem(folder / "q.db") is None
    # A worker's log, which the supervisor opens itself, follows the same rule.
    log = folder / "worker-w1.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        privatefiles.settle_new_file(str(log), fd)
    finally:
        os.close(fd)
    assert (_mode(log), os.stat(log).st_gid) == (0o660, NOGROUP)
    monkeypatch.delenv(filesafety.SHARED_GROUP_VAR)
    old = os.umask(0)
    try:
        fd = os.open(home / "private.log", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        privatefiles.settle_new_file(str(home / "private.log"), fd)
        os.close(fd)
    finally:
        os.umask(old)
    assert _mode(home / "private.log") == 0o600


def test_only_members_can_give_files_to_the_shared_group(open_tmp, monkeypatch):
    os.chmod(open_tmp, 0o777)
    monkeypatch.setenv(filesafety.SHARED_GROUP_VAR, "root")

    def create() -> None:
        try:
            privatefiles.make_folders(str(open_tmp / "team"))
        except DatabaseError as exc:
            assert "nobody is not a member of it" in str(exc)
            return
        raise AssertionError("nobody gave a folder to root's group")

    as_nobody(create)


def test_folders_and_files_are_exact_whatever_the_umask(home):
    old = os.umask(0)
    try:
        privatefiles.make_folders(str(home / "a" / "b" / "c"))
        assert privatefiles.create_file(str(home / "a" / "b" / "c" / "q.db"))
        os.umask(0o277)  # would leave the owner unable to write
        privatefiles.make_folders(str(home / "d"))
        assert privatefiles.create_file(str(home / "d" / "q.db"))
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "a/b/c", "d"):
        assert _mode(home / folder) == 0o700, folder
    assert _mode(home / "a/b/c/q.db") == _mode(home / "d/q.db") == 0o600


def test_create_file_never_follows_or_reuses(home):
    target = home / "target"
    target.write_bytes(b"keep")
    (home / "q.db").symlink_to(target)
    assert privatefiles.create_file(str(home / "q.db")) is False
    assert target.read_bytes() == b"keep" and _mode(target) == 0o644


def test_an_adopted_empty_file_is_made_private_or_refused(home):
    path = home / "q.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    assert privatefiles.adopt_empty_file(str(path)) == (
        f"the empty file {path} had mode 644; made it 600 to use it as the database"
    )
    assert _mode(path) == 0o600
    assert privatefiles.adopt_empty_file(str(path)) is None  # already fine: nothing said
    os.chown(path, NOBODY.pw_uid, -1)
    with pytest.raises(DatabaseError, match="belongs to nobody, not root"):
        privatefiles.adopt_empty_file(str(path))


def test_a_user_never_adopts_roots_empty_file(open_tmp):
    """Root is trusted to own the folders on the way, but an empty file must be our own."""
    folder = open_tmp / "nobodys"
    folder.mkdir()
    os.chown(folder, NOBODY.pw_uid, -1)
    path = folder / "q.db"
    path.write_bytes(b"")

    def adopt() -> None:
        try:
            privatefiles.adopt_empty_file(str(path))
        except DatabaseError as exc:
            assert "belongs to root, not nobody" in str(exc)
            return
        raise AssertionError("nobody adopted root's file")

    as_nobody(adopt)


def test_folders_above_the_home_folder_are_not_checked():
    trust = filesafety.Trust.current()
    home = os.path.realpath(pwd.getpwuid(os.geteuid()).pw_dir)
    assert os.path.dirname(home) in trust.home_ancestors and home not in trust.home_ancestors


def test_paths_that_cannot_be_looked_into_are_one_line_errors(open_tmp):
    """Hidden from the user (a private folder of root's) or through a file: no traceback."""
    from queuectl.store import db

    private = open_tmp / "private"
    private.mkdir(mode=0o700)
    assert _problem(private / "q.db") is None  # root sees it; for nobody it is hidden

    def open_hidden() -> None:
        for path in (private / "q.db", private / "deeper" / "q.db"):
            hidden = re.escape(f"cannot use the database {path}: Permission denied")
            with pytest.raises(DatabaseError, match=hidden):
                db.open_database(str(path))

    as_nobody(open_hidden)
    through_a_file = re.escape("cannot use the database /etc/passwd/q.db: Not a directory")
    for read_only in (False, True):
        with pytest.raises(DatabaseError, match=through_a_file):
            db.open_database("/etc/passwd/q.db", read_only=read_only)
