"""``python -m oor``: the command line (see oor/cli.py)."""
import sys

from oor.cli import main

if __name__ == "__main__":
    sys.exit(main())
