"""Confinement: every path a service takes from a file or an event must lie inside its configured folders.

A path in an event (an arrival, a work item, a member-done) is never trusted: before a service opens it,
:meth:`Roots.require_inside` resolves it — ``..`` components and symbolic links anywhere along it included —
and refuses it unless the result lies inside one of the folders that kind of path may come from (the ingest
folder for raw files, the products folder for stage-2 and stage-3 inputs). Files a service *reads* must also
be regular files reached without a symbolic link (:func:`regular_file`): a FIFO named ``*_uncal.fits`` would
block its reader forever, a link to ``/dev/zero`` would be read without end, and a link out of the ingest
folder would smuggle a file in. The refusals are dead letters: :class:`~streamcal.errors.ForbiddenPathError`
(reason ``forbidden_path``) and :class:`~streamcal.errors.NotRegularFileError` (``invalid_input``).

The roots are resolved once, when the service starts (:meth:`Roots.of`), so a relative ``--ingest`` and an
absolute event path compare as the same folder.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamcal.errors import ForbiddenPathError, NotRegularFileError

__all__ = ["Root", "Roots", "regular_file"]

Root = Literal["ingest", "products", "refs"]


def _resolved(path: Path | None) -> Path | None:
    return None if path is None else Path(os.path.realpath(path))


@dataclass(frozen=True, slots=True)
class Roots:
    """The folders a service may read and write, resolved (absolute, no symbolic links); None: not configured
    for this service."""

    ingest: Path | None = None
    products: Path | None = None
    refs: Path | None = None

    @classmethod
    def of(cls, *, ingest: Path | None = None, products: Path | None = None, refs: Path | None = None) -> Roots:
        """The roots of these folders, resolved now (they need not exist yet)."""
        return cls(_resolved(ingest), _resolved(products), _resolved(refs))

    def require_inside(self, path: Path, *allowed: Root, what: str) -> Path:
        """``path`` if, resolved, it lies inside one of the ``allowed`` roots (blocking: it resolves links).

        Raises
        ------
        ForbiddenPathError
            It resolves outside them (``..``, an absolute path elsewhere, a link out), or none of them is
            configured for this service. The message names ``what`` and the path. Not retriable.
        """
        roots = [(name, root) for name in allowed if (root := getattr(self, name)) is not None]
        if not roots:
            raise ForbiddenPathError(f"{what} {str(path)[:200]!r}: this service has no {' or '.join(allowed)} "
                                     "folder to read it from")
        resolved = Path(os.path.realpath(path))
        if any(resolved.is_relative_to(root) for _, root in roots):
            return path
        places = " or ".join(f"the {name} folder {root}" for name, root in roots)
        raise ForbiddenPathError(f"{what} {str(path)[:200]!r} resolves to {str(resolved)[:200]!r}, outside {places}")

    def require_file(self, path: Path, *allowed: Root, what: str) -> os.stat_result:
        """:meth:`require_inside` and :func:`regular_file`: a regular file inside the allowed roots, reached
        without a symbolic link (blocking). Raises as those do; FileNotFoundError when it is gone."""
        self.require_inside(path, *allowed, what=what)
        return regular_file(path, what=what)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path: Path, *, what: str) -> os.stat_result:
    """The ``lstat`` of ``path`` if it is a regular file, not a symbolic link (blocking; never opens it).

    Raises
    ------
    ForbiddenPathError
        A symbolic link. Not retriable.
    NotRegularFileError
        A directory, FIFO, device or socket. Not retriable.
    FileNotFoundError
        It is gone.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise ForbiddenPathError(f"{what} {path.name}: a symbolic link (to {os.readlink(path)[:200]!r}); only "
                                 "regular files are read")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise NotRegularFileError(f"{what} {path.name} is {kind}, not a regular file")
    return st
