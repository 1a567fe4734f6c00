"""``python -m turnpoint``: the ``turnpoint`` command, with its exit status."""

import sys

from turnpoint.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
