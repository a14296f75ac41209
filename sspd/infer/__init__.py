"""Inference: running a model or a training-free baseline over any video, with or without labels.

- :mod:`sspd.infer.predict`: :func:`~sspd.infer.predict.predict_video`, a face video or image folder →
  face crops → pulse → HR over time and overall HR (``sspd predict``), streamed so that the video is
  never held in memory; :class:`~sspd.infer.predict.ClipPredictor` is what a model must offer to run
  under it.
- :mod:`sspd.infer.checkpoint_predictor`: :func:`~sspd.infer.checkpoint_predictor.build_predictor`, a model
  file of any known format (an sspd run or checkpoint, an rPPG-Toolbox state dict) as a ClipPredictor
  (:class:`~sspd.infer.checkpoint_predictor.CheckpointPredictor`) that runs on the model's
  :class:`sspd.models.InputSpec`.
- :mod:`sspd.infer.frame_source` (where the frames come from, what was decoded),
  :mod:`sspd.infer.frame_timing` (each frame's timestamp, the uniform grid the HR needs),
  :mod:`sspd.infer.window_hr` (sliding-window HR of a pulse), :mod:`sspd.infer.plots` (the HR-over-time
  figure).
- :mod:`sspd.infer.live`: :func:`~sspd.infer.live.run_live` and :class:`~sspd.infer.live.RollingHR`, HR
  every second and a rolling HRV from frames as they arrive (``sspd live``);
  :mod:`sspd.infer.live_source`: cameras, streams, files at their own pace, any frames at a fixed rate,
  each frame with its timestamps, and the bounded buffer that drops frames a slow consumer cannot take.

Place in the layering: above the engine (it reads checkpoint files with :mod:`sspd.engine`, which turns
them into networks with :mod:`sspd.models`), beside :mod:`sspd.eval` and :mod:`sspd.diagnostics`, below
:mod:`sspd.cli`. It may import the engine, models, augment, backbones, baselines, data and signal; it
imports neither eval nor diagnostics (they may import it:
scoring against labels is eval's, running a model is this package's). tests/test_layering.py keeps this
true. Submodules are imported explicitly so that this package stays light to import.
"""
