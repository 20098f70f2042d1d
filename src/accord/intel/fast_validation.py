"""A fast way to the OASIS validator's verdict on objects that are valid.

`stix2-validator` spends a millisecond or more on an indicator: its
JSON-schema walk in pure Python, an ANTLR parse of the pattern (in
`run_validator`, then again for the inspection), dateutil and strptime for
every timestamp. `FastPath.certainly_valid` reaches the same verdict for a
valid object in a tenth of that:

- the schema walk is done by a compiled validator (jsonschema-rs) on the
  library's own schema files, patched the way the library patches them, with
  the library's own format checkers;
- the library's MUST checks run as shipped, in the library's order and over
  the same nested objects, except three that are given cheaper means to the
  same answer: `timestamp` and `timestamp_compare` read the common form with
  datetime (dateutil and strptime for the rest), and `patterns` is asked
  once per pattern *shape* (the values of comparisons replaced, see
  `pattern_shape`), not once per pattern;
- the library's SHOULD checks run as shipped: they only warn, but a warning
  check that raises makes the stock validator raise, and so the verdict.

It only ever answers "valid" or "not sure": every object it is not sure of
(an error anywhere, a bundle, observed-data with embedded objects, a pattern
of another version, anything that raises) goes to the library's
`validate_instance`, which then gives the verdict and its messages. So a
refusal always carries the library's own words, and an object is accepted
here only when the library would accept it (tests/intel/
test_validation_corpus.py checks this on a few hundred good and bad objects).
"""

from __future__ import annotations

import inspect
import re
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

# How many pattern shapes, schema choices and custom types are remembered.
CACHE_LIMIT = 4096

# A string literal of the STIX pattern grammar: anything but a quote or a
# backslash, or one of the two escapes (the lexer's StringLiteral rule).
_STRING = re.compile(r"'((?:[^'\\]|\\['\\])*)'")
# What stands right before a literal that is a comparison's value: an
# operator, a set's parenthesis or comma, or a keyword operator. (A path
# component follows ':' or '.'; a t'', h'' or b'' literal follows its letter.)
_VALUE_BEFORE = re.compile(
    r"(?:[=<>(,]|(?<![A-Za-z0-9_-])(?:LIKE|MATCHES|ISSUBSET|ISSUPERSET))\s*\Z"
)
# The hash checks of stix2patterns (object_validator.HASHES_REGEX) test only
# membership of [a-fA-F0-9] and [a-zA-Z0-9/+:.]; mapping every character to
# one of the same membership keeps their verdict. Used only when the patterns
# are the ones this was worked out for (`_hash_regexes_known`).
_HASH_CLASSES = str.maketrans(
    {
        **{c: "a" for c in "0123456789abcdefABCDEF"},
        **{c: "g" for c in "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ"},
    }
)
_KNOWN_HASH_REGEXES = frozenset(
    {
        r"^[a-fA-F0-9]{32}$",
        r"^[a-fA-F0-9]{40}$",
        r"^[a-fA-F0-9]{56}$",
        r"^[a-fA-F0-9]{64}$",
        r"^[a-fA-F0-9]{96}$",
        r"^[a-fA-F0-9]{128}$",
        r"^[a-zA-Z0-9/+:.]{1,128}$",
        r"^[a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{56}|\
    [a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128}$",
    }
)


def pattern_shape(pattern: str, hash_classes: bool) -> str | None:
    """The pattern with the text of every comparison value replaced, or None
    when this cannot be done safely (a comment, a stray quote, a bad escape).

    The replacement keeps every token's type (a string literal stays one), so
    the parse and its errors are the same; the checks that read token texts
    (object types, property paths, qualifiers, timestamps, hex and binary
    literals) see the same texts. Only the hash checks read a value: when
    the pattern names `hashes`, values are mapped character by character to
    ones of the same class instead (`_HASH_CLASSES`), or left alone."""
    out: list[str] = []
    done = 0
    for literal in _STRING.finditer(pattern):
        gap = pattern[done : literal.start()]
        if "'" in gap or "/*" in gap or "//" in gap:
            return None  # a quote the lexer pairs otherwise, or a comment
        out.append(gap)
        body = literal.group(1)
        if _VALUE_BEFORE.search(gap) and not (gap and gap[-1].isalnum()):
            if "hashes" not in pattern:
                body = "x"
            elif hash_classes:
                body = body.translate(_HASH_CLASSES)
        out.append("'" + body + "'")
        done = literal.end()
    tail = pattern[done:]
    if "'" in tail or "/*" in tail or "//" in tail:
        return None
    out.append(tail)
    return "".join(out)


