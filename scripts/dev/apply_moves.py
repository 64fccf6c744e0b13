"""Rewrite imports and dotted names after modules moved, per scripts/dev/moves.txt. Safe to re-run.

A line of moves.txt is `old new`:
- `sma.a.b sma.c.d` moves a whole module (or package): `sma.a.b` and every name under it follow.
- `sma.a.b:Name sma.c.d:Name` moves one name out of a module that was split; it wins over the module line.

What is rewritten, in every .py file under sma/ tests/ bench/ scripts/ (or the paths given):
- `from X import a, b as c`: each name goes to the module it lives in now, one statement per module.
- every other dotted `sma.x.y` in the source: `import X as m`, `mock.patch("sma.x.Name")`,
  `monkeypatch.setattr("sma.x.Name", ...)`, docstrings.
A name already at a new path is left alone, so a second run changes nothing. What it cannot see:
attributes reached through a module alias (`from sma.services import captions as cap; cap.Transcriber`)
when that module was split; those are few and read as errors at import time.
Afterwards run `ruff check --fix --select I <files>` (done here unless --no-ruff) to re-sort imports.
"""
# apply-moves: keep

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAP = ROOT / "scripts" / "dev" / "moves.txt"
DEFAULT_DIRS = ("sma", "tests", "bench", "scripts")
DOTTED = re.compile(r"(?<![\w.])sma(?:\.[A-Za-z_]\w*)+")
LINE_LENGTH = 120
KEEP = "# apply-moves: keep"
"""A file with this line is left as it is (tests of this script hold old paths on purpose)."""


@dataclass(frozen=True)
class Moves:
    modules: dict[str, str]
    """old module -> new module"""
    names: dict[str, str]
    """old `module.Name` -> new `module.Name` (split modules)"""
    new_modules: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Moves:
        modules: dict[str, str] = {}
        names: dict[str, str] = {}
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise SystemExit(f"{path}:{number}: expected `old new`, got {raw!r}")
            old, new = parts
            if (":" in old) != (":" in new):
                raise SystemExit(f"{path}:{number}: both sides name a module, or both a `module:Name`")
            if ":" in old:
                names[old.replace(":", ".")] = new.replace(":", ".")
            else:
                modules[old] = new
        new_modules = {*modules.values(), *(n.rsplit(".", 1)[0] for n in names.values())}
        for old, new in names.items():
            if new in names:
                raise SystemExit(f"{path}: {old} -> {new} -> {names[new]}: map {old} straight to the end")
            if old in new_modules:
                raise SystemExit(f"{path}: {old} is both a moved name and a new module: leave the name out "
                                 "of the map and edit its imports by hand")
        return cls(modules, names, frozenset(new_modules))

    def _is_new(self, dotted: str) -> bool:
        parts = dotted.split(".")
        return any(".".join(parts[:end]) in self.new_modules for end in range(len(parts), 0, -1))

    def resolve(self, dotted: str) -> str:
        """Where `dotted` (a module, or a name under one) lives now; unchanged when it did not move.

        A moved name wins over everything; a path already under a new module is left alone (that keeps a
        second run from moving `sma.a.b` -> `sma.a.b.c` again when a module became a package of the same name).
        """
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            target = self.names.get(".".join(parts[:end]))
            if target is not None:
                return ".".join([target, *parts[end:]])
        if self._is_new(dotted):
            return dotted
        for end in range(len(parts), 0, -1):
            target = self.modules.get(".".join(parts[:end]))
            if target is not None:
                return ".".join([target, *parts[end:]])
        return dotted


def _import_lines(indent: str, module: str, names: list[str]) -> str:
    one = f"from {module} import {', '.join(names)}"
    if len(indent) + len(one) <= LINE_LENGTH:
        return one
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"from {module} import (\n{inner}{indent})"


def _rewrite_from(node: ast.ImportFrom, moves: Moves, indent: str) -> str | None:
    """The new text of one `from X import ...` statement, or None when nothing in it moved."""
    if node.level or not node.module or not (node.module == "sma" or node.module.startswith("sma.")):
        return None
    grouped: dict[str, list[str]] = {}
    changed = False
    for alias in node.names:
        if alias.name == "*":
            module, name = moves.resolve(node.module), "*"
        else:
            full = moves.resolve(f"{node.module}.{alias.name}")
            module, name = full.rsplit(".", 1)
        bound = alias.asname or alias.name
        text = name if bound == name else f"{name} as {bound}"
        changed |= module != node.module or name != alias.name
        grouped.setdefault(module, []).append(text)
    if not changed:
        return None
    statements = [_import_lines(indent, module, names) for module, names in grouped.items()]
    return f"\n{indent}".join(statements)


def _offsets(source: str) -> list[int]:
    """Where each line starts; lines end at "\\n" only, as the parser counts them."""
    starts = [0]
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def rewrite_source(source: str, moves: Moves) -> str:
    """`source` with moved imports and dotted names rewritten; the same text when nothing moved."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    starts = _offsets(source)
    lines = source.split("\n")
    spans: list[tuple[int, int, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.end_lineno is not None and node.end_col_offset is not None:
            line = lines[node.lineno - 1]
            indent = line[: len(line) - len(line.lstrip())]
            start = starts[node.lineno - 1] + node.col_offset
            end = starts[node.end_lineno - 1] + node.end_col_offset
            spans.append((start, end, _rewrite_from(node, moves, indent)))
    # Dotted names outside `from` statements; those statements were rewritten name by name above.
    out: list[str] = []
    done = 0
    for start, end, new in sorted(spans):
        out.append(DOTTED.sub(lambda m: moves.resolve(m.group(0)), source[done:start]))
        out.append(source[start:end] if new is None else new)
        done = end
    out.append(DOTTED.sub(lambda m: moves.resolve(m.group(0)), source[done:]))
    return "".join(out)


def python_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_file() and path.suffix == ".py":
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.py")) if ".venv" not in p.parts)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: sma tests bench scripts)")
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP, help="the move map (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="list the files that would change; change none")
    parser.add_argument("--no-ruff", action="store_true", help="do not re-sort the imports of changed files")
    args = parser.parse_args(argv)
    moves = Moves.load(args.map)
    paths = args.paths or [ROOT / d for d in DEFAULT_DIRS]
    changed: list[Path] = []
    for path in python_files(paths):
        old = path.read_text(encoding="utf-8")
        if KEEP in old.splitlines():
            continue
        new = rewrite_source(old, moves)
        if new != old:
            changed.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in changed:
        print(path)
    if args.check:
        return 1 if changed else 0
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if changed and not args.no_ruff and Path(ruff).exists():
        subprocess.run([ruff, "check", "--fix", "--select", "I", "--quiet", *map(str, changed)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
