"""Validation of STIX 2.1 objects with the OASIS validator (`stix2-validator`),
made affordable for bulk ingest.

The validator builds a fresh JSON-schema validator, with an empty reference
registry, for every object it checks, so each check re-reads and re-crawls
the shared schema files (core, identifier, timestamp, ...): two thirds of
its time. `_reuse_schema_validators` keeps one validator per schema with a
registry that already holds every schema file the library has loaded, and
`_parse_patterns_once` parses an indicator's pattern once instead of twice.
The verdicts are the library's own (tests/intel/test_validation.py compares
them with the stock validator's). Large envelopes are also checked by a
pool of processes, one per core."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# Below this many objects a pool costs more than it saves.
PARALLEL_FROM = 200
CHUNK = 50
log = logging.getLogger(__name__)


def problems_of(obj: Any) -> list[str]:
    """Why an object is not valid STIX 2.1 (empty when it is)."""
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    try:
        # What is stored and served must be strict JSON in UTF-8: Python's
        # parser lets NaN/Infinity and lone surrogates through.
        json.dumps(obj, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, RecursionError) as exc:
        return [f"not valid JSON text: {exc}"[:500]]
    if obj.get("spec_version") not in ("2.1", None) or not obj.get("id") or not obj.get("type"):
        return ["not a STIX 2.1 object (needs type, id and spec_version 2.1)"]
    validate, options = _library()
    try:
        result = validate(obj, options)
    except Exception as exc:  # the validator raises on shapes it cannot read
        return [f"cannot be validated: {exc}"[:500]]
    if result.is_valid:
        return []
    return [str(error)[:500] for error in result.errors][:10] or ["invalid"]


def problems_of_many(objects: list[Any]) -> list[list[str]]:
    """`problems_of` for each object, in order; in parallel for large lists."""
    if len(objects) < PARALLEL_FROM or _workers() < 2:
        return [problems_of(obj) for obj in objects]
    chunks = [objects[i : i + CHUNK] for i in range(0, len(objects), CHUNK)]
    try:
        results = list(_pool().map(_check_chunk, chunks))
    except Exception:  # a broken pool (a worker killed): check here instead
        log.exception("the validation pool failed; validating in this process")
        _reset_pool()
        return [problems_of(obj) for obj in objects]
    return [problems for chunk in results for problems in chunk]


def _check_chunk(chunk: list[Any]) -> list[list[str]]:
    return [problems_of(obj) for obj in chunk]


def _workers() -> int:
    configured = os.environ.get("ACCORD_VALIDATION_WORKERS")
    if configured and configured.isdigit():
        return int(configured)
    return min(os.cpu_count() or 1, 4)


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn: a web worker may run threads, which fork does not copy safely.
            context = multiprocessing.get_context("spawn")
            _POOL = ProcessPoolExecutor(_workers(), mp_context=context)
        return _POOL


def _reset_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None


_LOADED: tuple[Any, Any] | None = None


def _library() -> tuple[Any, Any]:
    """The validator, imported on first use: importing it (jsonschema's format
    checkers) costs about a second, which every process that never validates
    (the CLI, the deliverer, the clock) would otherwise pay at start."""
    global _LOADED
    if _LOADED is None:
        from stix2validator import ValidationOptions, validate_instance
        from stix2validator import validator as library

        _reuse_schema_validators(library)
        _parse_patterns_once()
        _LOADED = (validate_instance, ValidationOptions(version="2.1"))
    return _LOADED


def _reuse_schema_validators(library: Any) -> None:
    """Wrap the library's `load_validator` so that each schema's validator is
    built once, with a crawled registry of the schema files loaded so far
    (rebuilt when the library loads another one). Left alone if the library
    no longer has the internals this relies on: checks stay correct, only slower."""
    original = getattr(library, "load_validator", None)
    loaded = getattr(library, "_FILE_SCHEMAS", None)
    if original is None or not isinstance(loaded, dict) or getattr(original, "reused", False):
        return
    built: dict[tuple[str, str], tuple[Any, int]] = {}
    lock = threading.Lock()

    def load_validator(schema_path: str, schema: dict, schema_dir: str) -> Any:
        key = (schema_path, schema_dir)
        with lock:
            found = built.get(key)
            if found is not None and found[1] == len(loaded):
                return found[0]
            stock = original(schema_path, schema, schema_dir)
            try:
                registry = stock._registry.with_resources(list(loaded.items())).crawl()
                validator = type(stock)(stock.schema, registry=registry,
                                        format_checker=stock.format_checker)  # fmt: skip
            except Exception:  # internals changed: use the library's own validator
                return stock
            built[key] = (validator, len(loaded))
            return validator

    load_validator.reused = True  # type: ignore[attr-defined]
    library.load_validator = load_validator


def _parse_patterns_once() -> None:
    """The validator's pattern check parses every indicator's pattern twice
    with ANTLR (stix2patterns' run_validator, then Pattern for the inspection):
    half of what validation costs. Here a pattern is parsed once, with
    stix2patterns' own Pattern, and run through the same checks run_validator
    runs on its parse tree (observable objects, qualifiers, brackets); the tree
    is then handed to the inspection. Only a pattern that passes every check
    takes this path: any problem at all goes to the library's own
    run_validator, so every error message is the library's. Left alone if the
    internals it relies on are missing."""
    try:
        from stix2patterns.helpers import brackets_check
        from stix2patterns.v21 import object_validator
        from stix2patterns.v21.pattern import Pattern
        from stix2patterns.v21.validator import DuplicateQualifierTypeError, ValidationListener
        from stix2validator.v21 import musts
    except ImportError:
        return
    original_check = getattr(musts, "pattern_validator", None)
    if original_check is None or getattr(original_check, "once", False):
        return
    parsed: dict[str, Any] = {}  # pattern -> its tree, between the check and the inspection

    def pattern_validator(pattern: Any, stix_version: str = "2.1") -> list[str]:
        if stix_version != "2.1" or not isinstance(pattern, str) or not brackets_check(pattern):
            return original_check(pattern, stix_version)
        try:
            compiled = Pattern(pattern)
            clean = not object_validator.verify_object(compiled.inspect())
            compiled.walk(ValidationListener())
        except DuplicateQualifierTypeError:
            clean = False
        except Exception:  # a parse error (ParseException) or anything unforeseen
            clean = False
        if not clean:
            return original_check(pattern, stix_version)
        if len(parsed) > 64:
            parsed.clear()
        parsed[pattern] = compiled
        return []

    def compile_pattern(pattern: str) -> Any:
        found = parsed.pop(pattern, None)
        return found if found is not None else Pattern(pattern)

    pattern_validator.once = True  # type: ignore[attr-defined]
    musts.pattern_validator = pattern_validator
    musts.Pattern = compile_pattern
