"""Low-level decoding shared by the format readers: JSON files and raw little-endian tensor bytes."""

from __future__ import annotations

import json
import math
import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decoder.errors import ModelImportError

# Both file formats store little-endian data; spelling the byte order out keeps the
# readers correct on big-endian hosts too. numpy has no bfloat16, so its 16-bit
# patterns are read as int16 and reinterpreted by torch.
_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<i2"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
}


def read_json_object(path: Path) -> dict[str, Any]:
    """Parses a JSON file that must hold an object (config.json and friends)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ModelImportError(f"{path} does not hold a JSON object")
    return data


def tensor_from_buffer(
    buffer: mmap.mmap,
    offset: int,
    nbytes: int,
    dtype: str,
    shape: Sequence[int],
    name: str,
) -> torch.Tensor:
    """Copies one tensor out of a mapped file into memory torch owns."""
    np_dtype = _NUMPY_DTYPES[dtype]
    count = math.prod(shape)
    if count * np_dtype.itemsize != nbytes:
        raise ModelImportError(f"tensor {name}: {nbytes} bytes do not hold shape {list(shape)} of {dtype}")
    if offset + nbytes > len(buffer):
        raise ModelImportError(f"tensor {name}: data runs past the end of the file (truncated file?)")
    raw = np.frombuffer(buffer, dtype=np_dtype, count=count, offset=offset)
    # The copy detaches the tensor from the mapped file, which is closed right after reading.
    array = raw.astype(np_dtype.newbyteorder("="), copy=True)
    tensor = torch.from_numpy(array).reshape(tuple(shape))
    return tensor.view(torch.bfloat16) if dtype == "bfloat16" else tensor
