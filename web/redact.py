"""The last line of defence for "responses never include secrets": secret-looking keys are
masked wherever they appear, and known secret values are masked wherever they occur."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"secret|token|passw|api_?key|credential|signature|authoriz|private", re.IGNORECASE)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._encoded = [s.encode() for s in self.secrets]

    def value(self, obj: Any) -> Any:
        """A copy of ``obj`` with secret keys and secret values masked."""
        if isinstance(obj, dict):
            return {k: MASK if _is_secret_key(k) else self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        if isinstance(obj, str):
            for secret in self.secrets:
                obj = obj.replace(secret, MASK)
            return obj
        return obj

    def body(self, data: bytes) -> bytes:
        """Mask known secret values in an already encoded body."""
        for secret in self._encoded:
            data = data.replace(secret, MASK.encode())
        return data


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None
