"""``python -m turnpoint``: the ``turnpoint`` command."""

from turnpoint.cli.main import main

main()
