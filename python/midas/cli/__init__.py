"""The ``midas <verb>`` command line.

Each verb is one module in this package exposing ``configure_parser(subparsers)`` and
``run(args) -> int``. :mod:`midas.cli.main` discovers them, so adding a verb means adding a file.
"""
