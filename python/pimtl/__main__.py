"""``python -m pimtl ARGS`` runs the pimtl command line (the same commands as the binary)."""

import sys

from ._core import cli


def main(argv=None) -> int:
    """Runs ``pimtl ARGS``; prints the error and returns 1 on failure."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli(args or ["--help"])
    except (RuntimeError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
