"""The files of a pretraining run: the run directory's names and formats (:mod:`.run_dir`), rank 0's
writer of them (:mod:`.run_writer`), the logging sinks (:mod:`.sinks`) and atomic checkpoints
(:mod:`.checkpoint`). Their public names are re-exported by :mod:`sspd.engine`."""
