"""``run.py check``: print the validated settings (credentials masked) and what was verified."""

from __future__ import annotations

import argparse

from actors.settings import Credentials, Settings, summarise


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    print(f"settings: {args.settings} is valid")
    for line in summarise(settings, credentials):
        print(f"  {line}")
    return 0
