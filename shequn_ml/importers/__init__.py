"""Importers: the exports operators actually have, in the event contract.

One module per format, one shared result type (:class:`ImportResult`). Each
importer reads an export, resolves who did what to whom, counts what it skipped,
and returns tables that :func:`write_import` validates and writes together::

    from shequn_ml.importers import read_slack_export, write_import
    result = read_slack_export("slack-export/")
    print(result.summary())
    write_import(result, "imported/")

The command line does the same: ``shequn-ml import slack slack-export/ --out imported/``.
:data:`FORMATS` names every format and its reader; :func:`read_export` reads one
by name. The format modules are imported when first used, so this package
imports even where one of them is missing.

>>> sorted(FORMATS)
['csv', 'discord', 'linelog', 'qq', 'slack', 'telegram', 'wechat', 'wecom']
>>> FORMATS["csv"]
'mapped:read_mapped'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from shequn_ml.importers._core import (
    NICKNAME_COLUMNS,
    EventBuilder,
    ImportFormatError,
    ImportResult,
    NicknameBook,
    pseudonymise,
    write_import,
)
from shequn_ml.importers.mapped import read_mapped

#: Export format name -> ``"module:function"`` of its reader in this package.
FORMATS: dict[str, str] = {
    "slack": "slack:read_slack_export",
    "linelog": "linelog:read_line_log",
    "wechat": "wechat:read_wechat",
    "qq": "qq:read_qq",
    "wecom": "wecom:read_wecom",
    "telegram": "telegram:read_telegram",
    "discord": "discord:read_discord",
    "csv": "mapped:read_mapped",
}


class FormatUnavailableError(ValueError):
    """An export format that is unknown, or whose importer is not in this installation."""


def reader(format: str) -> Callable[..., ImportResult]:
    """The reader function of a format (its module imported now).

    Raises
    ------
    FormatUnavailableError
        When ``format`` is not in :data:`FORMATS` or its module is missing.

    >>> reader("csv").__name__
    'read_mapped'
    >>> reader("fax")
    Traceback (most recent call last):
    ...
    shequn_ml.importers.FormatUnavailableError: unknown export format 'fax': \
known formats are slack, linelog, wechat, qq, wecom, telegram, discord, csv
    """
    if format not in FORMATS:
        raise FormatUnavailableError(f"unknown export format {format!r}: known formats are "
                                     f"{', '.join(FORMATS)}")
    module, _, name = FORMATS[format].partition(":")
    full = f"{__name__}.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:
            raise
        raise FormatUnavailableError(f"the {format} importer ({full}) is not available in this "
                                     "installation") from None
    func = getattr(mod, name, None)
    if func is None:
        raise FormatUnavailableError(f"the {format} importer ({full}) has no function {name}")
    return func


def read_export(format: str, path: str | os.PathLike[str], **options: object) -> ImportResult:
    """Read an export of a named format: ``read_export("wechat", "chat.txt", tz=...)``.

    Parameters
    ----------
    format : str
        A key of :data:`FORMATS` (``slack``, ``linelog``, ``wechat``, ``qq``,
        ``wecom``, ``telegram``, ``discord``, ``csv``).
    path : path
        The export (file or folder, as the format has it).
    **options
        Passed to the format's reader (``tz``, ``group_id``; ``mapping`` and
        ``sheet`` for ``csv``).

    Raises
    ------
    FormatUnavailableError
        An unknown format, or one whose importer is not installed.
    ImportFormatError
        A malformed export (from the reader).
    """
    return reader(format)(path, **options)


def __getattr__(name: str) -> object:
    """The readers of the other formats (``read_slack_export``, ...), imported on first use."""
    for fmt, target in FORMATS.items():
        if target.partition(":")[2] == name:
            try:
                return reader(fmt)
            except FormatUnavailableError as exc:
                raise AttributeError(f"module {__name__!r} has no attribute {name!r} ({exc})") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "NICKNAME_COLUMNS",
    "EventBuilder",
    "FormatUnavailableError",
    "ImportFormatError",
    "ImportResult",
    "NicknameBook",
    "pseudonymise",
    "read_export",
    "read_mapped",
    "reader",
    "write_import",
]
