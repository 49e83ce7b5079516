"""Raw tensor bytes of the Open Inference Protocol's binary tensor data extension.

Triton's ``binary_tensor_data`` extension (what ``tritonclient`` sends by default): numbers,
booleans and half floats are packed little-endian, one element after the other in row-major
order; a BYTES element is a 4-byte little-endian length followed by that many bytes. BF16
has no numpy type and is refused. Errors are ``ValueError`` with a message the caller prefixes
with the tensor's name.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

NUMBER_TYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip
_LENGTH = struct.Struct("<I")


def _bytes_elements(raw: bytes, count: int) -> list[bytes]:
    elements: list[bytes] = []
    pos = 0
    while pos < len(raw):
        if pos + _LENGTH.size > len(raw):
            raise ValueError(f"BYTES element {len(elements)} has a cut-off length prefix")
        (size,) = _LENGTH.unpack_from(raw, pos)
        pos += _LENGTH.size
        if pos + size > len(raw):
            raise ValueError(f"BYTES element {len(elements)} says {size} bytes, "
                             f"{len(raw) - pos} are left")  # fmt: skip
        elements.append(raw[pos : pos + size])
        pos += size
    if len(elements) != count:
        raise ValueError(f"its shape needs {count} elements, the binary data holds {len(elements)}")
    return elements


def decode_tensor(datatype: str, count: int, raw: bytes) -> list[Any]:
    """The ``count`` elements of a binary tensor as Python values (BYTES as text)."""
    if datatype == "BYTES":
        elements = _bytes_elements(raw, count)
        try:
            return [e.decode() for e in elements]
        except UnicodeDecodeError as exc:
            raise ValueError(f"a BYTES element is not UTF-8 text ({exc.reason})") from None
    dtype = NUMBER_TYPES.get(datatype)
    if dtype is None:
        raise ValueError(f"datatype {datatype!r} cannot be read as binary data; "
                         f"use BYTES or one of {', '.join(NUMBER_TYPES)}")  # fmt: skip
    needed = count * np.dtype(dtype).itemsize
    if len(raw) != needed:
        raise ValueError(f"binary_data_size is {len(raw)} bytes; {count} {datatype} elements "
                         f"need {needed}")  # fmt: skip
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def encode_tensor(datatype: str, values: Sequence[Any]) -> bytes:
    """Binary data of a tensor's values (None in a number tensor is NaN)."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            data = value if isinstance(value, bytes) else str(value).encode()
            parts += [_LENGTH.pack(len(data)), data]
        return b"".join(parts)
    dtype = NUMBER_TYPES[datatype]
    return np.asarray(values, dtype=dtype).tobytes()
