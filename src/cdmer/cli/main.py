"""Entry point of the ``cdmer`` command.

Each sub-command lives in its own module ``cdmer.cli.<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Errors about input (:class:`cdmer.errors.InputError`) are printed as one line
on stderr with exit status 2, never as a traceback.
"""

import argparse
import importlib
import sys
import warnings

from cdmer import __version__
from cdmer.errors import CdmerError

COMMANDS = ("demo", "evaluate", "extract", "info", "fit", "predict")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cdmer",
        description="Cross-database micro-expression recognition: LBP-TOP features, "
                    "TSRG (Zong et al., ACM MM 2017) and its baselines.",
    )
    parser.add_argument("--version", action="version", version=f"cdmer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cdmer.cli.{name}").register(sub)
    return parser


def _one_line(message, category, filename, lineno, line=None):
    return f"cdmer: warning: {message}\n"


def main(argv=None):
    warnings.formatwarning = _one_line  # warnings from the methods, as one line each, no source excerpt
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CdmerError as exc:
        print(f"cdmer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cdmer {args.command}: interrupted; finished results are kept, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
