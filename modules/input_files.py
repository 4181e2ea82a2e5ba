"""Reading a file a user names on the command line: regular files only, within a size cap, never a hang.

A FIFO would block the read until a writer comes (forever, from a typo'd path), a device such as /dev/zero
would be read until memory runs out: every command reads its input files through read_input, which opens
without blocking, refuses anything but a regular file and stops one byte past the cap. The caller turns
InputFileError into its own bad-input error (exit 2, one line naming the file).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MIB = 1024 * 1024
# Caps, each far above what a correct input of that kind holds, far below what would exhaust memory:
ENV_FILE_MAX_BYTES = 1 * MIB  # stage.yaml is ~15 KB; a 1 MiB env file is a wrong file
PLAN_JSON_MAX_BYTES = 256 * MIB  # `terraform show -json` of this stack is ~2 MB; large monorepo plans reach ~100 MB
SYNTH_JSON_MAX_BYTES = 64 * MIB  # cdk.tf.json of stage is ~0.5 MB; manifest.json a few KB
SMALL_JSON_MAX_BYTES = 4 * MIB  # prices.json, tfc_run's run.json: a few KB


class InputFileError(Exception):
    """`path: what is wrong` (the caller adds what the file was for)."""


def _refuse(path: str | Path, why: str) -> InputFileError:
    return InputFileError(f"{path}: {why}")


def read_input(path: str | Path, limit: int) -> bytes:
    """The file's bytes; InputFileError when it is missing, not a regular file, unreadable or over `limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    except FileNotFoundError:
        raise _refuse(path, "no such file") from None
    except IsADirectoryError:
        raise _refuse(path, "is a directory, not a file") from None
    except OSError as exc:
        raise _refuse(path, f"cannot read it: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _refuse(path, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            raise _refuse(path, f"is {kind}, not a regular file; give the path of a file")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise _refuse(path, f"cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _refuse(path, f"is larger than {limit // MIB} MiB, more than any input of this kind holds; "
                            "is it the right file?")
    return data


def read_stdin(limit: int, stream) -> bytes:
    """Standard input within the same cap (`-` as a path)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputFileError(f"standard input: more than {limit // MIB} MiB, more than any input of this kind holds")
    return data


def decode_utf8(path: str | Path, data: bytes) -> str:
    """The text, or InputFileError naming the first byte that is not UTF-8 (offset, line, column)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _refuse(path, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}, "
                            f"column {column}) is not valid UTF-8") from None


def read_json(path: str | Path, limit: int, shown: str | Path | None = None):
    """The file's JSON value (read as read_input does); InputFileError `shown: not JSON (line, column: why)` when it
    is not JSON. `shown` is how messages name the file (default: the path)."""
    import json  # noqa: PLC0415  (only the JSON readers need it)

    name = shown if shown is not None else path
    try:
        return json.loads(decode_utf8(name, read_input(path, limit)))
    except json.JSONDecodeError as exc:
        raise _refuse(name, f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
