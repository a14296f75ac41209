"""``sspd report RUN_DIR``: the collapse report of a pretraining run, as one HTML page and a Markdown summary."""
from __future__ import annotations

import argparse

_FAIL_ON = ("never", "warning", "collapsed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="collapse report of a pretraining run: probe curves with their bands, SSM/SSW, HR, verdict",
        description=(
            "Read a run directory written by pretraining (metrics.jsonl, snapshots/, collapse.json, "
            "config.yaml, summary.json) and write a self-contained HTML page (images embedded, opens "
            "offline) and a Markdown summary with its figures: every collapse probe over the steps with "
            "its healthy/warning/collapsed bands, the loss terms, self-similarity maps and waves at the "
            "checkpoints, histograms of predicted HR, and the verdict with its reasons. Works on a run "
            "that is still going or stopped early: what is missing is listed, not an error."))
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (the --out of the pretraining run)")
    p.add_argument("--out", default=None,
                   help="folder for report.html, report.md and figures/ (default RUN_DIR/report)")
    p.add_argument("--snapshots", type=int, default=4,
                   help="checkpoints shown in the SSM/SSW figures, spread over the run with the last "
                        "(default 4; more makes taller figures)")
    p.add_argument("--fail-on", choices=_FAIL_ON, default="never",
                   help="exit with status 1 when the verdict is at least this bad (default never); "
                        "'collapsed' suits a CI job that should fail on a collapsed run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sspd.diagnostics.report import write_report

    files = write_report(args.run_dir, out_dir=args.out, max_snapshots=args.snapshots)
    verdict = files.verdict
    print(f"verdict: {verdict.level}" + (f" (collapse declared by {verdict.probe})" if verdict.declared else ""))
    for reason in verdict.reasons:
        print(f"  - {reason}")
    print(f"report: {files.html}\nsummary: {files.markdown} ({len(files.figures)} figures)")
    order = {"unknown": 0, "healthy": 0, "warning": 1, "collapsed": 2}
    threshold = _FAIL_ON.index(args.fail_on)
    return 1 if threshold and order[verdict.level] >= threshold else 0
