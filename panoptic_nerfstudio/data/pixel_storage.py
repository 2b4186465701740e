"""Where a ray store's per-pixel arrays live (``--pipeline.datamanager.cache-images cpu|disk``).

``cpu``: ordinary arrays in memory, 11 bytes per pixel (see ``ray_store``). ``disk``: each array is a memory-mapped
file in ``cache_dir`` (default: the system's temporary directory). The file is unlinked as soon as it is mapped, so
nothing is left behind, even when the process is killed; the kernel keeps the data while the mapping lives, pages
it in as rays are drawn and may evict it again, since it is clean once written. While loading, written pages are
flushed and dropped from the process every ``RELEASE_BYTES``. Memory then holds only the pages in use: a scene
larger than memory trains, at the price of disk reads where the page cache cannot hold it all.
A ``cache_dir`` on tmpfs would keep the pages in memory after all; that is reported once.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import numpy as np

from nerfstudio.utils.rich_utils import CONSOLE

PixelCache = Literal["cpu", "disk"]
RELEASE_BYTES = 256 * 2**20
"""Disk cache: written pages are flushed and dropped from the process after about this many bytes."""
_WARNED_TMPFS: set = set()


class PixelAllocator:
    """Allocates the per-pixel arrays of ray stores in memory (``cpu``) or as memory-mapped files (``disk``)."""

    def __init__(self, cache: PixelCache = "cpu", directory: Optional[Path] = None):
        if cache not in ("cpu", "disk"):
            raise ValueError(f"cache-images must be 'cpu' or 'disk', not {cache!r}")
        self.cache = cache
        self.directory = Path(directory) if directory is not None else Path(tempfile.gettempdir())
        self._maps: List[mmap.mmap] = []
        self._written = 0

    def empty(self, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, where this allocator keeps pixels."""
        count = int(np.prod(shape))
        if self.cache == "cpu" or count == 0:
            return np.empty(shape, dtype=dtype)
        self.directory.mkdir(parents=True, exist_ok=True)
        _warn_if_tmpfs(self.directory)
        handle, name = tempfile.mkstemp(prefix="panoptic-rays-", suffix=".bin", dir=self.directory)
        try:
            os.ftruncate(handle, count * np.dtype(dtype).itemsize)
            mapped = mmap.mmap(handle, count * np.dtype(dtype).itemsize)
        finally:
            os.close(handle)
            os.unlink(name)  # the mapping keeps the data alive; the directory is clean at once
        self._maps.append(mapped)
        return np.frombuffer(mapped, dtype=dtype).reshape(shape)  # the array holds the mapping

    def wrote(self, nbytes: int) -> None:
        """Count bytes written into this allocator's arrays; on disk, past ``RELEASE_BYTES`` release them."""
        self._written += nbytes
        if self._written >= RELEASE_BYTES:
            self.release_pages()

    def release_pages(self) -> None:
        """Disk: write back and drop from this process the pages of every array so far (they stay readable:
        a later access pages them in again). cpu: nothing."""
        self._written = 0
        for mapped in self._maps:
            mapped.flush()
            if hasattr(mapped, "madvise"):
                mapped.madvise(mmap.MADV_DONTNEED)


def _filesystem_type(directory: Path) -> Optional[str]:
    """The type of the file system holding ``directory`` (Linux /proc/mounts), None where unknown."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    resolved, best, kind = str(directory.resolve()), "", None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def _warn_if_tmpfs(directory: Path) -> None:
    if directory in _WARNED_TMPFS:
        return
    _WARNED_TMPFS.add(directory)
    if _filesystem_type(directory) in ("tmpfs", "ramfs"):
        CONSOLE.print(
            f"[bold yellow]Warning: --pipeline.datamanager.cache-images disk writes to {directory}, which is held in "
            "memory (tmpfs); pass --pipeline.datamanager.cache-dir on a disk to keep the pixels out of memory.",
            soft_wrap=True,
        )
