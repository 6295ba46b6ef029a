"""Encoding of plain values as msgpack, and their typed reconstruction.

Every object that tickvault stores is one msgpack value. The packer runs with
``strict_types=True`` so that a tuple, a subclass of ``int`` (an ``IntEnum``)
or of ``dict`` reaches the ``default`` hook instead of being silently packed
as its base type; that is what lets a round trip keep ``(1, 2)`` apart from
``[1, 2]``. ``use_bin_type=True`` keeps ``bytes`` apart from ``str``. Floats
are always packed as float64, so nan, infinities and -0.0 survive.

Types that msgpack lacks travel as ext types with small, documented payloads
(see ``docs/FORMAT.md``). Set members are sorted by their packed bytes so that
equal sets give equal bytes, and so equal object ids, in every process.

Models and dataclasses are flattened to mappings of their fields: a reader
with no type gets plain data back, and a reader with a type gets an equal
object of that type from `from_plain`. Pydantic is duck-typed through
``model_dump`` and ``model_validate``; it is never imported here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import operator
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from .errors import CheckpointSchemaError, UnsupportedValueError

__all__ = [
    "EXT_BIGINT",
    "EXT_CHUNKED",
    "EXT_DATE",
    "EXT_DATETIME",
    "EXT_DECIMAL",
    "EXT_ENUM",
    "EXT_FROZENSET",
    "EXT_REF",
    "EXT_SET",
    "EXT_TUPLE",
    "EXT_UUID",
    "ExtHook",
    "array_header",
    "decode_scalar_ext",
    "fields_of",
    "from_plain",
    "is_frozen",
    "is_model_class",
    "map_header",
    "new_packer",
    "unpack",
]

EXT_REF = 0
EXT_TUPLE = 1
EXT_SET = 2
EXT_FROZENSET = 3
EXT_BIGINT = 4
EXT_DATETIME = 5
EXT_DATE = 6
EXT_UUID = 7
EXT_DECIMAL = 8
EXT_ENUM = 9
EXT_CHUNKED = 16

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1

ExtHook = Callable[[int, bytes], Any]


def is_model_class(cls: type) -> bool:
    """Tell whether ``cls`` is a pydantic-style model class."""
    return hasattr(cls, "model_dump") and hasattr(cls, "model_validate")


def fields_of(value: object) -> dict[str, Any] | None:
    """Return a model's or dataclass's fields as a dict, or None for others.

    Models are dumped whole (pydantic does it faster than a walk in Python);
    dataclasses are flattened one level, their nested values are handled by
    whoever packs the result.
    """
    cls = type(value)
    flatten = _FLATTENERS.get(cls, _UNKNOWN)
    if flatten is _UNKNOWN:
        flatten = _flattener_for(cls)
        _FLATTENERS[cls] = flatten
    return None if flatten is None else flatten(value)


_Flattener = Callable[[Any], dict[str, Any]]
_UNKNOWN: Any = object()
_FLATTENERS: dict[type, _Flattener | None] = {}


def _flattener_for(cls: type) -> _Flattener | None:
    # Looked up once per class: the checks below cost more than the flattening.
    if is_model_class(cls):
        if not _model_is_frozen(cls):
            return _dump_model
        # A frozen model is flattened one level, like a dataclass, so that
        # the sub-objects an engine reuses between ticks keep their identity
        # and the tree can skip them (see tickvault.tree).
        fields = cls.model_fields  # type: ignore[attr-defined]
        names = tuple(fields)
        keys = tuple(info.alias or name for name, info in fields.items())
        flatten = _attribute_flattener(names, keys)

        def with_extra(value: Any) -> dict[str, Any]:
            # extra="allow" keeps undeclared fields outside model_fields.
            flat = flatten(value)
            extra = getattr(value, "__pydantic_extra__", None)
            if extra:
                flat.update(extra)
            return flat

        return with_extra
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))
        return _attribute_flattener(names, names)
    return None


def _attribute_flattener(names: tuple[str, ...], keys: tuple[str, ...]) -> _Flattener:
    if len(names) < 2:
        pairs = tuple(zip(keys, names, strict=True))
        return lambda value: {key: getattr(value, name) for key, name in pairs}
    getter = operator.attrgetter(*names)
    return lambda value: dict(zip(keys, getter(value), strict=True))


def _model_is_frozen(cls: type) -> bool:
    config = getattr(cls, "model_config", None)
    return isinstance(config, Mapping) and bool(config.get("frozen"))


_ATOMS = frozenset(
    {
        str,
        bytes,
        int,
        float,
        bool,
        type(None),
        complex,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        uuid.UUID,
        decimal.Decimal,
    }
)


def is_frozen(value: object) -> bool:
    """Tell whether nothing reachable from ``value`` can change in place.

    True for immutable scalars and enum members, and for tuples, frozensets,
    frozen dataclasses and frozen models made only of such values. A frozen
    object that is changed anyway, through ``object.__setattr__``, breaks
    this promise; tickvault then keeps storing what it held before.
    """
    try:
        return _is_frozen(value)
    except RecursionError:
        return False


def _is_frozen(value: object) -> bool:
    cls = type(value)
    if cls in _ATOMS or isinstance(value, enum.Enum):
        return True
    if cls is tuple or cls is frozenset:
        return all(map(_is_frozen, value))  # type: ignore[call-overload]
    params = getattr(cls, "__dataclass_params__", None)
    if params is not None and not isinstance(value, type):
        return bool(params.frozen) and all(
            _is_frozen(getattr(value, f.name))
            for f in dataclasses.fields(value)  # type: ignore[arg-type]
        )
    if _model_is_frozen(cls) and hasattr(cls, "model_fields"):
        return all(_is_frozen(getattr(value, name)) for name in cls.model_fields)
    return False


def _dump_model(value: Any) -> dict[str, Any]:
    dumped = value.model_dump(by_alias=True)
    return dumped if type(dumped) is dict else dict(dumped)


def _pack_sorted(items: Any) -> bytes:
    members = [_packb(item) for item in items]
    members.sort()
    return array_header(len(members)) + b"".join(members)


def array_header(count: int) -> bytes:
    """Return the msgpack header of an array of ``count`` items."""
    return _header(count, 0x90, b"\xdc", b"\xdd")


def map_header(count: int) -> bytes:
    """Return the msgpack header of a map of ``count`` pairs."""
    return _header(count, 0x80, b"\xde", b"\xdf")


def _header(count: int, fix: int, code16: bytes, code32: bytes) -> bytes:
    if count < 16:
        return bytes((fix | count,))
    if count < 0x10000:
        return code16 + count.to_bytes(2, "big")
    return code32 + count.to_bytes(4, "big")


def _default(value: Any) -> Any:
    # msgpack calls this for every value that is not exactly one of its own
    # types, and for ints outside 64 bits. The handler is found once per
    # type, so a state of many dataclass records pays one dict lookup each.
    cls = type(value)
    handler = _HANDLERS.get(cls)
    if handler is None:
        handler = _handler_for(cls)
        _HANDLERS[cls] = handler
    return handler(value)


_HANDLERS: dict[type, Callable[[Any], Any]] = {}


def _enum(value: Any) -> Any:
    cls = type(value)
    payload = _packb([f"{cls.__module__}.{cls.__qualname__}", value.value])
    return msgpack.ExtType(EXT_ENUM, payload)


def _integer(value: Any) -> Any:
    number = int(value)
    if _INT64_MIN <= number <= _UINT64_MAX and type(value) is not int:
        return number
    size = (number.bit_length() + 8) // 8
    return msgpack.ExtType(EXT_BIGINT, number.to_bytes(size, "big", signed=True))


def _handler_for(cls: type) -> Callable[[Any], Any]:
    handlers: list[tuple[type | tuple[type, ...], Callable[[Any], Any]]] = [
        (enum.Enum, _enum),
        (tuple, lambda v: msgpack.ExtType(EXT_TUPLE, _packb(list(v)))),
        (frozenset, lambda v: msgpack.ExtType(EXT_FROZENSET, _pack_sorted(v))),
        (set, lambda v: msgpack.ExtType(EXT_SET, _pack_sorted(v))),
        (int, _integer),
        (float, float),
        (str, str),
        ((bytes, bytearray, memoryview), bytes),
        (dt.datetime, lambda v: msgpack.ExtType(EXT_DATETIME, v.isoformat().encode())),
        (dt.date, lambda v: msgpack.ExtType(EXT_DATE, v.isoformat().encode())),
        (uuid.UUID, lambda v: msgpack.ExtType(EXT_UUID, v.bytes)),
        (decimal.Decimal, lambda v: msgpack.ExtType(EXT_DECIMAL, str(v).encode())),
        (list, list),
        (Mapping, dict),
    ]
    for base, handler in handlers:
        if issubclass(cls, base):
            return handler
    if is_model_class(cls):
        # A model packed whole is dumped by pydantic in one call; only where
        # the tree splits a model does it need the fields one by one.
        return _dump_model
    flatten = _flattener_for(cls)
    if flatten is not None:
        return flatten

    def unsupported(value: Any) -> Any:
        raise UnsupportedValueError(
            f"cannot store a value of type {cls.__module__}.{cls.__qualname__}: "
            f"{_short_repr(value)}"
        )

    return unsupported


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def new_packer() -> Callable[[Any], bytes]:
    """Return a pack function with its own buffer, for one thread's use."""
    packer = msgpack.Packer(
        default=_default, use_bin_type=True, strict_types=True, autoreset=True
    )
    pack: Callable[[Any], bytes] = packer.pack
    return pack


