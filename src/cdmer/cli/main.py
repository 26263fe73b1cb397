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


def _show_one_line(message, category, filename, lineno, file=None, line=None):
    """Print a warning as one line ``cdmer: warning: ...`` on stderr (no source excerpt)."""
    text = " ".join(str(message).split())
    try:
        (file or sys.stderr).write(f"cdmer: warning: {text}\n")
    except OSError:  # stderr closed: a warning must not end the run
        pass


def main(argv=None):
    """Run the command line; warnings are one line each while it runs.

    The one-line format is scoped to this call: ``warnings.catch_warnings``
    restores the process's ``showwarning`` (and filters) on return, so a
    program that calls ``main`` keeps its own warning format afterwards.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_one_line
        return _main(argv)


def _main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CdmerError as exc:
        print(f"cdmer {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused a read or write (disk full, permissions changed mid-run)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cdmer {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cdmer {args.command}: interrupted; finished results are kept, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
