"""Slow, obviously-correct NumPy twins of every compiled kernel, used by the tests."""
