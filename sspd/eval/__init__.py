"""Evaluation: HR metrics and windowed scoring of pulse signals (:mod:`sspd.eval.metrics`).

Submodules are imported explicitly (``from sspd.eval.metrics import evaluate_signals``) so that this
package stays light to import.
"""