def _packb(value: Any) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        value, default=_default, use_bin_type=True, strict_types=True
    )


def decode_scalar_ext(code: int, data: bytes, hook: ExtHook) -> Any:
    """Decode one of the value ext types; ``hook`` decodes nested exts.

    Raises:
        ValueError: The payload is not valid for its code, or the code is
            unknown. Callers turn this into a corruption error naming the
            object.
    """
    if code == EXT_TUPLE:
        items = unpack(data, hook)
        if type(items) is not list:
            raise ValueError("tuple payload is not an array")
        return tuple(items)
    if code in (EXT_SET, EXT_FROZENSET):
        items = unpack(data, hook)
        if type(items) is not list:
            raise ValueError("set payload is not an array")
        return set(items) if code == EXT_SET else frozenset(items)
    if code == EXT_BIGINT:
        if not data:
            raise ValueError("empty big integer")
        return int.from_bytes(data, "big", signed=True)
    if code == EXT_DATETIME:
        return dt.datetime.fromisoformat(data.decode("ascii"))
    if code == EXT_DATE:
        return dt.date.fromisoformat(data.decode("ascii"))
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == EXT_DECIMAL:
        try:
            return decimal.Decimal(data.decode("ascii"))
        except decimal.InvalidOperation as exc:
            raise ValueError(f"bad decimal {data[:40]!r}") from exc
    if code == EXT_ENUM:
        pair = unpack(data, hook)
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
            raise ValueError("enum payload is not [name, value]")
        return pair[1]
    raise ValueError(f"unknown ext type {code}")


