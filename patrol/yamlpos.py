"""Load YAML into plain Python data *and* remember where every value stood,
so validation messages can say ``file:line:column``.

Every journey, flow and ``patrol.yaml`` is read here, so this is where parsing is bounded: a file
larger than ``MAX_FILE_BYTES``, nesting deeper than ``MAX_DEPTH`` or aliases expanding to more than
``MAX_ALIAS_VALUES`` values (the "billion laughs" shape) stops with the position and the limit, in
milliseconds and little memory, instead of stalling every patrol that loads the file. An anchor
reused a few times, as people write them, stays far below the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FilePath

import yaml

# Far above any journey, flow or patrol.yaml written by hand (the demo's largest is a few KB).
MAX_FILE_BYTES = 1024 * 1024
# Levels of mappings and sequences; a journey's deepest (groups in repeats in ifs) is about 15.
MAX_DEPTH = 64
# Values built again because an alias refers to them; an anchored 50-step flow reused 20 times is ~6,000.
MAX_ALIAS_VALUES = 20_000

# Keys and indexes from the file's root to a value (a key is any scalar YAML allows).
Path = tuple[object, ...]


@dataclass
class Located:
    data: object  # plain YAML data, narrowed by whoever reads it
    file: str
    # path -> (line, column), 1-based; for mappings also the key's own position.
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: Path, key: bool = False) -> tuple[int, int]:
        """Best position for ``path``: the exact node, else its nearest parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))


class YamlSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.line, self.column = line, column


class YamlLimitError(YamlSyntaxError):
    """The file is past one of the parsing limits (size, depth, alias expansion)."""


def read(file: str | FilePath) -> str:
    """The file's text, refused before reading when it is larger than ``MAX_FILE_BYTES``."""
    path = FilePath(file)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise YamlLimitError(
            f"file too large: {size:,} bytes, the limit is {MAX_FILE_BYTES:,} (a journey, flow or patrol.yaml "
            "is a few KB)", 1, 1)
    return path.read_text(encoding="utf-8")


def load(text: str, file: str) -> Located:
    if len(text) > MAX_FILE_BYTES:
        raise YamlLimitError(f"file too large: {len(text):,} characters, the limit is {MAX_FILE_BYTES:,}", 1, 1)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlSyntaxError(f"YAML syntax error: {e.problem or e}", line, col) from None
    finally:
        loader.dispose()
    loc = Located(data=None, file=file)
    if node is None:
        return loc
    builder = _Builder(loc)
    try:
        loc.data = builder.build(node, (), 0, None)
    finally:
        builder.constructor.dispose()
    return loc


MERGE_TAG = "tag:yaml.org,2002:merge"


def _at(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader's composer with a depth limit, checked before a node is composed (the composer
    recurses once per level, so a deep file would otherwise end in a RecursionError)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, TokenClass: type[yaml.Token]) -> None:
        # Checked in the scanner as well: its simple-key bookkeeping is quadratic in the flow depth,
        # so ``[[[[…`` thousands deep would take seconds before the composer saw the second level.
        if self.flow_level >= MAX_DEPTH:
            line, col = _at(self.get_mark())
            raise YamlLimitError(f"nested too deeply: more than {MAX_DEPTH} levels", line, col)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line, col = _at(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
                raise YamlLimitError(f"nested too deeply: more than {MAX_DEPTH} levels", line, col)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Plain data from the composed node graph. An alias is the same node object as its anchor, so
    building a node a second time is alias expansion: counted, and bounded, as is the depth an alias
    can add (or a recursive anchor, ``&a [*a]``, would never end)."""

    def __init__(self, loc: Located) -> None:
        self.loc = loc
        self.seen: set[int] = set()
        self.expanded = 0
        self.constructor = yaml.SafeLoader("")  # one for every scalar: making one costs more than a scalar

    def build(self, node: yaml.Node, path: Path, depth: int, alias_at: tuple[int, int] | None) -> object:
        """``alias_at``: where the alias being expanded stands (its key or item), reported past a limit."""
        alias_at = self.enter(node, path, depth, alias_at)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth, alias_at)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,), depth + 1, alias_at) for i, child in enumerate(node.value)]
        return self.scalar(node)

    def enter(self, node: yaml.Node, path: Path, depth: int, alias_at: tuple[int, int] | None) -> tuple[int, int] | None:
        """Count and bound building ``node`` at ``path`` and record its position; where an alias
        being expanded stands from here on (None: not in an alias)."""
        loc = self.loc
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self.seen and alias_at is None:
                alias_at = loc.keys.get(path) or loc.pos(path[:-1])
            self.seen.add(id(node))
        if depth >= MAX_DEPTH:
            line, col = alias_at or _at(node.start_mark)
            raise YamlLimitError(f"nested too deeply through aliases: more than {MAX_DEPTH} levels", line, col)
        if alias_at is not None:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_VALUES:
                line, col = alias_at
                raise YamlLimitError(
                    f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (an alias bomb?)", line, col)
        loc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        return alias_at

    def mapping(self, node: yaml.MappingNode, path: Path, depth: int,
                alias_at: tuple[int, int] | None) -> dict[object, object]:
        out: dict[object, object] = {}
        merged: dict[object, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged = {**self.merge(value_node, path, depth, alias_at), **merged}
                continue
            key = self.key(key_node)
            self.loc.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,), depth + 1, alias_at)
        return {**merged, **out} if merged else out

    def merge(self, node: yaml.Node, path: Path, depth: int, alias_at: tuple[int, int] | None) -> dict[object, object]:
        """``<<: *defaults`` (or a list of them): the mappings' keys, the earlier mapping winning, and the
        mapping's own keys winning over all of them (YAML's merge key, as people share settings)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[object, object] = {}
        for i, source in enumerate(sources):
            if not isinstance(source, yaml.MappingNode):
                line, col = _at(source.start_mark)
                raise YamlSyntaxError("'<<' merges a mapping (or a list of mappings) into this one", line, col)
            at = path + ("<<", i)
            out = {**self.mapping(source, at, depth + 1, self.enter(source, at, depth + 1, alias_at)), **out}
        return out

    def key(self, node: yaml.Node) -> object:
        """A complex key (``? [a, b]``, ``? *anchor``) is built by the safe loader whole: size it first."""
        if isinstance(node, yaml.CollectionNode):
            count, stack = 0, [node]
            while stack:
                n = stack.pop()
                count += 1
                if count > 1000:  # also where a recursive anchor ends
                    line, col = _at(node.start_mark)
                    raise YamlLimitError("a mapping key this large (or recursive) is not supported", line, col)
                if isinstance(n, yaml.MappingNode):
                    stack.extend(x for pair in n.value for x in pair)
                elif isinstance(n, yaml.SequenceNode):
                    stack.extend(n.value)
        return self.scalar(node)


    def scalar(self, node: yaml.Node) -> object:
        """A scalar (or a complex key such as ``? [a, b]``) as the safe loader builds it."""
        return self.constructor.construct_object(node, deep=True)
