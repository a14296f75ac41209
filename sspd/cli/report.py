"""``sspd report RUN_DIR``: the collapse report of a pretraining run, as one HTML page and a Markdown summary."""
from __future__ import annotations

import argparse

_FAIL_ON = ("never", "unknown", "not-learning", "collapsed")
_RANK = {"learning": 0, "unknown": 1, "not learning": 2, "collapsed": 3}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="is a pretraining run learning the pulse? verdict, probe curves with their bands, SSM/SSW, HR",
        description=(
            "Read a run directory written by pretraining (metrics.jsonl, snapshots/, collapse.json, "
            "config.yaml, summary.json) and write a self-contained HTML page (images embedded, opens "
            "offline) and a Markdown summary with its figures: every collapse probe over the steps with "
            "its healthy/warning/collapsed bands, the loss terms, self-similarity maps and waves at the "
            "checkpoints, histograms of predicted HR, and the verdict with its reasons. Works on a run "
            "that is still going or stopped early: what is missing is listed, not an error."))
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of sspd pretrain (its run_dir)")
    p.add_argument("--out", default=None,
                   help="folder for report.html, report.md and figures/ (default RUN_DIR/report)")
    p.add_argument("--snapshots", type=int, default=4,
                   help="checkpoints shown in the SSM/SSW figures, spread over the run with the last "
                        "(default 4; more makes taller figures)")
    p.add_argument("--fail-on", choices=_FAIL_ON, default="never",
                   help="exit with status 1 when the verdict is at least this bad, in the order learning < "
                        "unknown < not-learning < collapsed (default never): 'not-learning' fails a run that "
                        "is not learning the pulse or collapsed; 'unknown' also one with no health check yet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sspd.cli.paths import check_out_folder
    from sspd.diagnostics.report import write_report

    if args.snapshots < 1:
        raise ValueError(f"--snapshots must be at least 1 (checkpoints shown), got {args.snapshots}")
    if args.out:
        check_out_folder(args.out)
    files = write_report(args.run_dir, out_dir=args.out, max_snapshots=args.snapshots)
    verdict = files.verdict
    if verdict.labels:
        print(f"labels: {verdict.labels}")
    print(f"verdict: {verdict.level}" + (f" (collapse declared by {verdict.probe})" if verdict.declared else
                                         f" (decided by {verdict.decided_by})" if verdict.decided_by else "")
          + (f"; the predictions follow {verdict.follows}" if verdict.follows and verdict.level != "learning" else ""))
    for reason in verdict.reasons:
        print(f"  - {reason}")
    print(f"report: {files.html}\nsummary: {files.markdown} ({len(files.figures)} figures)")
    threshold = _FAIL_ON.index(args.fail_on)
    return 1 if threshold and _RANK[verdict.level] >= threshold else 0
