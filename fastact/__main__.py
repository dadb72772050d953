"""Command line of fastact: ``python -m fastact COMMAND``.

Commands:

* ``bench``: the benchmark report (``fastact.bench.cli``); also installed as ``fastact-bench``.
* ``config``: what this installation can do (``fastact.show_config()``).

A command is a (help, add_arguments, run) entry in `COMMANDS`.
"""
from __future__ import annotations

import argparse
import os
import sys


def _bench_arguments(parser):
    from .bench.cli import add_arguments
    add_arguments(parser)


def _bench(args, parser, argv, prog):
    from .bench.cli import run
    return run(args, parser, argv, prog)


def _config_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print fastact.config() as JSON")


def _config(args, parser, argv, prog):
    import fastact
    if args.json:
        import json
        print(json.dumps(fastact.config(), indent=1, default=repr))
    else:
        fastact.show_config()
    return 0


#: name -> (one-line help, add_arguments(parser), run(args, parser, argv, prog) -> exit code)
COMMANDS = {
    "bench": ("benchmark report: fastact vs the NumPy baseline, PyTorch and the memory floor",
              _bench_arguments, _bench),
    "config": ("backends available (and why not), CPU features, threads, versions", _config_arguments, _config),
}


def build_parser(prog: str = "python -m fastact") -> argparse.ArgumentParser:
    from .bench.cli import EPILOG
    parser = argparse.ArgumentParser(
        prog=prog, description="fastact: fast CPU kernels for neural-network activations and their gradients.",
        epilog="run 'python -m fastact COMMAND --help' for a command's options")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (summary, add_arguments, _) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary,
                                 epilog=EPILOG if name == "bench" else None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(command)
        command.set_defaults(parser=command)
    return parser


def main(argv=None) -> int:
    """Entry point of ``python -m fastact`` and of the ``fastact-bench`` script (which runs ``bench``)."""
    if argv is None:
        argv = sys.argv[1:]
        if os.path.basename(sys.argv[0]).startswith("fastact-bench"):
            argv = ["bench"] + argv
    argv = list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    _, _, run = COMMANDS[args.command]
    prog = "python -m fastact " + args.command
    return run(args, args.parser, argv[1:], prog)


if __name__ == "__main__":
    sys.exit(main())
