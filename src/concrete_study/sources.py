"""Which library files a script runs: its `concrete_study` imports, followed transitively, and
the C source beside any of them (`cpu_pass.c` beside `cpu_pass.py`, which compiles it).

Snakemake reruns a rule when its script file changes, not when a module the script imports
does. Each rule therefore lists these files as inputs; read from the imports themselves, the
list cannot drift from the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "concrete_study"
# How a job's process starts, never what it computes: an edit of it reruns nothing.
NOT_COMPUTING = {"forkserver"}


def _imported_modules(path: Path, library: Path) -> set[str]:
    """Names of the package's modules that `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from concrete_study import plotting` names a module; `from m import f` names m.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == PACKAGE and len(parts) == 2 and parts[1] not in NOT_COMPUTING:
                if (library / f"{parts[1]}.py").is_file():
                    found.add(parts[1])
    return found


def library_sources(script: str | Path, root: str | Path) -> list[str]:
    """The library files under `root`/src that `script` imports, directly or not, as sorted paths
    relative to `root`: the workflow's own copy of the library, whichever one Python imports."""
    library = Path(root) / "src" / PACKAGE
    seen: set[str] = set()
    todo = _imported_modules(Path(script), library)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo |= _imported_modules(library / f"{module}.py", library)
    files = [f"{m}.py" for m in seen] + [f"{m}.c" for m in seen if (library / f"{m}.c").is_file()]
    return sorted(f"src/{PACKAGE}/{name}" for name in files)
