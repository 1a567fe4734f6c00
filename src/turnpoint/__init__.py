"""turnpoint: find where audio turns."""

__version__ = "0.1.0"
