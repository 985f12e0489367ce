"""Who may use a served dashboard: the token, where the server listens, who is calling.

The dashboard can enqueue shell commands, so anyone who reaches a served port
without a check can run commands as the user who started it. The rules:

- every request carries the server's token in its URL (never in a cookie,
  which a browser would also send to every other port of the host), compared
  in constant time;
- the server listens on loopback unless ``--allow-remote`` says otherwise
  (``ssh -L`` is the way to reach it from elsewhere);
- on loopback, the ``Host`` header must name loopback, so a DNS-rebound name
  cannot reach the server through the browser; a websocket's ``Origin`` must
  be the page's own.

Standard library only (and ``filesafety``, which is too), so each rule is
tested without a server.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import socket
import stat
from urllib.parse import urlsplit

from queuectl.errors import QueueError, ValidationError

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,256}")
"""A token goes into URLs as it is: URL-safe characters, and long enough to guess never."""

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` is the token, in time that does not depend on where they differ."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def read_token_file(path: str) -> str:
    """The token stored in ``path``; a missing file is created with a new token (0600).

    Whoever has the token can run commands as this user, so the way to the file
    is held to the database's rules (``filesafety``): no folder on it writable
    by others, no link of another user's. Another user's link led to any private
    file of this user's that held one line of token characters (another program's
    key), which was then served as the token, in every URL. The file itself is
    looked at before it is opened (a device is not opened at all), and opened
    without following a link, so a swap after the check is refused too.

    Raises:
        QueueError: the way to the file is unsafe, the file is not a regular file,
            is not owned by this user, can be read or written by others, or does
            not hold a usable token.
    """
    from queuectl.store.filesafety import way_problem

    problem, real_path = way_problem(path)
    if problem:
        raise QueueError(f"refusing the token file {path}: {problem}")
    try:
        info = os.lstat(real_path)
    except FileNotFoundError:
        return _create_token_file(path, real_path)
    except OSError as exc:
        raise QueueError(f"cannot read the token file {path}: {exc.strerror}") from None
    _check_token_file(path, info)
    try:
        # Non-blocking: should a FIFO be swapped in after the look, open() does not wait
        # for a writer for ever; no link followed (ELOOP), whatever appeared meanwhile.
        fd = os.open(real_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
    except OSError as exc:
        raise QueueError(f"cannot read the token file {path}: {exc.strerror}") from None
    try:
        _check_token_file(path, os.fstat(fd))  # of the file opened: a swap changes nothing
        token = os.read(fd, 4096).decode("utf-8", "replace").strip()
    except OSError as exc:  # EIO from a file that cannot be read (a bad disk, /proc/self/mem)
        raise QueueError(f"cannot read the token file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if not TOKEN_PATTERN.fullmatch(token):
        raise QueueError(
            f"the token file {path} must hold one token of 16-256 characters "
            "from A-Z a-z 0-9 . _ ~ - (delete the file and a new one is made)"
        )
    return token


def _check_token_file(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise QueueError(f"the token file {path} is not a regular file")
    if info.st_uid != os.geteuid():
        raise QueueError(
            f"the token file {path} belongs to another user (uid {info.st_uid}); "
            "it must be yours and private (chmod 600)"
        )
    if info.st_mode & 0o077:
        raise QueueError(
            f"the token file {path} is open to other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); make it private: chmod 600 {path}"
        )


def _create_token_file(path: str, real_path: str) -> str:
    """A new token in a new file at ``real_path`` (where ``path`` leads, through the user's
    own links): never through a link, never into a file someone else made first."""
    token = new_token()
    try:
        fd = os.open(real_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise QueueError(
            f"cannot create the token file {path}: something appeared there meanwhile"
        ) from None
    except OSError as exc:
        raise QueueError(f"cannot create the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(fd, 0o600)  # whatever the umask
        handle.write(token + "\n")
    return token


def is_loopback_name(name: str) -> bool:
    """A loopback address or ``localhost`` (and its subdomains), without asking DNS.

    Used on the ``Host`` header, where asking DNS is what a rebinding attack wants.
    """
    name = name.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # ``::ffff:127.0.0.1`` is 127.0.0.1 over IPv6, which Python before 3.13 does not call
    # loopback: it was refused as reaching "anyone who reaches the port".
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def bare_host(host: str) -> str:
    """``host`` as a socket takes it: an IPv6 address written as in a URL (``[::1]``)
    loses its brackets, which the bind would take for part of a name, and an IPv4 address
    written in IPv6 (``::ffff:127.0.0.1``), which Linux will not bind, is given as IPv4."""
    if "[" not in host and "]" not in host:
        return _unmapped(host)
    inner = host[1:-1] if host.startswith("[") and host.endswith("]") else ""
    try:
        return _unmapped(str(ipaddress.IPv6Address(inner)))
    except ValueError:
        raise ValidationError(f"--host {host!r}: brackets hold an IPv6 address only") from None


def _unmapped(host: str) -> str:
    try:
        mapped = ipaddress.IPv6Address(host).ipv4_mapped
    except ValueError:
        return host
    return str(mapped) if mapped is not None else host


def check_listen_host(host: str, *, allow_remote: bool) -> bool:
    """Whether listening on ``host`` reaches beyond this machine; refused without ``allow_remote``.

    A name is resolved here (it is the user's own setting): it counts as
    loopback only if every address it resolves to is.

    Raises:
        ValidationError: ``host`` is not loopback and ``allow_remote`` is false,
            or it does not resolve.
    """
    if is_loopback_name(host):
        return False
    if host not in WILDCARD_HOSTS:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise ValidationError(f"cannot resolve --host {host!r}") from None
        if infos and all(is_loopback_name(str(info[4][0])) for info in infos):
            return False
    if not allow_remote:
        raise ValidationError(
            f"refusing to serve on {host or 'every address'}: anyone who reaches the port "
            "could run commands as you; reach it over 'ssh -L' instead, or pass --allow-remote"
        )
    return True


def host_header_allowed(host_header: str | None, *, listen_host: str, remote: bool) -> bool:
    """Whether a request's ``Host`` may reach this server.

    Served on loopback, only loopback names (any port, so ``ssh -L 9000:…:8000``
    works) or the ``--host`` given. Served remotely, any name: the token guards it.
    """
    if remote:
        return True
    hostname = _hostname(host_header)
    if hostname is None:
        return False
    return is_loopback_name(hostname) or hostname == listen_host.strip("[]").lower()


def origin_matches(origin: str | None, host_header: str | None) -> bool:
    """Whether a websocket's ``Origin`` is the page this server served (same host and port)."""
    if not origin or not host_header:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


def _hostname(host_header: str | None) -> str | None:
    if not host_header:
        return None
    try:
        return urlsplit(f"//{host_header}").hostname
    except ValueError:
        return None


def url_host(host: str) -> str:
    """``host`` as written in a URL: IPv6 in brackets, a wildcard as this machine's name."""
    if host in WILDCARD_HOSTS:
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
