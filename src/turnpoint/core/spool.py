"""A matrix of rows kept in a temporary file and read or written a block at a time.

Hours of audio give hundreds of thousands of embedding rows; holding them (and their smoothed
copy) in memory makes peak memory grow with the file. :class:`RowSpool` keeps them on disk with
plain reads and writes, not a memory map, so rows that were read are not counted as resident
memory afterwards: memory holds the block being worked on, whatever the file's length. It slices
like a 2-D array (``spool[a:b]``, ``spool[indices]``, ``spool[a:b] = rows``), so code written for
arrays runs on it unchanged when it works block by block.

The file lives in the system's temporary folder (``TMPDIR``) and is deleted on :meth:`close`.

Examples
--------
>>> import numpy as np
>>> with RowSpool(width=3) as rows:
...     rows.append(np.arange(6, dtype=np.float32).reshape(2, 3))
...     rows.append(np.ones((1, 3), dtype=np.float32))
...     rows[1:2] = np.zeros((1, 3), dtype=np.float32)
...     rows.shape, rows[0:3].tolist(), rows[np.array([2, 0])].tolist()
((3, 3), [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
"""

from __future__ import annotations

import tempfile

import numpy as np

__all__ = ["RowSpool"]


class RowSpool:
    """Rows of ``width`` values of one dtype in a temporary file, appended in order.

    Parameters
    ----------
    width : int
        Values per row.
    dtype : numpy dtype
        Type of the values (float32 by default).
    """

    ndim = 2

    def __init__(self, width: int, *, dtype: np.dtype | type = np.float32):
        if width < 0:
            raise ValueError(f"width must be >= 0, not {width}")
        self.width = int(width)
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.width * self.dtype.itemsize
        self._rows = 0
        self._file = tempfile.TemporaryFile(prefix="turnpoint-rows-")

    @property
    def shape(self) -> tuple[int, int]:
        return self._rows, self.width

    def __len__(self) -> int:
        return self._rows

    def append(self, rows: np.ndarray) -> None:
        """Add ``rows`` (n, width) at the end."""
        self[self._rows : self._rows + len(rows)] = rows

    def _read(self, first: int, count: int) -> np.ndarray:
        out = np.empty((count, self.width), dtype=self.dtype)
        if count and self.width:
            self._file.seek(first * self._row_bytes)
            if self._file.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise OSError("the row spool's temporary file is shorter than its rows")
        return out

    def _range(self, index: slice) -> tuple[int, int]:
        first, stop, step = index.indices(self._rows)
        if step != 1:
            raise IndexError("a row spool reads contiguous rows: slices with a step are not supported")
        return first, max(first, stop)

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        if isinstance(index, slice):
            first, stop = self._range(index)
            return self._read(first, stop - first)
        rows = np.asarray(index, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -self._rows or rows.max() >= self._rows):
            raise IndexError(f"row index out of range for a spool of {self._rows} rows")
        rows = np.where(rows < 0, rows + self._rows, rows)
        out = np.empty((len(rows), self.width), dtype=self.dtype)
        for place, row in enumerate(rows):  # a few thousand seeks at most (the clustering subset)
            out[place] = self._read(int(row), 1)[0]
        return out

    def __setitem__(self, index: slice, rows: np.ndarray) -> None:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise IndexError("a row spool writes contiguous rows (a slice)")
        first = 0 if index.start is None else index.start
        rows = np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, self.width)
        stop = first + len(rows)
        if index.stop is not None and index.stop != stop:
            raise ValueError(f"{len(rows)} rows do not fill rows {first}:{index.stop}")
        if not 0 <= first <= self._rows:
            raise IndexError(f"rows are written in place or at the end ({self._rows} rows so far), not at {first}")
        if rows.size:
            self._file.seek(first * self._row_bytes)
            self._file.write(memoryview(rows).cast("B"))
        self._rows = max(self._rows, stop)

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