def unpack(data: bytes, hook: ExtHook) -> Any:
    """Unpack one msgpack value, decoding ext types with ``hook``.

    Map keys may be of any hashable type (``strict_map_key=False``), because
    the states that tickvault stores may be keyed by ints or tuples.
    """
    return msgpack.unpackb(
        data, ext_hook=hook, raw=False, strict_map_key=False, use_list=True
    )


class _Mismatch(Exception):
    def __init__(self, where: str, expected: object, value: object) -> None:
        super().__init__(where)
        self.where = where
        self.expected = expected
        self.value = value


def from_plain(tp: Any, value: Any, *, what: str = "value") -> Any:
    """Rebuild an object of type ``tp`` from the plain data ``value``.

    Pydantic models are rebuilt with ``model_validate``; dataclasses, and the
    containers, unions, enums and literals in their annotations, are rebuilt
    here.

    Raises:
        CheckpointSchemaError: ``value`` does not fit ``tp``.
    """
    if tp is None:
        return value
    try:
        return _convert(tp, value, what)
    except _Mismatch as exc:
        raise CheckpointSchemaError(
            f"stored {exc.where} does not fit {_type_name(exc.expected)}: "
            f"found {type(exc.value).__name__} {_short_repr(exc.value)}"
        ) from None
    except (TypeError, ValueError) as exc:
        # pydantic's ValidationError is a ValueError.
        raise CheckpointSchemaError(
            f"stored {what} does not fit {_type_name(tp)}: {exc}"
        ) from exc


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)


