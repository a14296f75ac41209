"""Name -> constructor registry for backbones (``create_backbone``, ``list_backbones``)."""
from __future__ import annotations

import inspect
from typing import Callable, TypeVar

from sspd.backbones.base import Backbone

__all__ = ["register_backbone", "create_backbone", "list_backbones"]

_BACKBONES: dict[str, Callable[..., Backbone]] = {}
_Constructor = TypeVar("_Constructor", bound=Callable[..., Backbone])


def register_backbone(name: str) -> Callable[[_Constructor], _Constructor]:
    """Decorator registering a backbone class (or factory) under ``name``; names are unique."""
    if not name or name != name.lower():
        raise ValueError(f"backbone names are non-empty lower case, got {name!r}")

    def register(constructor: _Constructor) -> _Constructor:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered (by {_BACKBONES[name]!r})")
        _BACKBONES[name] = constructor
        return constructor

    return register


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_BACKBONES)


def _check_kwargs(name: str, constructor: Callable[..., Backbone], kwargs: dict) -> None:
    params = inspect.signature(constructor).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"backbone {name!r} has no option(s) {', '.join(unknown)}; "
                         f"valid options: {', '.join(params)}")


def create_backbone(name: str, **kwargs) -> Backbone:
    """Build the backbone registered as ``name`` with keyword options ``kwargs``.

    Raises ValueError for an unknown name (listing the valid ones) or an unknown option.
    """
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid names: {', '.join(list_backbones())}")
    constructor = _BACKBONES[name]
    _check_kwargs(name, constructor, kwargs)
    return constructor(**kwargs)
