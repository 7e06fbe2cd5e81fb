"""The one exception type of nvlist_ffi.

libnv reports every failure through errno, and callers (and the golden vectors) compare failures by
errno *name*. Subclassing OSError keeps that contract: ``e.errno`` is this OS's number for the name
libnv would set, so ``errno.errorcode[e.errno]`` gives the name back on Linux and FreeBSD alike even
though the numbers differ between them.
"""

from __future__ import annotations

import errno as _errno

__all__ = ["NVListError"]


class NVListError(OSError):
    """A value libnv would refuse to build or pack, or a buffer it would refuse to unpack.

    ``offset`` is the byte offset in the input buffer where decoding failed (``None`` for errors
    raised while building a list).
    """

    offset: int | None
    errno_name: str
    """Symbolic errno name as libnv uses it (``"EOPNOTSUPP"``, even where that number's
    ``errno.errorcode`` entry is an alias such as ``"ENOTSUP"``)."""

    def __init__(self, err: str | int, message: str, offset: int | None = None) -> None:
        if isinstance(err, str):
            number = getattr(_errno, err)
            name = err
        else:
            number = int(err)
            name = _errno.errorcode.get(number, str(number))
        super().__init__(number, message)
        self.offset = offset
        self.errno_name = name

    def __str__(self) -> str:
        text = str(self.strerror)
        if self.offset is not None:
            text = f"{text} (at byte {self.offset})"
        return f"{text} [{self.errno_name}]"

    def __reduce__(self) -> tuple[type[NVListError], tuple[str, str, int | None]]:
        return (type(self), (self.errno_name, str(self.strerror), self.offset))
