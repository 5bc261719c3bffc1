"""Compare two PNG files from the shell, the whole job in one short process:

    python -m patrol.visual EXPECTED.png ACTUAL.png [DIFF.png] [--threshold 0.1] [--include-aa]

Prints ``<counted> <anti-aliased> <total>`` pixels; exit status 0 when no pixel
counts, 1 when some do (the diff picture is written only then), 2 on an error.
It imports the comparator alone (NumPy, OpenCV and the PNG codec), none of
Patrol's journey machinery, so start-up stays short.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m patrol.visual", description="pixelmatch-compatible PNG diff")
    ap.add_argument("expected", type=Path)
    ap.add_argument("actual", type=Path)
    ap.add_argument("diff", type=Path, nargs="?", help="write the diff picture here when the images differ")
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--include-aa", action="store_true", help="count anti-aliased pixels too")
    args = ap.parse_args(argv)

    from ..core.png import CPUS, decode_png, worker_pool
    from .compare import compare, diff_png

    try:
        expected, actual = args.expected.read_bytes(), args.actual.read_bytes()
        if expected == actual:
            result = compare(expected, actual, threshold=args.threshold)
            decoded = None
        else:
            future = worker_pool().submit(decode_png, expected) if CPUS > 1 else None
            decoded = decode_png(actual)
            base = future.result() if future is not None else decode_png(expected)
            result = compare(base, decoded, threshold=args.threshold, include_aa=args.include_aa)
        if result.diff_pixels and args.diff is not None:
            args.diff.write_bytes(diff_png(decoded if decoded is not None else actual, result))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.diff_pixels, result.aa_pixels, result.total_pixels)
    return 1 if result.diff_pixels else 0


if __name__ == "__main__":
    sys.exit(main())
