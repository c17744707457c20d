"""Importing comments from Isso, Disqus and WordPress.

``open_source(fmt, path)`` checks the file and counts its comments;
``import_source(source, options)`` stores them (see ``base.run_import``).
``import_file`` does both, for callers without a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from .base import (
    REASONS,
    ImportFailed,
    ImportSummary,
    Options,
    Progress,
    check_options,
    key_from_url,
    run_import,
)
from .disqus import DisqusExport
from .isso import IssoDatabase
from .wordpress import WordPressExport

FORMATS = ("isso", "disqus", "wordpress")

__all__ = [
    "FORMATS",
    "REASONS",
    "ImportFailed",
    "ImportSummary",
    "Options",
    "Source",
    "check_options",
    "import_file",
    "import_source",
    "key_from_url",
    "open_source",
]


@dataclass
class Source:
    """A file opened as one of the formats, with the number of comments it holds."""

    fmt: str
    path: str
    reader: IssoDatabase | DisqusExport | WordPressExport
    total: int


def open_source(fmt: str, path: str | Path) -> Source:
    """The file read as ``fmt``, checked and counted; ImportFailed if it is not one."""
    reader: IssoDatabase | DisqusExport | WordPressExport
    if fmt == "isso":
        reader = IssoDatabase(path)
    elif fmt == "disqus":
        reader = DisqusExport(path)
    elif fmt == "wordpress":
        # A comment without a GMT time is read in the portal's zone.
        reader = WordPressExport(path, current_app.config["TIMEZONE"])
    else:
        raise ImportFailed(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return Source(fmt, str(path), reader, reader.count())


def import_source(
    source: Source, options: Options, progress: Progress | None = None
) -> ImportSummary:
    """Store an opened source's comments; see ``base.run_import``."""
    try:
        return run_import(source.fmt, source.reader.records(), options, progress, source.path)
    finally:
        if isinstance(source.reader, IssoDatabase):
            source.reader.close()


def import_file(
    fmt: str,
    path: str | Path,
    key_pattern: str | None = None,
    base_url: str | None = None,
    source: str | None = None,
    batch_size: int = 2000,
) -> ImportSummary:
    """Open and import in one call, without progress reports."""
    options = check_options(key_pattern, base_url, source, batch_size)
    return import_source(open_source(fmt, path), options)
