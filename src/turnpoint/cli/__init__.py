"""The ``turnpoint`` command: argument parsing only, each command a call of the Python API."""