def _convert(tp: Any, value: Any, where: str) -> Any:
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return value
    if isinstance(tp, str | typing.ForwardRef):
        return value
    if isinstance(tp, type) and hasattr(tp, "model_validate"):
        if isinstance(value, tp):
            return value
        return tp.model_validate(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is not None:
        return _convert_generic(tp, origin, typing.get_args(tp), value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch(where, tp, value) from None
    if tp is float and type(value) is int:
        return value
    if tp is type(None):
        if value is not None:
            raise _Mismatch(where, tp, value)
        return None
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise _Mismatch(where, tp, value)
        return value
    return value


def _convert_dataclass(tp: type, value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise _Mismatch(where, tp, value)
    hints = typing.get_type_hints(tp)
    init_args: dict[str, Any] = {}
    late: dict[str, Any] = {}
    known = set()
    for field in dataclasses.fields(tp):
        known.add(field.name)
        if field.name not in value:
            continue
        converted = _convert(
            hints.get(field.name, Any), value[field.name], f"{where}.{field.name}"
        )
        (init_args if field.init else late)[field.name] = converted
    extra = set(value) - known
    if extra:
        raise _Mismatch(
            f"{where} (unknown fields {sorted(map(str, extra))})", tp, value
        )
    obj = tp(**init_args)
    for name, converted in late.items():
        object.__setattr__(obj, name, converted)
    return obj


def _convert_generic(
    tp: Any, origin: Any, args: tuple[Any, ...], value: Any, where: str
) -> Any:
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except (_Mismatch, TypeError, ValueError):
                continue
        raise _Mismatch(where, tp, value)
    if origin is typing.Literal:
        if value not in args:
            raise _Mismatch(where, tp, value)
        return value
    if origin is typing.Annotated:
        return _convert(args[0], value, where)
    if isinstance(origin, type) and issubclass(origin, tuple):
        if not isinstance(value, list | tuple):
            raise _Mismatch(where, tp, value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)
            )
        if args and len(args) != len(value):
            raise _Mismatch(where, tp, value)
        kinds = args or (Any,) * len(value)
        return tuple(
            _convert(k, v, f"{where}[{i}]")
            for i, (k, v) in enumerate(zip(kinds, value, strict=True))
        )
    if isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch(where, tp, value)
        key_t, val_t = args if len(args) == 2 else (Any, Any)
        return {
            _convert(key_t, k, f"{where} key"): _convert(val_t, v, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if isinstance(origin, type) and issubclass(origin, set | frozenset):
        if not isinstance(value, set | frozenset | list | tuple):
            raise _Mismatch(where, tp, value)
        item_t = args[0] if args else Any
        members = (_convert(item_t, v, f"{where} member") for v in value)
        return frozenset(members) if issubclass(origin, frozenset) else set(members)
    if isinstance(origin, type) and issubclass(origin, list | typing.Sequence):
        if not isinstance(value, list | tuple):
            raise _Mismatch(where, tp, value)
        item_t = args[0] if args else Any
        return [_convert(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