_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?Z\Z"
)
_Check = tuple[Callable[..., Any], bool]


def _datetime_of(found: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, fraction = found.groups()
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)


class _Timestamps:
    """Stands in for dateutil's `parser` module inside the library's
    `timestamp` check: the form every STIX producer writes is checked with
    datetime (dateutil accepts every such string datetime accepts); anything
    else is handed to dateutil itself."""

    def __init__(self, dateutil_parser: Any) -> None:
        self.dateutil_parser = dateutil_parser

    def parse(self, text: Any) -> Any:
        found = _DATETIME.match(text) if isinstance(text, str) else None
        if found and int(found[1]) >= 1000:
            try:
                return _datetime_of(found)
            except ValueError:
                pass
        return self.dateutil_parser.parse(text)


def _from_str(slow: Callable[[str], Any]) -> Callable[[str], Any]:
    """The library's `datetime_from_str` (two strptime attempts) for the
    common form, by datetime; anything else, or anything datetime refuses
    (a leap second, year 0), by the library's own function."""

    def from_str(text: str) -> Any:
        found = _DATETIME.match(text)
        if found:
            try:
                return _datetime_of(found)
            except ValueError:
                pass
        return slow(text)

    return from_str


def _calling(check: Callable[..., Any]) -> _Check:
    """A check and whether it takes the options: the library calls a check
    with the object alone, and again with the options if that is a TypeError."""
    try:
        inspect.signature(check).bind(None)
    except TypeError:
        return check, True
    return check, False


