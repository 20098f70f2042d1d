"""Validation of STIX 2.1 objects with the OASIS validator (`stix2-validator`),
made affordable for bulk ingest.

An object the fast path (accord.intel.fast_validation) finds valid is
valid; every other object is checked by the library's own
`validate_instance`, which gives the verdict and the messages. For that slow
path, `_reuse_schema_validators` keeps one JSON-schema validator per schema
with a registry that already holds every schema file the library has loaded
(as shipped, the library builds a fresh one, with an empty registry, for
every object). The verdicts are the library's own (tests/intel/
test_validation.py and test_validation_corpus.py compare them with the stock
validator's). Large envelopes are also checked by a pool of processes, one
per core."""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

from accord.intel.fast_validation import FastPath, SlowOnly

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
    validate, options, fast = _library()
    if fast.certainly_valid(obj):
        return []
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
        with _POOL_LOCK:
            results = _POOL.map(chunks, _workers())
    except (OSError, ValueError, RecursionError):
        # A worker that died or could not start, or an object json cannot
        # carry to it: this call validates here; the next starts new workers.
        log.warning("the validation workers failed; validating in this process", exc_info=True)
        _POOL.stop()
        return [problems_of(obj) for obj in objects]
    return [problems for chunk in results for problems in chunk]


def _workers() -> int:
    configured = os.environ.get("ACCORD_VALIDATION_WORKERS")
    if configured and configured.isdigit():
        return int(configured)
    return min(os.cpu_count() or 1, 4)


class _Workers:
    """Validation worker processes (accord.intel.validation_worker), started on
    first use and kept; each gets every n-th chunk, one JSON line each way."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def _start(self, count: int) -> None:
        alive = [p for p in self.processes if p.poll() is None]
        if len(alive) != len(self.processes) or len(alive) != count:
            self.stop()
            self.processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "accord.intel.validation_worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    bufsize=1,
                )
                for _ in range(count)
            ]

    def map(self, chunks: list[list[Any]], count: int) -> list[list[list[str]]]:
        self._start(count)
        lines = [json.dumps(chunk) for chunk in chunks]  # before any write: may raise
        results: list[Any] = [None] * len(chunks)
        errors: list[BaseException] = []

        def serve(index: int, process: subprocess.Popen) -> None:
            try:
                assert process.stdin is not None and process.stdout is not None
                for position in range(index, len(lines), len(self.processes)):
                    process.stdin.write(lines[position] + "\n")
                    process.stdin.flush()
                    answer = process.stdout.readline()
                    if not answer:
                        raise OSError("a validation worker stopped")
                    results[position] = json.loads(answer)
            except (OSError, ValueError) as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=serve, args=(i, p), daemon=True)
            for i, p in enumerate(self.processes)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors or any(r is None for r in results):
            raise OSError(f"validation workers failed: {errors[:1]}")
        return results

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        self.processes = []


_POOL = _Workers()
_POOL_LOCK = threading.Lock()
atexit.register(_POOL.stop)


_LOADED: tuple[Any, Any, FastPath] | None = None


def _library() -> tuple[Any, Any, FastPath]:
    """The validator and its fast path, imported on first use: importing it
    (jsonschema's format checkers) costs about a second, which every process
    that never validates (the CLI, the deliverer, the clock) would otherwise
    pay at start."""
    global _LOADED
    if _LOADED is None:
        from stix2validator import ValidationOptions, validate_instance
        from stix2validator import validator as library

        _reuse_schema_validators(library)
        options = ValidationOptions(version="2.1")
        _LOADED = (validate_instance, options, _fast_path(options))
    return _LOADED


def _fast_path(options: Any) -> FastPath:
    try:
        return FastPath(options)
    except Exception:  # the library's internals changed: every object takes the slow path
        log.warning(
            "no fast path for STIX validation; the library checks every object", exc_info=True
        )
        return SlowOnly()


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
                validator = type(stock)(
                    stock.schema, registry=registry, format_checker=stock.format_checker
                )
            except Exception:  # internals changed: use the library's own validator
                return stock
            built[key] = (validator, len(loaded))
            return validator

    load_validator.reused = True  # type: ignore[attr-defined]
    library.load_validator = load_validator
