#!/usr/bin/env python3
"""Turns the `SMPBOOT DUMP` lines of an example-kernel boot with `platform.dump=1` into the
unit tests' corpus files.

usage: firmware_dump.py LOG ACPI_DIR MEMMAP_STEM

  ACPI_DIR/<SIG>@<phys, 8 hex digits>.bin   the RSDP, the root table and every table it lists
                                            (not the DSDT and FACS), as the kernel read them
  MEMMAP_STEM.efi.txt                       the raw EFI memory descriptors (type, physical
                                            start, pages, attribute) and the EBDA segment, when
                                            the map came from the Multiboot 2 EFI tag
  MEMMAP_STEM.txt                           else the converted map (base, length, MemoryType)
"""
import os
import sys


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    log, acpi_dir, stem = sys.argv[1:]
    os.makedirs(acpi_dir, exist_ok=True)
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    efi, converted, ebda = [], [], None
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            at = line.find("SMPBOOT DUMP ")
            if at < 0:
                continue
            words = line[at:].split()[2:]
            kind = words[0]
            if kind in ("rsdp", "table"):
                phys, data = int(words[1], 16), bytes.fromhex(words[2])
                sig = "RSDP" if kind == "rsdp" else data[:4].decode("ascii")
                with open(os.path.join(acpi_dir, f"{sig}@{phys:08x}.bin"), "wb") as out:
                    out.write(data)
            elif kind == "ebda_segment":
                ebda = words[1]
            elif kind == "efi_mmap":
                efi.append(" ".join(words[1:]))
            elif kind == "mmap":
                converted.append(" ".join(words[1:]))
    if ebda is None:
        print(f"{log}: no SMPBOOT DUMP lines (boot with platform.dump=1)", file=sys.stderr)
        return 1
    path, rows, what = ((stem + ".efi.txt", efi, "EFI memory descriptors: type phys_start pages attribute")
                        if efi else (stem + ".txt", converted, "memory map: base length MemoryType"))
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"# {os.path.basename(stem)}: {what}; captured by tools/capture/firmware_dump.py\n")
        out.write(f"ebda_segment {ebda}\n")
        for row in rows:
            out.write(row + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
