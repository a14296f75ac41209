"""The online probe is part of the engine (the loop runs it) and eval only re-exports it; the import
direction of every package is checked by tests/test_layering.py."""
from __future__ import annotations


def test_the_online_probe_lives_in_the_engine_and_eval_reexports_it():
    from sspd.engine.online_probe import OnlineProbe
    from sspd.eval.probe import OnlineProbe as reexported

    assert reexported is OnlineProbe
