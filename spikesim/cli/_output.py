"""How every command prints its result."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any


def print_result(result: Any, *, as_json: bool, lines: Iterable[str] = ()) -> int:
    """Print ``result`` as strict JSON (NaN and infinities as ``null``, numpy types as
    Python numbers) when ``as_json``, else the human-readable ``lines``; returns exit
    status 0."""
    from spikesim.io import strict_json

    if as_json:
        json.dump(strict_json(result), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print("\n".join(lines))
    return 0
