#!/usr/bin/env python3
"""Checks the layering of core/ (DESIGN.md "Layers").

Usage: check_layers.py CORE_DIR "LAYER" "LAYER" ...   (bottom layer first)

Each LAYER is a space-separated group of folders of core/ on one level. A
file in core/X may include (`#include "Y/..."`) its own folder and folders of
lower levels only: not a folder of its own level, not one above it. Every
folder of core/ must be declared. Headers are checked too, even those that no
compiled file includes. Exit status 1 lists every violation.
"""

import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"', re.MULTILINE)


def main() -> int:
    core = pathlib.Path(sys.argv[1])
    level: dict[str, int] = {}
    for i, group in enumerate(sys.argv[2:]):
        for folder in group.split():
            level[folder] = i
    errors = []
    folders = sorted(p.name for p in core.iterdir() if p.is_dir())
    for folder in folders:
        if folder not in level:
            errors.append(f"core/{folder}/: not declared in SQUALL_LAYERS (CMakeLists.txt)")
    for path in sorted(core.rglob("*")):
        if path.suffix not in (".h", ".cpp", ".hpp", ".cc") or not path.is_file():
            continue
        own = path.relative_to(core).parts[0]
        if own not in level:
            continue
        for m in INCLUDE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            target = m.group(1)
            line = path.read_text(encoding="utf-8", errors="replace").count("\n", 0, m.start()) + 1
            where = f"{path.relative_to(core.parent)}:{line}"
            if target == own:
                continue
            if target not in level:
                errors.append(f'{where}: includes "{target}/", not a folder of core/ in SQUALL_LAYERS')
            elif level[target] >= level[own]:
                rel = "same level as" if level[target] == level[own] else "above"
                errors.append(f'{where}: core/{own}/ includes "{target}/", which is {rel} it')
    for e in errors:
        print(e)
    if not errors:
        print(f"layers ok: {len(folders)} folders")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
