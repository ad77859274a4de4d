"""The `ganflow` command line.

    ganflow semi-supervised [--data digits] [--labels-per-class 5] [--seeds 0,1,2] [--epochs N] [--json]
    ganflow cluster [--data fashion-mnist] [--clusters 16] [--labels-per-class N] [--json]
    ganflow evaluate (--checkpoint RUN/checkpoint.pt | --samples DIR) [--data NAME] [--json]
    ganflow train-gan [--data ring|grid|fashion-mnist|...] [--loss hinge] [--spectral-norm] ... [--json]
    ganflow gan-grid --data ring --grid loss=nonsaturating,hinge --grid pack=1,4 [--seeds 0,1,2]
    ganflow export --checkpoint RUN/checkpoint.pt --name NAME [--per-class 100] [--min-confidence 0.9]
    ganflow datasets list | show NAME | verify NAME [--version vN]
    ganflow augment [--data fashion-mnist] [--labels-per-class 10] [--generator ssgan|cgan]
    ganflow serve augment (--cron '0 3 * * *' | --interval SECONDS) [--param key=value ...]
    ganflow sweep semi-supervised --grid labels_per_class=3,5 --seeds 0,1 [--workers 2]
    ganflow pipeline run spec.toml

Each flow command's options are its params dataclass's fields (flows/params.py); every
command takes --json and then prints its result as one JSON object on stdout (progress and
logs go to stderr). A user's mistake exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import typing
from pathlib import Path
from typing import Any

# Offline machines: no analytics calls home unless the user turned them on.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Many flows at once against one SQLite-backed server get "503 Service Unavailable" while
# the database is locked; Prefect's client retries 5 times (about a minute of back-off),
# which 20 concurrent exports on 2 cores outlasted (the faults benchmark's load test). 8
# retries back off for up to about 8 minutes before a flow gives up. The user's value wins.
os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "8")


from ganflow.flows.commands import Command, commands  # noqa: E402 (after the environment)


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option as one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def add_apply_parser(sub: argparse._SubParsersAction) -> None:
    """`ganflow translate apply` (parsed as the `translate-apply` command)."""
    from ganflow.tasks.export.translated import DIRECTIONS

    ap = sub.add_parser(
        "translate-apply", help="translate a folder of images with a trained translator"
    )
    ap.prog = "ganflow translate apply"
    ap.add_argument("--checkpoint", required=True, help="RUN/<model>/checkpoint.pt")
    ap.add_argument("--input", required=True, help="folder of images (subfolders kept)")
    ap.add_argument("--output", default=None, help="new (or empty) folder for the PNGs")
    ap.add_argument(
        "--export",
        default=None,
        metavar="NAME",
        help="write a new version of exported data set NAME instead (class subfolders: labels)",
    )
    ap.add_argument("--direction", default="a2b", choices=DIRECTIONS, help="CycleGAN: a2b or b2a")
    ap.add_argument(
        "--keep-size",
        action="store_true",
        help="write each translation at its input's width x height (the whole image is "
        "resized to the model's side and back) instead of the centre square at the side",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quiet", action="store_true")


def run_apply(args: argparse.Namespace) -> dict[str, Any]:
    from ganflow.tasks.export.translated import export_translated, translate_folder
    from ganflow.tasks.train.devices import select_device

    device = str(select_device(args.device))
    if (args.output is None) == (args.export is None):
        raise ValueError("translate apply needs one of --output DIR and --export NAME")
    if args.export is not None and args.keep_size:
        raise ValueError("--keep-size writes a folder (--output); an export holds one size")
    if args.export is not None:
        out = export_translated(args.checkpoint, args.input, args.export, args.direction, device)
        return {**out, "direction": args.direction, "output": out["path"]}
    return translate_folder(
        args.checkpoint, args.input, args.output, args.direction, device, keep_size=args.keep_size
    )


def build_parser() -> argparse.ArgumentParser:
    from ganflow.flows.datasets_command import add_datasets_parser
    from ganflow.flows.params import add_param_options, setting
    from ganflow.flows.serve import add_serve_parser

    parser = Parser(
        prog="ganflow",
        description="Semi-supervised learning and synthetic data with adversarial models.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--version", "-V", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for c in commands().values():
        p = sub.add_parser(c.name, help=c.help, description=c.help)
        add_param_options(p, c.params)
        if c.extra_options is not None:
            c.extra_options(p)
        p.add_argument(
            "--no-prefect", action="store_true", help="run the same steps without Prefect tracking"
        )
        p.add_argument(
            "--json", action="store_true", help="print the result as one JSON object on stdout"
        )
        p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        p.add_argument(
            "--refresh",
            action="store_true",
            help="recompute every step instead of reusing cached task results",
        )
    add_datasets_parser(sub)
    add_serve_parser(sub, setting)
    from ganflow.flows.sweep import add_sweep_parser

    add_sweep_parser(sub, setting)
    from ganflow.flows.pipeline import add_pipeline_parser

    add_pipeline_parser(sub)
    add_apply_parser(sub)
    from ganflow.flows.text2image_generate import add_generate_parser

    add_generate_parser(sub)
    return parser


def run_command(c: Command, args: argparse.Namespace) -> dict[str, Any]:
    """The params from the options (checked before anything runs), then the flow, or its
    body alone with --no-prefect: the same steps in the same order."""
    from ganflow.flows.params import params_from_args

    p = params_from_args(c.params, args, **c.extra_params(args))
    if args.no_prefect:
        return c.body(p)
    if getattr(args, "refresh", False):
        from ganflow.flows.caching import refreshing

        with refreshing():
            return c.flow(**p.to_dict())
    return c.flow(**p.to_dict())


def _server_ready(server: Any) -> bool:
    if server is None:
        return True
    try:
        server.ready()
    except RuntimeError as e:
        print(f"ganflow: error: {e}; set PREFECT_API_URL", file=sys.stderr)
        return False
    return True


def run_sweep_command(args: argparse.Namespace, server: Any) -> int:
    """`ganflow sweep`: the table (or --json), exit 1 when a point failed."""
    from ganflow.flows.caching import refreshing
    from ganflow.flows.sweep import params_of, sweep, table_text

    p = params_of(args)
    p.validate()
    if not _server_ready(server):
        return 1
    with refreshing() if args.refresh else contextlib.nullcontext():
        summary = sweep(p)
    print(json.dumps(summary, default=str) if args.json else table_text(summary))
    return 1 if summary["failed"] else 0


def run_pipeline_command(args: argparse.Namespace, server: Any) -> int:
    """`ganflow pipeline run SPEC`: every step checked first, then run in order."""
    from ganflow.flows.caching import refreshing
    from ganflow.flows.pipeline import pipeline_flow, read_pipeline, table_text

    pipe = read_pipeline(args.spec)
    if args.check:
        steps = [{"name": s.name, "flow": s.flow, "params": s.params} for s in pipe.steps]
        print(json.dumps({"pipeline": pipe.name, "steps": steps}))
        return 0
    if not _server_ready(server):
        return 1
    with refreshing() if args.refresh else contextlib.nullcontext():
        summary = pipeline_flow(spec=str(Path(args.spec).resolve()), run_dir=args.run_dir)
    print(json.dumps(summary, default=str) if args.json else table_text(summary))
    return 0


# the commands that run a flow (the names in commands()): they prestart Prefect's server
FLOW_COMMANDS = {
    "semi-supervised",
    "cluster",
    "evaluate",
    "train-gan",
    "gan-grid",
    "export",
    "augment",
    "translate",
    "text2image",
    "infogan",
    "truncation",
    "explore",
}
# ... and the commands that run flows of their own
PRESTART = FLOW_COMMANDS | {"sweep", "pipeline-run"}

# two-word commands: `ganflow translate apply` and `ganflow text2image generate` are parsed
# as one subcommand each; `ganflow text2image train` is the flow's command itself
ALIASES = {
    ("translate", "apply"): ["translate-apply"],
    ("text2image", "generate"): ["text2image-generate"],
    ("text2image", "train"): ["text2image"],
    ("pipeline", "run"): ["pipeline-run"],
}


DATA_DIR_HELP = (
    "ganflow --data-dir DIR COMMAND ...: where runs, caches, built-in data sets and exports "
    "go (default: $GANFLOW_DATA, else data/ in the working directory)"
)


def split_data_dir(argv: list[str]) -> tuple[str | None, list[str]]:
    """(DIR, the rest) of `--data-dir DIR ...` or `--data-dir=DIR ...` before the command."""
    if argv[:1] == ["--data-dir"]:
        if len(argv) < 2:
            return "", argv[1:]
        return argv[1], argv[2:]
    if argv and argv[0].startswith("--data-dir="):
        return argv[0].split("=", 1)[1], argv[1:]
    return None, argv


def ganflow_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ganflow")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    from ganflow.flows.api_server import prestart

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--version"], ["-V"]):
        print(f"ganflow {ganflow_version()}")
        return 0
    data_dir, argv = split_data_dir(argv)
    if data_dir is not None:
        from ganflow.tasks.io import use_data_dir

        try:
            if not data_dir.strip():
                raise ValueError("--data-dir needs a folder: ganflow --data-dir DIR COMMAND ...")
            use_data_dir(data_dir)
        except ValueError as e:
            print(f"ganflow: error: {e}", file=sys.stderr)
            return 2
    if tuple(argv[:2]) in ALIASES:
        argv = [*ALIASES[tuple(argv[:2])], *argv[2:]]
    server = prestart(argv, PRESTART)
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # `datasets verify --root R NAME`: argparse takes the optional name before the options
        if extra and args.command == "datasets" and args.name is None and len(extra) == 1:
            args.name, extra = (extra[0], []) if not extra[0].startswith("-") else (None, extra)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help (0) or a bad option (2, already said on stderr)
        return int(e.code or 0)
    from ganflow.flows.errors import error_line, keep_user_failures_in_prefect, user_errors

    if getattr(args, "quiet", False):
        from ganflow.tasks.progress import set_quiet

        set_quiet(True)
    if args.command in PRESTART and not getattr(args, "no_prefect", False):
        keep_user_failures_in_prefect()
    try:
        if args.command == "serve":
            from ganflow.flows.serve import main as serve_main

            return serve_main(args)
        if args.command == "translate-apply":
            applied = run_apply(args)
            print(json.dumps(applied) if args.json else
                  f"translated {applied['count']} images ({applied['direction']}) into {applied['output']}")  # fmt: skip
            return 0
        if args.command == "text2image-generate":
            from ganflow.flows.text2image_generate import describe, run_generate

            drawn = run_generate(args)
            print(json.dumps(drawn) if args.json else describe(drawn))
            return 0
        if args.command == "sweep":
            return run_sweep_command(args, server)
        if args.command == "pipeline-run":
            return run_pipeline_command(args, server)
        if args.command == "datasets":
            from ganflow.flows.datasets_command import main as datasets_main

            return datasets_main(args)
        c = commands()[args.command]
        if server is not None and not args.no_prefect:
            try:
                server.ready()
            except RuntimeError as e:
                print(
                    f"ganflow: error: {e}; run with --no-prefect, or set PREFECT_API_URL",
                    file=sys.stderr,
                )
                return 1
        result = run_command(c, args)
    except user_errors() as e:
        from ganflow.flows.errors import settle_prefect
        from ganflow.tasks.io import discard_empty_runs

        discard_empty_runs()
        settle_prefect()
        line, code = error_line(e)
        print(f"ganflow: error: {line}", file=sys.stderr)
        return code
    except RuntimeError as e:
        if not str(e).startswith("Failed to reach API"):
            raise
        from ganflow.tasks.io import discard_empty_runs

        discard_empty_runs()
        url = os.environ.get("PREFECT_API_URL", "the Prefect API")
        print(f"ganflow: error: cannot reach the Prefect server at {url} (PREFECT_API_URL): "
              "start it, unset PREFECT_API_URL for a temporary one, or run with --no-prefect",
              file=sys.stderr)  # fmt: skip
        return 1
    print(json.dumps(c.as_json(result), default=str) if args.json else c.table(result))
    return 0


def entry() -> typing.NoReturn:
    """The console script: main(), then a prompt exit. Tearing down the interpreter after
    torch and Prefect takes about 2 s once the result is printed; here the non-daemon
    threads are joined and the exit handlers (Prefect's log and event flushing, the
    temporary server's stop) run in their usual order, and then the process ends."""
    import atexit
    import contextlib
    import threading

    code = main()
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`) or stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
