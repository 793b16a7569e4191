"""deepfort: a privately deployed AI platform."""

__version__ = "0.1.0"
