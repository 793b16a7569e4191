"""Inference engines behind one protocol (see :mod:`deepfort.engines.base`)."""
