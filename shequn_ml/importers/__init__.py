"""Importers: the exports operators actually have, in the event contract.

One module per format, one shared result type (:class:`ImportResult`). Each
importer reads an export, resolves who did what to whom, counts what it skipped,
and returns tables that :func:`write_import` validates and writes together::

    from shequn_ml.importers import read_slack_export, write_import
    result = read_slack_export("slack-export/")
    print(result.summary())
    write_import(result, "imported/")

The command line does the same: ``shequn-ml import slack slack-export/ --out imported/``.
"""

from __future__ import annotations

from shequn_ml.importers._core import (
    NICKNAME_COLUMNS,
    EventBuilder,
    ImportFormatError,
    ImportResult,
    NicknameBook,
    pseudonymise,
    write_import,
)

__all__ = [
    "NICKNAME_COLUMNS",
    "EventBuilder",
    "ImportFormatError",
    "ImportResult",
    "NicknameBook",
    "pseudonymise",
    "write_import",
]
