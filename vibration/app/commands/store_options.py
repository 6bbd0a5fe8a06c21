"""``--store-password-file``: the store password from a file, shared by every command with --store.

The password never has to be on a command line (``ps`` shows those to every user): put it
in a file (``--store-password-file``) or in ``TINYPDM_INFLUX_PASSWORD`` and name only the
user in the URL, ``influxdb://USER@host:8086/db``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from vibration.errors import StoreError

__all__ = ["resolve_store_url", "store_password_file_option"]

F = TypeVar("F", bound=Callable[..., object])


def store_password_file_option(fn: F) -> F:
    """The ``--store-password-file FILE`` option (parameter ``store_password_file``)."""
    return click.option(
        "--store-password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Read the store password from FILE (first line) for a URL naming only the user "
        "(influxdb://USER@host/db); or set TINYPDM_INFLUX_PASSWORD. Keeps it out of `ps`.",
    )(fn)


def resolve_store_url(url: str, password_file: Path | None) -> str:
    """``url`` with the password from ``password_file`` or the environment filled in.

    Raises
    ------
    StoreError
        The file cannot be read or is empty; the URL has no user or a password already.
    """
    from vibration.telemetry.stores import store_url_with_password

    password = None
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreError(
                f"cannot read --store-password-file {str(password_file)!r}: {why}"
            ) from None
        password = text.splitlines()[0] if text.strip() else ""
        if not password:
            raise StoreError(f"--store-password-file {str(password_file)!r} is empty")
    return store_url_with_password(url, password)
