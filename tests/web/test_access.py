"""The access rules of ``queuectl web``, without a server: token, token file, hosts, origins."""

from __future__ import annotations

import os
import shutil
import stat
import time

import pytest

from queuectl.errors import QueueError, ValidationError
from queuectl.web import access
from tests.security.conftest import as_nobody, needs_root, open_tmp

__all__ = ["open_tmp"]  # a fixture, used by name


def test_the_token_is_compared_whole_and_anything_else_is_refused():
    token = access.new_token()
    assert access.token_matches(token, token)
    assert not access.token_matches(token[:-1], token)
    assert not access.token_matches(token + "x", token)
    assert not access.token_matches("", token)
    assert not access.token_matches(None, token)
    assert not access.token_matches("é" * 43, token)  # not ASCII: refused, not an exception


def test_tokens_are_random_url_safe_and_long():
    tokens = {access.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(access.TOKEN_PATTERN.fullmatch(t) and len(t) >= 43 for t in tokens)


def test_a_missing_token_file_is_created_private_even_under_umask_0(tmp_path):
    path = tmp_path / "token"
    old = os.umask(0)
    try:
        token = access.read_token_file(str(path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert access.read_token_file(str(path)) == token  # the same URL after a restart


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_a_token_file_others_can_read_or_write_is_refused(tmp_path, mode):
    path = tmp_path / "token"
    path.write_text(access.new_token())
    path.chmod(mode)
    with pytest.raises(QueueError, match=r"open to other users .*chmod 600"):
        access.read_token_file(str(path))


def test_a_token_file_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path = tmp_path / "token"
    path.write_text(access.new_token())
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(QueueError, match="belongs to another user"):
        access.read_token_file(str(path))


@pytest.mark.parametrize("content", ["", "short", "has spaces in it, many", "a/b?c=d&e" * 3])
def test_a_token_file_without_a_usable_token_is_refused(tmp_path, content):
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(QueueError, match="must hold one token"):
        access.read_token_file(str(path))


def test_a_token_file_that_is_a_folder_is_refused(tmp_path):
    folder = tmp_path / "token"
    folder.mkdir(mode=0o700)
    with pytest.raises(QueueError, match="token file"):
        access.read_token_file(str(folder))


def test_a_token_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    """Opening a FIFO waits for a writer: another user could plant one at a token path
    in a shared folder and hang ``queuectl web`` at its start."""
    fifo = tmp_path / "token"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    with pytest.raises(QueueError, match="is not a regular file"):
        access.read_token_file(str(fifo))
    assert time.monotonic() - started < 1


SECRET = "OtherProgramsApiKey_0123456789"
"""One line of token characters: another program's private key, as it might be."""


@pytest.fixture
def shared(open_tmp):
    """A folder anyone may create in, sticky as /tmp, and a private file of ours outside it."""
    open_tmp.chmod(0o1777)
    mine = open_tmp.parent / f"{open_tmp.name}-mine"
    mine.mkdir(mode=0o700)
    secret = mine / "api-key"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    yield open_tmp, secret
    shutil.rmtree(mine)


@needs_root
def test_another_users_link_to_a_private_file_of_ours_is_not_served_as_the_token(shared):
    folder, secret = shared
    as_nobody(lambda: (folder / "token").symlink_to(secret))
    with pytest.raises(QueueError) as refused:
        access.read_token_file(str(folder / "token"))
    message = str(refused.value)
    assert message.startswith(f"refusing the token file {folder}/token: the symbolic link")
    assert "belongs to nobody" in message and SECRET not in message


@needs_root
def test_another_users_dangling_link_makes_no_file_where_it_points(shared):
    folder, secret = shared
    target = secret.parent / "created-through-the-link"
    as_nobody(lambda: (folder / "token").symlink_to(target))
    with pytest.raises(QueueError, match="belongs to nobody"):
        access.read_token_file(str(folder / "token"))
    assert not target.exists()


@needs_root
def test_a_token_file_in_a_folder_others_can_write_is_refused(open_tmp):
    """Anyone who can write the folder can put a hard link or a link in the file's place."""
    open_tmp.chmod(0o777)
    token = open_tmp / "token"
    token.write_text(access.new_token())
    token.chmod(0o600)
    with pytest.raises(QueueError, match=r"writable by other users \(mode 777\)"):
        access.read_token_file(str(token))


def test_our_own_link_is_followed_and_a_dangling_one_made_into_the_file(tmp_path):
    real = tmp_path / "real-token"
    link = tmp_path / "token"
    link.symlink_to(real)
    token = access.read_token_file(str(link))  # made where the link leads, private
    assert real.read_text().strip() == token and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert access.read_token_file(str(link)) == token


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused_without_being_opened(device):
    with pytest.raises(QueueError, match="is not a regular file"):
        access.read_token_file(device)


@pytest.mark.parametrize(
    "name",
    [
        *("127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost", "LOCALHOST", "a.localhost"),
        *("::ffff:127.0.0.1", "[::ffff:127.0.0.1]"),  # 127.0.0.1 over IPv6: was refused
    ],
)
def test_loopback_names(name):
    assert access.is_loopback_name(name)


@pytest.mark.parametrize(
    "name",
    [
        *("0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1", "example.com", "localhost.evil.com"),
        *("::ffff:0.0.0.0", "::ffff:192.0.2.2"),
    ],
)
def test_names_that_are_not_loopback(name):
    assert not access.is_loopback_name(name)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.1"])
def test_listening_beyond_loopback_needs_allow_remote(host):
    with pytest.raises(ValidationError, match=r"ssh -L.*--allow-remote"):
        access.check_listen_host(host, allow_remote=False)
    assert access.check_listen_host(host, allow_remote=True) is True


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_is_served_without_asking(host):
    assert access.check_listen_host(host, allow_remote=False) is False
    assert access.check_listen_host(host, allow_remote=True) is False  # still loopback


def test_an_unresolvable_host_is_a_clear_error():
    with pytest.raises(ValidationError, match="cannot resolve"):
        access.check_listen_host("no-such-host.invalid", allow_remote=False)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:9000", True),  # ssh -L 9000:127.0.0.1:8000
        ("[::1]:8000", True),
        ("localhost", True),
        ("evil.example:8000", False),  # a DNS-rebound name
        ("127.0.0.1.nip.io:8000", False),
        ("", False),
        (None, False),
        ("[bad", False),
    ],
)
def test_host_header_on_loopback(header, allowed):
    assert access.host_header_allowed(header, listen_host="127.0.0.1", remote=False) is allowed


def test_host_header_may_name_the_host_given_and_anything_when_remote():
    assert access.host_header_allowed("devbox:8000", listen_host="devbox", remote=False)
    assert access.host_header_allowed("devbox.lan:8000", listen_host="0.0.0.0", remote=True)


@pytest.mark.parametrize(
    ("origin", "host", "matches"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://LOCALHOST:9000", "localhost:9000", True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
        ("http://evil.example", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("file://", "127.0.0.1:8000", False),
        (None, "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000", None, False),
    ],
)
def test_a_websocket_must_come_from_the_page_itself(origin, host, matches):
    assert access.origin_matches(origin, host) is matches


def test_url_host():
    assert access.url_host("127.0.0.1") == "127.0.0.1"
    assert access.url_host("::1") == "[::1]"
    assert access.url_host("0.0.0.0") not in ("0.0.0.0", "")
