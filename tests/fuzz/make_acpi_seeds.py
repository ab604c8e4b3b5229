#!/usr/bin/env python3
"""Seeds for fuzz_acpi: each real table set in tests/data/acpi/ relocated into one small
"physical memory" image that fuzz_acpi maps at 0xE0000: the RSDP at offset 0, the tables after
it, with the RSDT's entries (and the RSDP's RsdtAddress) rewritten and checksums fixed. Also
an ACPI 2.0 variant per set with an XSDT whose entries point at the 4 GiB alias.
usage: make_acpi_seeds.py DATA_ACPI_DIR OUT_DIR"""
import os
import struct
import sys

BASE, HIGH = 0xE0000, 0x1_0000_0000


def fix(table, at):
    table[at] = 0
    table[at] = (-sum(table)) & 0xFF


def build(tables, rsdp_raw, xsdt):
    image = bytearray(64)  # room for a 36-byte RSDP
    placed = []
    for sig, raw in tables:
        while len(image) % 16:
            image.append(0)
        placed.append(BASE + len(image))
        image += raw
    while len(image) % 16:
        image.append(0)
    rsdt_at = BASE + len(image)
    rsdt = bytearray(b"RSDT" + struct.pack("<I", 36 + 4 * len(placed)) + bytes(28))
    rsdt += b"".join(struct.pack("<I", p) for p in placed)
    fix(rsdt, 9)
    image += rsdt
    rsdp = bytearray(rsdp_raw[:20])
    struct.pack_into("<I", rsdp, 16, rsdt_at)
    if xsdt:
        while len(image) % 16:
            image.append(0)
        xsdt_at = HIGH + BASE + len(image)
        x = bytearray(b"XSDT" + struct.pack("<I", 36 + 8 * len(placed)) + bytes(28))
        x += b"".join(struct.pack("<Q", HIGH + p) for p in placed)
        fix(x, 9)
        image += x
        rsdp[15] = 2
        rsdp += struct.pack("<IQ", 36, xsdt_at) + bytes(4)
    fix(rsdp, 8)
    if xsdt:
        rsdp[32] = 0
        rsdp[32] = (-sum(rsdp)) & 0xFF
    image[0:len(rsdp)] = rsdp
    return bytes(image)


def main(src, out):
    os.makedirs(out, exist_ok=True)
    for firmware in sorted(os.listdir(src)):
        d = os.path.join(src, firmware)
        if not os.path.isdir(d):
            continue
        files = sorted(os.listdir(d))
        rsdp = open(os.path.join(d, next(f for f in files if f.startswith("RSDP@"))), "rb").read()
        tables = [(f[:4], open(os.path.join(d, f), "rb").read()) for f in files
                  if f.endswith(".bin") and f[:4] not in ("RSDP", "RSDT", "XSDT")]
        for xsdt in (False, True):
            name = f"{firmware}{'-xsdt' if xsdt else ''}.mem"
            with open(os.path.join(out, name), "wb") as f:
                f.write(build(tables, rsdp, xsdt))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
