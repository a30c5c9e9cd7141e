"""CLI subcommands, one module each.

Each module exposes `register(subparsers)` which adds its parser and sets `func` to a
`run(args, settings) -> int` function; `workers.cli` lists the modules in help order.
"""