def _with_globals(function: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """The same function (same code, same closure) seeing other module globals."""
    copy = types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


class FastPath:
    """The fast verdict for STIX 2.1 objects under default options (`options`
    must be the `ValidationOptions(version="2.1")` the slow path uses)."""

    def __init__(self, options: Any) -> None:
        import jsonschema_rs
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import ValidationError
        from stix2patterns.v21 import object_validator
        from stix2validator import validator as library
        from stix2validator.errors import pretty_error
        from stix2validator.v21 import musts, shoulds

        self.options = options
        self.library = library
        self.pretty_error = pretty_error
        self.rs = jsonschema_rs
        self.schema_dir = str(Path(library.__file__).parent / "schemas-2.1" / "schemas")
        checker = Draft202012Validator.FORMAT_CHECKER
        # The library's format checks, called by the compiled validator: the
        # same verdict for every format the schemas name.
        self.formats = {
            name: (lambda fmt: lambda value: checker.conforms(value, fmt))(name)
            for name in checker.checkers
        }
        self.lock = threading.Lock()
        self.schema_of_type: dict[str, str | None] = {}
        self.validators: dict[str, Any] = {}
        self.shapes: dict[str, bool] = {}
        self.hash_classes = _hash_regexes_known(object_validator)
        self.library_patterns = musts.patterns
        self.error_type = ValidationError
        self.musts = [_calling(self._faster(check, musts)) for check in musts.list_musts(options)]
        self.shoulds = [_calling(check) for check in shoulds.list_shoulds(options)]

    # ------------------------------------------------------------ the verdict

    def certainly_valid(self, obj: dict[str, Any]) -> bool:
        """True only if the stock validator finds no error in `obj`."""
        kind = obj.get("type")
        if not isinstance(kind, str) or not isinstance(obj.get("id"), str):
            return False
        if kind == "bundle" or (kind == "observed-data" and "objects" in obj):
            return False  # validated piece by piece by the library: its own path
        try:
            validator = self._validator(self._schema_path(obj, kind))
            if validator is None or not validator.is_valid(obj):
                return False
            for _error in self._results(obj, self.musts):
                return False
            # Warnings do not refuse; a check that raises does, and so does
            # formatting a warning (the stock validator formats every warning
            # before it looks at the errors).
            for warning in self._results(obj, self.shoulds):
                if not self._formats_cleanly(warning):
                    self.pretty_error(warning, self.options.verbose)
        except Exception:  # the library's path decides, and says why
            return False
        return True

    def _results(self, instance: dict[str, Any], checks: list[_Check]) -> Iterator[Any]:
        """What the checks yield for the object and for every STIX object in
        one of its lists: the library's `_iter_errors_custom`, with the way to
        call each check (with or without the options) worked out once."""
        for check, with_options in checks:
            result = check(instance, self.options) if with_options else check(instance)
            if type(result) is types.GeneratorType or isinstance(result, Iterable):
                yield from result
            elif result is not None:
                yield result
        for value in instance.values():
            if type(value) is list:
                for item in value:
                    if isinstance(item, dict) and "id" in item and "type" in item:
                        yield from self._results(item, checks)

    def _formats_cleanly(self, warning: Any) -> bool:
        """Whether the library's `pretty_error` surely formats this warning
        without raising: one of the library's own errors, a text message, a
        path of names and indexes."""
        return (
            isinstance(warning, self.error_type)
            and repr(warning.schema) == "<unset>"
            and isinstance(warning.message, str)
            and all(type(step) is int or isinstance(step, str) for step in warning.path)
        )

    # ------------------------------------------------------------ the schemas

    def _schema_path(self, obj: dict[str, Any], kind: str) -> str | None:
        """The schema file the library validates `obj` against: the type's own,
        or the core schema (SCO core for objects without created/modified)."""
        found = self.schema_of_type.get(kind, "")
        if found == "":
            found = self.library.find_schema(self.schema_dir, kind)
            if len(self.schema_of_type) < CACHE_LIMIT:
                self.schema_of_type[kind] = found
        if found is not None:
            return found
        core = "core"
        if "created" not in obj and "modified" not in obj and kind != "marking-definition":
            core = "cyber-observable-core"
        return self.library.find_schema(self.schema_dir, core)

    def _validator(self, path: str | None) -> Any:
        if path is None:
            return None
        if path not in self.validators:
            with self.lock:
                if path not in self.validators:
                    self.validators[path] = self._compile(path)
        return self.validators[path]

    def _compile(self, path: str) -> Any:
        """A compiled validator for one schema file, as the library loads it
        (its observed-data and bundle edits, its `$id` and `$schema` patches),
        or None if jsonschema-rs cannot take it (then the library decides)."""
        library = self.library
        schema = library.load_schema(path)
        kind = Path(path).stem  # the type that leads to this file (see _schema_path)
        if kind == "observed-data":
            schema["allOf"][1]["properties"]["objects"] = {
                "objects": {"type": "object", "minProperties": 1}
            }
        elif kind == "bundle":
            schema["properties"]["objects"] = {"objects": {"type": "array", "minItems": 1}}
        try:
            return self.rs.Draft202012Validator(
                library.patch_schema(schema, path),
                formats=self.formats,
                validate_formats=True,
                retriever=self._retrieve,
            )
        except Exception:
            return None

    def _retrieve(self, uri: str) -> Any:
        """A referenced schema file, patched as the library patches it."""
        if not uri.startswith("file://"):
            raise ValueError(f"not a local schema: {uri}")
        path = self.library.from_uri_to_path(uri)
        return self.library.patch_schema(self.library.load_schema(path), path)

    # ------------------------------------------------------------ the checks

    def _faster(self, check: Callable[..., Any], musts: Any) -> Callable[..., Any]:
        if check is musts.timestamp and "parser" in check.__code__.co_names:
            return _with_globals(check, parser=_Timestamps(musts.parser))
        if check is musts.timestamp_compare and "compare" in check.__code__.co_names:
            compare = musts.compare
            if "datetime_from_str" in compare.__code__.co_names:
                fast = _with_globals(compare, datetime_from_str=_from_str(musts.datetime_from_str))
                return _with_globals(check, compare=fast)
        if check is musts.patterns:
            return self._patterns
        return check

    def _patterns(self, instance: dict[str, Any], options: Any) -> Iterable[Any]:
        """The library's `patterns` check, asked once per pattern shape."""
        pattern = instance.get("pattern")
        version = instance.get("pattern_version", instance.get("spec_version", "2.1"))
        shape = None
        if (
            instance["type"] == "indicator"
            and instance.get("pattern_type", "") == "stix"
            and isinstance(pattern, str)
            and version == "2.1"
        ):
            shape = pattern_shape(pattern, self.hash_classes)
        if shape is None:
            return self.library_patterns(instance, options)
        clean = self.shapes.get(shape)
        if clean is None:
            probe = {
                "type": "indicator",
                "id": instance["id"],
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "pattern": shape,
            }
            try:
                clean = not any(True for _ in self.library_patterns(probe, options))
            except Exception:
                clean = False
            if len(self.shapes) >= CACHE_LIMIT:
                self.shapes.clear()
            self.shapes[shape] = clean
        if clean:
            return ()
        return self.library_patterns(instance, options)


class SlowOnly(FastPath):
    """No fast path: every object goes to the library."""

    def __init__(self) -> None:
        pass

    def certainly_valid(self, obj: dict[str, Any]) -> bool:
        return False


def _hash_regexes_known(object_validator: Any) -> bool:
    found = getattr(object_validator, "HASHES_REGEX", None)
    if not isinstance(found, dict):
        return False
    return {entry[0] for entry in found.values()} <= _KNOWN_HASH_REGEXES
