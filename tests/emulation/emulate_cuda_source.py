"""Rewrite a CUDA source file so that a host C++ compiler builds it against cuda_emulator.h.

The device code itself is left as it is; only the constructs a host compiler cannot take change:

* ``kernel<<<grid, block[, sharedBytes[, stream]]>>>(args)`` becomes
  ``::emu::launch("kernel", grid, block, sharedBytes, stream, <caller of kernel>, args)``;
* ``__shared__ [__align__(N)] T name[dims];`` becomes a reference to the running block's
  instance, ``auto& name = ::emu::shared<T[dims]>(__COUNTER__[, N]);`` (one key per declaration);
* ``extern __shared__ T name[];`` becomes a pointer to the block's dynamic shared memory;
* ``#include <cub/...>`` becomes ``#include "emulated_cub.h"``;
* with ``assume_cudacc``, ``defined(__CUDACC__)`` becomes ``1``: code that nvcc alone compiles
  (kernels and their launchers guarded so that the host compiler skips them) is emulated too.
  Headers holding such guards are rewritten the same way into a folder searched first.

Every line keeps its number (a ``#line`` directive follows the emulator include), so compiler
messages and the emulator's reports (which quote ``__LINE__``) point into the original file.
Comments and string literals are never rewritten. A construct the rewrite does not understand
stops it with an error rather than producing code that would compile and mean something else.

Usage: python emulate_cuda_source.py INPUT.cu OUTPUT.cpp
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import List, Tuple

_SHARED_DECLARATION = re.compile(
    r"(?<![\w])__shared__\s+(?:(?:__align__|alignas)\s*\((?P<align>[^()]+)\)\s+)?"
    r"(?P<type>[^;{}()]+?)\s+(?P<name>\w+)\s*(?P<dims>(?:\[[^\];]*\]\s*)*);"
)
_DYNAMIC_SHARED_DECLARATION = re.compile(
    r"(?<![\w])extern\s+__shared__\s+(?P<type>[^;{}()]+?)\s+(?P<name>\w+)\s*\[\s*\]\s*;"
)
_CUB_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*<cub/[^>]*>", re.MULTILINE)
_DEFINED_CUDACC = re.compile(r"defined\s*\(\s*__CUDACC__\s*\)")

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


class EmulationRewriteError(ValueError):
    """The source holds a construct the rewrite does not handle."""


def blank_comments_and_strings(source: str) -> str:
    """The source with comments and string/char literals replaced by spaces (newlines kept), so
    that searches see code only and every offset still matches the original."""
    out = list(source)
    i = 0
    n = len(source)
    while i < n:
        two = source[i : i + 2]
        if two == "//":
            end = source.find("\n", i)
            end = n if end < 0 else end
        elif two == "/*":
            end = source.find("*/", i + 2)
            if end < 0:
                raise EmulationRewriteError("unterminated /* comment")
            end += 2
        elif source[i] in "\"'":
            quote = source[i]
            end = i + 1
            while end < n and source[end] != quote:
                end += 2 if source[end] == "\\" else 1
            end += 1
        else:
            i += 1
            continue
        for k in range(i, min(end, n)):
            if out[k] != "\n":
                out[k] = " "
        i = end
    return "".join(out)


def _find_closing(code: str, start: int) -> int:
    """Offset just past the bracket that closes the one at ``start``."""
    expected: List[str] = []
    i = start
    while i < len(code):
        c = code[i]
        if c in _OPENERS:
            expected.append(_OPENERS[c])
        elif c in _CLOSERS:
            if not expected or expected.pop() != c:
                raise EmulationRewriteError(f"unbalanced {c!r} at offset {i}")
            if not expected:
                return i + 1
        i += 1
    raise EmulationRewriteError(f"no closing bracket for the one at offset {start}")


def _split_top_level(code: str, text: str) -> List[str]:
    """``text`` split at the commas that are outside brackets (``code`` is its blanked twin)."""
    parts: List[str] = []
    depth = 0
    begin = 0
    for i, c in enumerate(code):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
    parts.append(text[begin:])
    return [p.strip() for p in parts]


def _kernel_expression_start(code: str, launch: int) -> int:
    """Start of ``name`` / ``ns::name<args>`` right before the ``<<<`` at ``launch``."""
    i = launch
    while i > 0 and code[i - 1].isspace():
        i -= 1
    if i > 0 and code[i - 1] == ">":
        depth = 0
        while i > 0:
            i -= 1
            if code[i] == ">":
                depth += 1
            elif code[i] == "<":
                depth -= 1
                if depth == 0:
                    break
        else:
            raise EmulationRewriteError("unbalanced template arguments before <<<")
        while i > 0 and code[i - 1].isspace():
            i -= 1
    end = i
    while i > 0 and (code[i - 1].isalnum() or code[i - 1] in "_:"):
        i -= 1
    if i == end:
        raise EmulationRewriteError(f"no kernel name before <<< at offset {launch}")
    return i


def _launch_edit(source: str, code: str, launch: int) -> Tuple[int, int, str]:
    start = _kernel_expression_start(code, launch)
    kernel = " ".join(source[start:launch].split())

    config_begin = launch + 3
    depth = 0
    i = config_begin
    while not (depth == 0 and code.startswith(">>>", i)):
        if i >= len(code):
            raise EmulationRewriteError(f"no >>> after the <<< at offset {launch}")
        if code[i] in _OPENERS:
            depth += 1
        elif code[i] in _CLOSERS:
            depth -= 1
        i += 1
    config = _split_top_level(code[config_begin:i], source[config_begin:i])
    if not 2 <= len(config) <= 4:
        raise EmulationRewriteError(f"launch of {kernel} has {len(config)} configuration values")
    config += ["0", "cudaStream_t{}"][len(config) - 2 :]

    open_paren = i + 3
    while code[open_paren].isspace():
        open_paren += 1
    if code[open_paren] != "(":
        raise EmulationRewriteError(f"launch of {kernel} has no argument list")
    end = _find_closing(code, open_paren)
    arguments = source[open_paren + 1 : end - 1]

    # The arguments reach the kernel through launch(), which evaluates them once (as a real launch
    # does); the generic lambda lets the compiler deduce the kernel's template arguments as usual.
    caller = f"[&](auto const&... emuArguments) {{ {kernel}(emuArguments...); }}"
    name = kernel.replace("\\", "\\\\").replace('"', '\\"')
    pieces = [f'"{name}"', *config, caller]
    replacement = f"::emu::launch({', '.join(pieces)}{', ' if arguments.strip() else ''}{arguments})"
    return start, end, replacement


def _keep_line_count(original: str, replacement: str) -> str:
    missing = original.count("\n") - replacement.count("\n")
    if missing < 0:
        raise EmulationRewriteError(f"rewrite would add lines: {original!r}")
    return replacement + "\n" * missing


def rewrite(source: str, source_name: str, assume_cudacc: bool = False) -> str:
    """The emulator-ready text of ``source`` (``source_name`` is what #line reports)."""
    code = blank_comments_and_strings(source)
    edits: List[Tuple[int, int, str]] = []
    if assume_cudacc:
        edits += [(m.start(), m.end(), "1") for m in _DEFINED_CUDACC.finditer(code)]

    for match in _DYNAMIC_SHARED_DECLARATION.finditer(code):
        type_ = " ".join(source[match.start("type") : match.end("type")].split())
        name = match.group("name")
        edits.append(
            (match.start(), match.end(), f"{type_}* const {name} = static_cast<{type_}*>(::emu::dynamicShared());")
        )
    dynamic_spans = [(s, e) for s, e, _ in edits]
    for match in _SHARED_DECLARATION.finditer(code):
        if any(s <= match.start() < e for s, e in dynamic_spans):
            continue
        type_ = " ".join(source[match.start("type") : match.end("type")].split())
        if "extern" in type_:
            raise EmulationRewriteError(f"unsupported __shared__ declaration: {match.group(0)!r}")
        dims = "".join(source[match.start("dims") : match.end("dims")].split())
        alignment = f", {match.group('align').strip()}" if match.group("align") else ""
        edits.append(
            (
                match.start(),
                match.end(),
                f"auto& {match.group('name')} = ::emu::shared<{type_}{dims}>(__COUNTER__{alignment});",
            )
        )
    for match in _CUB_INCLUDE.finditer(code):
        edits.append((match.start(), match.end(), '#include "emulated_cub.h"'))
    launch = code.find("<<<")
    while launch >= 0:
        edit = _launch_edit(source, code, launch)
        edits.append(edit)
        launch = code.find("<<<", edit[1])

    edits.sort()
    for (_, previous_end, _), (start, _, _) in zip(edits, edits[1:]):
        if start < previous_end:
            raise EmulationRewriteError(f"overlapping rewrites at offset {start}")
    out: List[str] = []
    cursor = 0
    for start, end, replacement in edits:
        out.append(source[cursor:start])
        out.append(_keep_line_count(source[start:end], replacement))
        cursor = end
    out.append(source[cursor:])
    rewritten = "".join(out)

    leftover = blank_comments_and_strings(rewritten)
    tokens = ("__shared__", "<<<", "#include <cub/") + (("__CUDACC__",) if assume_cudacc else ())
    for token in tokens:
        if token in leftover:
            line = leftover[: leftover.index(token)].count("\n") + 1
            raise EmulationRewriteError(f"{source_name}:{line}: {token} left that the rewrite does not handle")
    escaped_name = source_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'#include "cuda_emulator.h"\n#line 1 "{escaped_name}"\n{rewritten}'


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source_path = Path(argv[1])
    Path(argv[2]).write_text(rewrite(source_path.read_text(), str(source_path.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
