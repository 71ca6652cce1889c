"""Fetching the public data where no DVC remote has it: one clear line when that fails."""

from __future__ import annotations

import http.client
import urllib.request

from concrete_study.errors import DataError


def fetch(url: str, target: str, timeout: float = 60) -> bytes:
    """The bytes at `url`; a failure is a DataError naming the URL, the reason and the other
    ways to get `target`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, refused, reset
        reason = getattr(exc, "reason", None) or exc
        raise DataError(
            f"{url}: download failed ({reason}); get {target} with `dvc pull` from a DVC remote "
            "(see docs/dvc.md) or place the file there yourself"
        ) from None
