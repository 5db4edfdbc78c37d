"""Page tokens that hold the offset of the next page's first row (visibility lists, batch job lists)."""

from __future__ import annotations

import json

from tempyral.errors import InvalidArgument


def decode_offset_token(token: bytes) -> int:
    """The offset a token names; 0 for the first page (no token)."""
    if not token:
        return 0
    try:
        return int(json.loads(token)["offset"])
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidArgument("Invalid NextPageToken.") from err


def encode_offset_token(offset: int) -> bytes:
    return json.dumps({"offset": offset}).encode()
