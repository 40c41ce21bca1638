"""Binary frames for tensors (DESIGN's wire protocol): a 4-byte little-endian header length, the
JSON header (padded so the data starts on an 8-byte boundary, as typed arrays need), then the raw
little-endian values."""

from __future__ import annotations

import struct

import torch


def encode_tensor(header_json: str, tensor: torch.Tensor, dtype: str) -> bytes:
    header = header_json.encode()
    header += b" " * (-(4 + len(header)) % 8)
    values = tensor.detach().to(torch.float16 if dtype == "float16" else torch.float32).cpu()
    data: bytes = values.contiguous().numpy().tobytes()
    return struct.pack("<I", len(header)) + header + data
