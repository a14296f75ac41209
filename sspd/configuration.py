"""Configuration for dataclasses: load from YAML (or a dict), apply ``--set key.sub=value`` overrides,
check every key and type, and save the resolved result next to the run.

    config = load_config(RunConfig, "experiments/paper.yaml", overrides=["optim.lr=1e-3", "seed=1"])
    save_config(config, run_dir / "config.yaml")      # load_config(RunConfig, that file) == config

Supported field types: bool, int, float, str, ``pathlib.Path``, ``Literal[...]`` (the way to write an
enumeration: the value must be one of the listed ones), nested dataclasses, ``X | None`` and other
unions, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[K, V]`` and ``Any``. Values are never
executed: YAML is read with ``yaml.safe_load`` and an override's value is one YAML scalar or flow
collection (``lr=1e-3``, ``flag=true``, ``sizes=[1,2]``, ``root=null``). A float field also takes the
string ``1e-3``, which YAML 1.1 (PyYAML) does not read as a number.

A section whose keys depend on its values (the ``objective`` section: a name, and the options of the
named objective read into that objective's own config type) is a dataclass with a classmethod
``config_load(value, reader, base)`` that builds it with a :class:`SectionReader` (the same checks and
messages as any section), and a method ``config_dump()`` giving its plain values.

Errors are ValueErrors that name the file (or the ``--set`` item), the dotted key and what would be
valid. A nested section given in part keeps the field's default for the rest: with
``optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))``, ``--set optim.wd=0.01``
keeps lr 0.1.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal, Mapping, Sequence, TypeVar, Union

import yaml

from sspd.files import atomic_write_text

__all__ = ["load_config", "parse_override", "config_to_dict", "save_config", "require_positive_int", "read_yaml",
           "MAX_CONFIG_VALUES", "SectionReader"]

T = TypeVar("T")

_UNION_TYPE = getattr(types, "UnionType", Union)  # ``X | Y`` annotations (Python >= 3.10)
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


#: the most values (mapping keys, values, list items) a config may expand to: YAML aliases can repeat a
#: node exponentially (a "billion laughs" file of a few lines), which copying the config would then build
MAX_CONFIG_VALUES = 100_000


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping whose own keys are unique (a merge key ``<<`` may still be overridden)."""
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            raise ValueError(f"duplicate key {key_node.value!r} at line {key_node.start_mark.line + 1} (first "
                             f"at line {seen[key] + 1}): keep one")
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys (YAML would silently keep the last value)."""


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_expanded_size(value: Any, source: str) -> None:
    """Raise ValueError when ``value`` expands to more than :data:`MAX_CONFIG_VALUES` values (counting a
    node each time an alias repeats it); stops counting there, so a bomb costs nothing."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ValueError(f"{source}: the config expands to more than {MAX_CONFIG_VALUES} values (YAML "
                             "aliases repeating a large node?); write the values out")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _one_line(err: yaml.YAMLError) -> str:
    """A YAML error as one line: the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def read_yaml(path: str | os.PathLike) -> Any:
    """The YAML file ``path`` read safely (never executing anything), refusing duplicate keys and a document
    that expands beyond :data:`MAX_CONFIG_VALUES` values; an empty file gives None.

    Raises:
        FileNotFoundError: no such file. ValueError: not valid YAML, a duplicate key, or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist; pass the path of a YAML file")
    try:
        with open(path, encoding="utf-8") as fh:
            value = yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {_one_line(err)}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err}); pass a YAML file") from None
    except ValueError as err:  # a duplicate key
        raise ValueError(f"{path}: {err}") from None
    _check_expanded_size(value, str(path))
    return value


class _Mismatch(ValueError):
    """A value of the wrong type (lets a union try its next member)."""


