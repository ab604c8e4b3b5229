#!/usr/bin/env python3
"""Checks the layering of the public headers (shared/STYLE.md, docs/architecture.md).

usage: check_layering.py INCLUDE_DIR

Fails when
  - INCLUDE_DIR holds anything but .hpp headers (build inputs and tools live elsewhere), apart
    from the C API's smpboot/smpboot.h, which includes no other smpboot header and, besides
    <stdint.h> and <stddef.h>, only C11's freestanding <stdbool.h>;
  - a header under smpboot/ includes a header of a higher layer, or of another folder on its
    own layer (no two folders on one layer include each other today; allowing a pair is a
    decision to write down in LAYERS' comment, not to slip in);
  - a quoted include does not name a header under smpboot/, or an angle include names anything
    but <stdint.h> or <stddef.h> (the only headers a freestanding kernel toolchain is sure to
    have).
"""
import os
import re
import sys

# Lower layers first; a header may include its own folder and any lower layer.
LAYERS = [
    ["core"],                   # no hardware knowledge
    ["hw"],                     # pure descriptions of hardware
    ["percpu", "concepts"],     # the CPU table; the seams
    ["arch", "apic", "discovery", "time", "wake", "testing"],  # policies and their users
    ["boot"],                   # the trampoline layout and the BSP-side protocol
    ["smpboot.hpp"],            # the umbrella
]
C_API_HEADER = os.path.join("smpboot", "smpboot.h")
C_API_SYSTEM_HEADERS = {"stdint.h", "stddef.h", "stdbool.h"}
RANK = {folder: rank for rank, folders in enumerate(LAYERS) for folder in folders}
SYSTEM_HEADERS = {"stdint.h", "stddef.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def folder_of(rel):
    """The layer folder of a path relative to smpboot/: its first component."""
    return rel.split("/", 1)[0]


def check_c_api_header(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    for kind, name in INCLUDE.findall(text):
        if kind != "<" or name not in C_API_SYSTEM_HEADERS:
            problems.append(f"{C_API_HEADER}: #include {name}: the C API header includes only "
                            + ", ".join(f"<{h}>" for h in sorted(C_API_SYSTEM_HEADERS)))
    return problems


def check(include_dir):
    problems = []
    root = os.path.join(include_dir, "smpboot")
    headers = []
    for dirpath, _, files in os.walk(include_dir):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, include_dir)
            if rel == C_API_HEADER:
                problems += check_c_api_header(path)
            elif not name.endswith(".hpp"):
                problems.append(f"{rel}: not a header: include/ holds the public .hpp headers only")
            elif not rel.startswith("smpboot" + os.sep):
                problems.append(f"{rel}: a header outside include/smpboot/")
            else:
                headers.append(path)
    for path in sorted(headers):
        rel = os.path.relpath(path, root)
        folder = folder_of(rel)
        if folder not in RANK:
            problems.append(f"smpboot/{rel}: folder '{folder}' has no layer in check_layering.py")
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for kind, name in INCLUDE.findall(text):
            where = f"smpboot/{rel}: #include {kind}{name}{'>' if kind == '<' else kind}"
            if kind == "<":
                if name not in SYSTEM_HEADERS:
                    problems.append(f"{where}: only <stdint.h> and <stddef.h> are freestanding")
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(path), name))
            target_rel = os.path.relpath(target, root)
            if target_rel.startswith("..") or not os.path.isfile(target):
                problems.append(f"{where}: not a header under include/smpboot/")
                continue
            target_folder = folder_of(target_rel)
            if target_folder not in RANK:
                continue  # reported for the target itself
            if RANK[target_folder] > RANK[folder]:
                problems.append(f"{where}: '{target_folder}' is a higher layer than '{folder}'")
            elif RANK[target_folder] == RANK[folder] and target_folder != folder:
                problems.append(f"{where}: '{folder}' and '{target_folder}' are on one layer, "
                                "and neither includes the other")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s); layers, lowest first: "
              + " < ".join(", ".join(folders) for folders in LAYERS))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
