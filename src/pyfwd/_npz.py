"""Reading ``.npz`` files that may come from anyone, in bounded memory.

Each member's ``.npy`` header (dtype, shape, memory order) is read and checked
before any of its data: the caller validates the shape against what it expects,
and only then :meth:`NpzReader.read` decompresses exactly the bytes the header
promises. Object dtypes are refused (nothing is ever unpickled), and a member
whose stored size disagrees with its header is refused before it is read.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 20


class NpzReader:
    """``with NpzReader(path) as f: f.files; f.header(key); f.read(key)``.

    Every problem with the file is a ``ValueError`` naming the file and member.
    """

    def __init__(self, path) -> None:
        self.name = os.fspath(path)
        self._fh = open(self.name, "rb")  # FileNotFoundError passes through
        try:
            head = self._fh.read(len(_NPY_MAGIC))
            self._fh.seek(0)
            if head == _NPY_MAGIC:
                raise ValueError(f"{self.name}: a single .npy array, not an .npz archive")
            try:
                self._zip = zipfile.ZipFile(self._fh)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise ValueError(f"{self.name}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
        except BaseException:
            self._fh.close()
            raise
        self._members = {n[:-4]: n for n in self._zip.namelist() if n.endswith(".npy")}
        self._headers: dict[str, tuple[tuple[int, ...], np.dtype, bool, int]] = {}

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._fh.close()

    @property
    def files(self) -> list[str]:
        return list(self._members)

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def _where(self, key: str) -> str:
        return f"{self.name}: entry {key!r}"

    def _open(self, key: str):
        if key not in self._members:
            raise ValueError(f"{self.name}: no entry {key!r} (it holds {', '.join(self._members) or 'nothing'})")
        return self._zip.open(self._members[key])

    def _read_header(self, fp, key: str):
        fmt = np.lib.format
        try:
            version = fmt.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise ValueError(f"{self._where(key)} has no valid .npy header ({exc})") from exc
        except Exception as exc:  # zlib.error, BadZipFile, EOFError from a damaged member
            raise ValueError(f"{self.name}: corrupted .npz, entry {key!r} ({type(exc).__name__}: {exc})") from exc
        return tuple(int(d) for d in shape), dtype, bool(fortran), fp.tell()

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` of member *key*, from its header alone (no data read).

        Object and structured dtypes are refused, and so is a member whose
        stored (uncompressed) size is not exactly its header plus its data.
        """
        if key not in self._headers:
            with self._open(key) as fp:
                shape, dtype, fortran, offset = self._read_header(fp, key)
            if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
                raise ValueError(f"{self._where(key)} has dtype {dtype}; object and structured arrays "
                                 "are refused (nothing is unpickled)")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            stored = self._zip.getinfo(self._members[key]).file_size
            if stored != offset + nbytes:
                raise ValueError(f"{self._where(key)}: its header says shape {shape} of {dtype} "
                                 f"({nbytes} bytes of data), but the archive stores {stored - offset} "
                                 "bytes; the file is damaged or crafted")
            self._headers[key] = (shape, dtype, fortran, offset)
        shape, dtype, _, _ = self._headers[key]
        return shape, dtype

    def read(self, key: str) -> np.ndarray:
        """The array of member *key* (its header checked first); exactly the
        bytes its header promises are decompressed, chunk by chunk."""
        shape, dtype = self.header(key)
        _, _, fortran, offset = self._headers[key]
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        data = bytearray()  # grown chunk by chunk: memory follows what is really there
        try:
            with self._open(key) as fp:
                fp.read(offset)
                while len(data) < nbytes:
                    chunk = fp.read(min(_CHUNK, nbytes - len(data)))
                    if not chunk:
                        break
                    data += chunk
        except Exception as exc:  # CRC error, zlib.error, short member
            raise ValueError(f"{self.name}: corrupted .npz, entry {key!r} ({type(exc).__name__}: {exc})") from exc
        if len(data) != nbytes:
            raise ValueError(f"{self.name}: corrupted .npz, entry {key!r} is truncated "
                             f"({len(data)} of {nbytes} bytes)")
        arr = np.frombuffer(data, dtype=dtype)
        return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