@dataclass
class _Context:
    """Where the values came from, for error messages."""

    source: str
    overrides: dict[str, str]

    def origin(self, key: str) -> str:
        """The ``--set`` item that set ``key`` (or a section above it), else the source."""
        for name, text in self.overrides.items():
            if key and (key == name or key.startswith((name + ".", name + "[")) or name.startswith(key + ".")):
                return f"--set {text}"
        return self.source

    def origins_under(self, key: str) -> str:
        """The source and every ``--set`` item inside section ``key`` (the whole config for "")."""
        items = [text for name, text in self.overrides.items() if not key or name.startswith(key + ".")]
        return self.source + (f" with --set {', '.join(items)}" if items else "")

    def error(self, key: str, message: str, kind: type[ValueError] = ValueError) -> ValueError:
        return kind(f"{self.origin(key)}: {key}: {message}" if key else f"{self.source}: {message}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` → (["a", "b"], value read as YAML); ``"a="`` gives None."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or any(not part.strip() for part in parts):
        raise ValueError(f"--set {text!r}: expected KEY=VALUE with a dotted KEY, e.g. optim.lr=1e-3")
    try:
        parsed = yaml.load(value, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except ValueError as err:  # a duplicate key in a flow mapping
        raise ValueError(f"--set {text!r}: {err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"--set {text!r}: the value is not valid YAML ({err}); quote strings that hold "
                         "YAML syntax, e.g. name='a: b'") from err
    _check_expanded_size(parsed, f"--set {text!r}")
    return [part.strip() for part in parts], parsed


def _apply_override(raw: dict[str, Any], parts: list[str], value: Any, text: str) -> None:
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            section = ".".join(parts[: depth + 1])
            raise ValueError(f"--set {text}: {section} is a value ({child!r}), not a section with keys")
        node = child
    node[parts[-1]] = value


def _read_source(source: str | os.PathLike | Mapping[str, Any] | None, cls: type) -> tuple[dict, str]:
    """The raw mapping and a label for messages."""
    if source is None:
        return {}, f"the defaults of {cls.__name__}"
    if isinstance(source, Mapping):
        _check_expanded_size(source, f"{cls.__name__} values")
        return copy.deepcopy(dict(source)), f"{cls.__name__} values"
    path = Path(source)
    raw = read_yaml(path)
    if raw is None:
        raise ValueError(f"{path} is empty: write the keys to change (an empty mapping {{}} runs the defaults of "
                         f"{cls.__name__}), or give no config file")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of {cls.__name__} keys at the top level, got a "
                         f"{type(raw).__name__}")
    return raw, str(path)


def load_config(cls: type[T], source: str | os.PathLike | Mapping[str, Any] | None = None,
                overrides: Sequence[str] = ()) -> T:
    """An instance of the dataclass ``cls`` from a YAML file or a mapping, with overrides applied.

    Args:
        cls: a dataclass (fields may be nested dataclasses).
        source: a YAML file path, a mapping, or None for the defaults.
        overrides: ``"dotted.key=value"`` items applied over the source in order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad YAML, an unknown key (named with the valid keys at its level), a value of the
            wrong type (named with the expected type), a missing required key, or a value the
            dataclass itself rejects.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"load_config: cls must be a dataclass type, got {cls!r}")
    raw, label = _read_source(source, cls)
    texts: dict[str, str] = {}
    for text in overrides:
        parts, value = parse_override(text)
        _apply_override(raw, parts, value, text)
        texts[".".join(parts)] = text
    try:
        return _build(cls, raw, "", _Context(label, texts), base=None)
    except _Mismatch as err:
        raise ValueError(str(err)) from None  # the private type only steers unions


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _field_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except NameError as err:
        raise TypeError(f"{cls.__name__}: a field annotation cannot be resolved ({err}); define the "
                        "dataclasses it uses at module level") from err


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass of a field typed ``D`` or ``D | None``, else None."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (Union, _UNION_TYPE):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _dataclass_in(members[0])
    return None


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


class SectionReader:
    """What a section with its own ``config_load`` reads its mapping with: the loader's checks and messages.

    Attributes:
        value: the section's mapping; key: its dotted key ("" at the top level).
    """

    def __init__(self, value: Mapping[str, Any], key: str, ctx: _Context) -> None:
        self.value, self.key, self._ctx = value, key, ctx

    def child(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def check_keys(self, valid: Sequence[str]) -> None:
        """Raise on a key outside ``valid``, naming it, a close match and the valid keys."""
        _check_keys(self.value, list(valid), self.key, self._ctx)

    def read(self, name: str, tp: Any, current: Any = None) -> Any:
        """``value[name]`` checked against the annotation ``tp``; a dataclass section given in part is
        built over ``current`` (or its defaults)."""
        return _coerce_field(self.value[name], tp, self.child(name), self._ctx, current)

    def error(self, name: str | None, message: str) -> ValueError:
        """A ValueError naming where ``name`` (None: the section) was set, and its dotted key."""
        return self._ctx.error(self.child(name) if name else self.key, message)


def _build(cls: type, value: Any, key: str, ctx: _Context, base: Any) -> Any:
    """Instance of dataclass ``cls`` from a mapping; fields it lacks come from ``base`` or the defaults."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ctx.error(key, f"expected a section of {cls.__name__} keys, got {value!r}", _Mismatch)
    load = getattr(cls, "config_load", None)
    if load is not None:   # a section that reads itself (its keys depend on its values)
        return load(value, SectionReader(value, key, ctx), base)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    _check_keys(value, [f.name for f in fields], key, ctx)
    base = _section_base(cls, value, key, ctx, base)
    hints = _field_hints(cls)
    kwargs = {}
    for field in fields:
        child_key = f"{key}.{field.name}" if key else field.name
        current = getattr(base, field.name) if base is not None else _default_of(field)
        if field.name in value:
            kwargs[field.name] = _coerce_field(value[field.name], hints[field.name], child_key, ctx, current)
        elif current is dataclasses.MISSING:
            raise ctx.error(child_key, f"missing: {cls.__name__} has no default for it; set it")
        else:
            kwargs[field.name] = copy.deepcopy(current)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        where = f"{ctx.origins_under(key)}: " + (f"{key}: " if key else "")
        raise ValueError(f"{where}{cls.__name__} rejects these values: {err}") from err


def _section_base(cls: type, value: Mapping[str, Any], key: str, ctx: _Context, base: Any) -> Any:
    """The instance a section is built over: a dataclass may define ``_config_base(section, base)`` to pick
    another one from the section's own keys (e.g. a named preset, whose values the other keys override)."""
    pick = getattr(cls, "_config_base", None)
    if pick is None:
        return base
    try:
        return pick(value, base)
    except (ValueError, TypeError) as err:
        where = f"{ctx.origins_under(key)}: " + (f"{key}: " if key else "")
        raise ValueError(f"{where}{err}") from err


def _check_keys(value: Mapping[str, Any], valid: list[str], key: str, ctx: _Context) -> None:
    for name in value:
        if name not in valid:
            full = f"{key}.{name}" if key else str(name)
            level = f"under {key}" if key else "at the top level"
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ctx.error(full, f"unknown key{hint}; valid keys {level}: {', '.join(valid)}")


def _coerce_field(value: Any, tp: Any, key: str, ctx: _Context, current: Any) -> Any:
    """A nested section given in part is built over the field's current value (its default)."""
    sub = _dataclass_in(tp)
    if sub is not None and isinstance(value, Mapping):
        return _build(sub, value, key, ctx, base=current if isinstance(current, sub) else None)
    return _coerce(value, tp, key, ctx)


def _coerce(value: Any, tp: Any, key: str, ctx: _Context) -> Any:
    """``value`` checked against (and converted to) the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, key, ctx, base=None)
    if origin in (Union, _UNION_TYPE):
        return _coerce_union(value, tp, key, ctx)
    if origin is Literal:
        return _coerce_literal(value, tp, key, ctx)
    if origin in (list, tuple, dict) or tp in (list, tuple, dict):
        return _coerce_collection(value, tp, key, ctx)
    if isinstance(tp, type):
        return _coerce_plain(value, tp, key, ctx)
    raise TypeError(f"{key}: unsupported annotation {tp!r} (see sspd.configuration for the types it reads)")


def _mismatch(value: Any, tp: Any, key: str, ctx: _Context) -> ValueError:
    return ctx.error(key, f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})", _Mismatch)


def _coerce_plain(value: Any, tp: type, key: str, ctx: _Context) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
            return float(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif issubclass(tp, PurePath):
        ok = isinstance(value, (str, PurePath))
        value = tp(value) if ok else value
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise _mismatch(value, tp, key, ctx)
    return value


def _coerce_union(value: Any, tp: Any, key: str, ctx: _Context) -> Any:
    members = typing.get_args(tp)
    if value is None:
        if type(None) in members:
            return None
        raise _mismatch(value, tp, key, ctx)
    candidates = [m for m in members if m is not type(None)]
    if len(candidates) == 1:  # Optional[X]: X's own, more precise, error
        return _coerce(value, candidates[0], key, ctx)
    for member in candidates:
        try:
            return _coerce(value, member, key, ctx)
        except _Mismatch:
            continue
    raise _mismatch(value, tp, key, ctx)


def _coerce_literal(value: Any, tp: Any, key: str, ctx: _Context) -> Any:
    allowed = typing.get_args(tp)
    if any(type(value) is type(a) and value == a for a in allowed):
        return value
    raise ctx.error(key, f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}", _Mismatch)


def _coerce_collection(value: Any, tp: Any, key: str, ctx: _Context) -> Any:
    origin = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _mismatch(value, tp, key, ctx)
        if not args:
            return dict(value)
        return {_coerce(k, args[0], f"{key}.{k}", ctx): _coerce(v, args[1], f"{key}.{k}", ctx)
                for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise _mismatch(value, tp, key, ctx)
    if origin is list:
        item = args[0] if args else Any
        return [_coerce(v, item, f"{key}[{i}]", ctx) for i, v in enumerate(value)]
    if not args or (len(args) == 2 and args[1] is Ellipsis):  # tuple, tuple[X, ...]
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{key}[{i}]", ctx) for i, v in enumerate(value))
    if len(value) != len(args):
        raise ctx.error(key, f"expected {len(args)} items ({_type_name(tp)}), got {len(value)}: {value!r}",
                        _Mismatch)
    return tuple(_coerce(v, a, f"{key}[{i}]", ctx) for i, (v, a) in enumerate(zip(value, args)))


def config_to_dict(instance: Any) -> dict[str, Any]:
    """A dataclass instance as plain YAML-ready values (field order kept; tuples → lists, paths → str)."""
    if isinstance(instance, type) or not dataclasses.is_dataclass(instance):
        raise ValueError(f"config_to_dict: expected a dataclass instance, got {type(instance).__name__}")
    return _plain(instance)


def _plain(value: Any) -> Any:
    if hasattr(value, "config_dump") and not isinstance(value, type):
        return _plain(value.config_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    return value


def save_config(instance: Any, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (field order), atomically; ``load_config`` reads it back equal."""
    path = Path(path)
    text = yaml.safe_dump(config_to_dict(instance), sort_keys=False, allow_unicode=True)
    header = f"# resolved {type(instance).__qualname__}: load with sspd.configuration.load_config\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, header + text, fsync=False)


def require_positive_int(section: str, **values: Any) -> None:
    """Raise ValueError naming ``section.field`` unless every value is an int >= 1 (bools are not ints here)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{section}.{name} must be an int >= 1, got {value!r}")
