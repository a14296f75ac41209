"""Evaluation: how well pulse signals and networks measure HR against labels, and what was learned.

- :mod:`sspd.eval.metrics`: HR metrics with standard errors, Bland-Altman, and the windowed scoring of
  predicted against reference signals (``evaluate_signals``, whose ``protocol`` says how every number
  was made).
- :mod:`sspd.eval.baseline_eval` and :mod:`sspd.eval.model_eval`: the training-free baselines and a
  network on the same labelled videos (cached or synthetic), one pulse per video, scored alike.
- :mod:`sspd.eval.probe` (the linear probe on frozen features) and :mod:`sspd.eval.finetune`
  (supervised fine-tuning, and its from-scratch baseline).
- :mod:`sspd.eval.plots` (waveforms, Bland-Altman, HR scatter, training curves) and
  :mod:`sspd.eval.compare` (a table of several runs' evaluations).

Running a model or a baseline over any video, with no label (``sspd predict``), is :mod:`sspd.infer`'s.
Place in the layering: above the engine, beside infer and diagnostics, below the cli; eval may import
infer (its figure helpers), never diagnostics, and neither of them imports eval (tests/test_layering.py).
Submodules are imported explicitly (``from sspd.eval.metrics import evaluate_signals``) so that this
package stays light to import.
"""
