"""How deeply a TOML text nests, measured before parsing it.

`tomllib` recurses for each nested array or inline table (RecursionError at about a thousand levels) and
builds a long dotted key in quadratic time, so a hostile config must be refused before it is parsed. This scan
is linear, counts every way TOML nests (table headers, dotted keys, arrays, inline tables) and names the
top-level key where the limit is passed, so the error can say which key to fix.
"""

from __future__ import annotations


def _skip_string(text: str, i: int) -> int:
    """Index just past the string starting at text[i] (a quote); the end of text if it never closes."""
    q = text[i]
    if text.startswith(q * 3, i):
        end = text.find(q * 3, i + 3)
        if q == '"':
            while end != -1 and _escaped(text, end):
                end = text.find(q * 3, end + 1)
        return len(text) if end == -1 else end + 3
    j = i + 1
    while j < len(text) and text[j] != "\n":
        if text[j] == "\\" and q == '"':
            j += 2
            continue
        if text[j] == q:
            return j + 1
        j += 1
    return j


def _escaped(text: str, i: int) -> bool:
    n = 0
    while i - 1 - n >= 0 and text[i - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _join(table: str, key: str) -> str:
    return f"{table}.{key.strip()}" if table else key.strip()


def _name(raw: str) -> str:
    parts = [p.strip() for p in raw.strip().strip("[]").split(".")]
    shown = ".".join(parts[:3]) + (".…" if len(parts) > 3 else "")
    return shown[:60] or "(top level)"


def too_deep(text: str, limit: int) -> str | None:
    """The key (as written, shortened) under which `text` nests deeper than `limit` levels, or None.

    A level is one step of the path to a value: a table or dotted-key part, or an array index.
    """
    header = 0                       # depth of the current [table] / [[array]]
    stack: list[str] = []            # open '[' and '{' inside a value
    key_depth: list[int] = [0]       # dotted-key depth added at each bracket level
    in_key, in_header, dots = True, False, 0
    table, top, start = "", "", 0    # the current [table], top-level key, and where the current key began
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = _skip_string(text, i)
            continue
        if c == "#":
            nl = text.find("\n", i)
            i = n if nl == -1 else nl
            continue
        if c == "\n" and not stack:
            in_key, in_header, dots, key_depth, start = True, False, 0, [0], i + 1
        elif in_header:
            if c == ".":
                dots += 1
            elif c == "]":
                header = dots + 1 + (1 if text.lstrip(" \t").startswith("[[", start) else 0)
                table = text[start:i + 1].strip().strip("[]").strip()
                top, in_header = table, False
                in_key = False
            if dots + 1 > limit:
                return _name(text[start:i])
        elif in_key:
            if c == "[" and not stack and not text[start:i].strip():
                in_header, dots = True, 0
            elif c == ".":
                dots += 1
                if header + sum(key_depth) + dots + 1 + stack.count("[") > limit:
                    return _name(_join(table, text[start:i]) if not stack else top)
            elif c == "=":
                key_depth[-1] = dots + 1
                if not stack:
                    top = _join(table, text[start:i])
                if header + sum(key_depth) + stack.count("[") > limit:
                    return _name(top)
                in_key, dots = False, 0
            elif c == "}" and stack:   # an empty inline table
                stack.pop()
                key_depth.pop()
                in_key = False
        else:
            if c in "[{":
                stack.append(c)
                key_depth.append(0)
                if header + sum(key_depth) + stack.count("[") > limit:   # a table's level is its key's
                    return _name(top)
                if c == "{":
                    in_key, dots, start = True, 0, i + 1
            elif c in "]}" and stack:
                stack.pop()
                key_depth.pop()
            elif c == "," and stack and stack[-1] == "{":
                in_key, dots, start = True, 0, i + 1
        i += 1
    return None
