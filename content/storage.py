"""Where attachment files live: a directory of files named by their checksum.

The database keeps what a file is (name as uploaded, type, size, checksum); the
storage keeps the bytes under ``<sha256>.<ext>`` (see
:func:`content.rules.checksum_name`), so the same file uploaded twice is stored
once and a name can never point outside the storage.

:class:`LocalStorage` is the default, under ``settings.data_dir/attachments``;
anything with the same three methods (``put``, ``path``, ``exists``) can replace
it, e.g. a mounted network share.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

__all__ = ["AttachmentStorage", "LocalStorage", "StorageError", "storage_for"]

# "<64 hex>.<1-10 lower-case letters or digits>": nothing else is ever a storage name.
STORAGE_NAME_RE = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,10}")


class StorageError(RuntimeError):
    """The storage cannot keep or find a file."""


def _checked(name: str) -> str:
    if not isinstance(name, str) or not STORAGE_NAME_RE.fullmatch(name):
        raise StorageError(f"{name!r} is not a storage name (sha256.ext)")
    return name


class AttachmentStorage(Protocol):
    def put(self, name: str, data: bytes) -> None: ...

    def path(self, name: str) -> Path: ...

    def exists(self, name: str) -> bool: ...


class LocalStorage:
    """Files under ``root/<first two hex digits>/<name>``, written atomically."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        name = _checked(name)
        return self.root / name[:2] / name

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` unless a file of that name is there already.

        Written to a temporary file then renamed, so a reader never sees half a file.
        """
        target = self.path(name)
        if target.is_file():
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"Could not store the file: {exc.strerror or exc}") from exc


def storage_for(settings) -> LocalStorage:
    """The attachment storage of a Konbit installation: ``data_dir/attachments``."""
    return LocalStorage(Path(settings.data_dir) / "attachments")
