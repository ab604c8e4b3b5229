#!/usr/bin/env python3
"""Checks an example-kernel serial log: the SMPBOOT RESULT line and every SMPBOOT CPU line.

usage: check_report.py LOG [--exit-code RC] [--cpus N] [--status ok|fail] [--mode M] [--apic A]
                           [--id S] [--delays D] [--apic-ids 0,1,2] [--note TEXT] ...
                           [--sipi-page any|0xHEX] [--protocol multiboot1|multiboot2]
       check_report.py LOG --exit-code RC --expect-injected-failure [--injected-victim IDX]
Exit status 0 when every expectation holds; otherwise prints what differs.
"""
import argparse
import re
import sys

CPU_RE = re.compile(r"^SMPBOOT CPU idx=(\d+) apic=(\d+) state=(\w+) kick_us=(\d+|-) "
                    r"alive_us=(\d+|-) online_us=(\d+|-) stage=(none|protected|long|alive|online)\s*$")
TORTURE_RE = re.compile(r"^SMPBOOT TORTURE cycles=(\d+) failures=(\d+) cpu0_cycles=(\d+) "
                        r"offline_median_us=(\d+) online_median_us=(\d+)\s*$")
FAILED_CYCLE_RE = re.compile(r"^SMPBOOT NOTE torture cycle=(\d+) controller=(\d+) victim=(\d+) "
                             r"state=(\w+) error=(\w+)\s*$")
EXCEPTION_RE = re.compile(r"^\*\*\* CPU EXCEPTION (\d+) ", re.M)
EXIT_RE = re.compile(r"^\*\*\* exiting with code 0x([0-9a-f]+)\s*$", re.M)
# Not anchored: under OVMF/GRUB the first kernel line follows the loader's output (a CR, escape
# codes) on the same line.
BOOT_RE = re.compile(r"SMPBOOT BOOT cmdline=\"[^\n]*\" protocol=(\S+) memmap=(\S+) "
                     r"sipi_page=(0x[0-9a-f]+|none)\s*$", re.M)
RESULT_RE = re.compile(r"^SMPBOOT RESULT status=(ok|fail) cpus=(\d+) online=(\d+) failed=(\d+) "
                       r"mode=(\w+) apic=(\w+) id=(\w+) delays=(\w+) bringup_us=(\d+) "
                       r"esr=0x([0-9a-f]+)\s*$")


def check_injected(text, lines, torture, rc, victim):
    """An injected fault counts as caught only through the kernel's own detection, consistent
    with the exit code: failed torture cycles in the report (status=fail, exit code 1), or the
    exception report of a CPU the fault corrupted (exit code 0x40 + vector). A timeout, a
    triple fault, a silent exit or a failure the report does not explain does not count."""
    errors = []
    exc = EXCEPTION_RE.search(text)
    if exc:
        vector = int(exc.group(1))
        ex = EXIT_RE.search(text)
        if not ex or int(ex.group(1), 16) != 0x40 + vector:
            errors.append(f"exception {vector} without its 'exiting with code 0x{0x40 + vector:x}' line")
        if rc != 0x40 + vector:
            errors.append(f"exit code {rc} after exception {vector}, expected {0x40 + vector}")
        how = f"exception {vector} reported"
    else:
        failed_cycles = [m for m in (FAILED_CYCLE_RE.match(l) for l in lines) if m]
        watchdog = [l for l in lines if l.startswith("SMPBOOT NOTE torture watchdog:")]
        results = [RESULT_RE.match(l) for l in lines if l.startswith("SMPBOOT RESULT")]
        if rc != 1:
            errors.append(f"exit code {rc}: neither a reported failure (1) nor an exception "
                          "report (0x40 + vector)")
        if len(results) != 1 or results[0] is None or results[0].group(1) != "fail":
            errors.append("expected exactly one RESULT line with status=fail")
        if len(torture) != 1 or torture[0] is None:
            errors.append(f"expected one well-formed TORTURE line, got {len(torture)}")
        else:
            failures = int(torture[0].group(2))
            if failures == 0:
                errors.append("the torture reports failures=0")
            if failures != len(failed_cycles) + len(watchdog):
                errors.append(f"failures={failures} but {len(failed_cycles)} failed-cycle and "
                              f"{len(watchdog)} watchdog NOTE lines")
        if victim is not None and failed_cycles and int(failed_cycles[0].group(3)) != victim:
            errors.append(f"the first failed cycle took down cpu {failed_cycles[0].group(3)}, "
                          f"not the injected victim {victim}")
        if victim is not None and not failed_cycles:
            errors.append(f"no failed cycle with victim {victim}")
        how = f"{len(failed_cycles)} failed cycles reported"
    for e in errors:
        print("check_report: injected fault not properly detected:", e)
    if not errors:
        print(f"check_report: injected fault detected ({how})")
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--exit-code", type=int, help="the emulator's exit code (run-qemu.sh)")
    ap.add_argument("--cpus", type=int)
    ap.add_argument("--status", default="ok")
    ap.add_argument("--mode")
    ap.add_argument("--apic")
    ap.add_argument("--id")
    ap.add_argument("--delays")
    ap.add_argument("--apic-ids")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--cpu-stage", action="append", default=[], metavar="IDX=STAGE",
                    help="CPU IDX (or `last`) must say state=failed stage=STAGE")
    ap.add_argument("--esr", help="RESULT esr= must equal this (hex, e.g. 0x0)")
    ap.add_argument("--online", type=int, help="RESULT online= must equal this")
    ap.add_argument("--failed", type=int, help="RESULT failed= must equal this")
    ap.add_argument("--torture-cycles", type=int, help="TORTURE cycles must equal this, failures=0")
    ap.add_argument("--torture-cpu0", type=int, help="cpu0_cycles must be at least this")
    ap.add_argument("--torture-cpu0-exact", type=int, help="cpu0_cycles must equal this")
    ap.add_argument("--expect-injected-failure", action="store_true",
                    help="pass only if the kernel detected the fault: failed torture cycles "
                         "reported, or an exception report, matching --exit-code")
    ap.add_argument("--injected-victim", type=int,
                    help="with --expect-injected-failure: the first failed cycle's victim")
    ap.add_argument("--sipi-page", nargs="?", const="any",
                    help="the BOOT line must report a SIPI page: `any` valid page (4 KiB "
                         "aligned, 0x1000..0x9f000), or exactly this hex address")
    ap.add_argument("--protocol", help="the BOOT line's protocol= must equal this")
    a = ap.parse_args()
    text = open(a.log, errors="replace").read()
    lines = [l.rstrip("\r") for l in text.splitlines()]
    errors = []
    torture = [TORTURE_RE.match(l) for l in lines if l.startswith("SMPBOOT TORTURE")]
    if a.expect_injected_failure:
        if a.exit_code is None:
            print("check_report: --expect-injected-failure needs --exit-code")
            return 1
        return check_injected(text, lines, torture, a.exit_code, a.injected_victim)
    if a.torture_cycles is not None:
        if len(torture) != 1 or torture[0] is None:
            errors.append(f"expected one well-formed TORTURE line, got {len(torture)}")
        else:
            t = torture[0]
            cycles, failures, cpu0 = int(t.group(1)), int(t.group(2)), int(t.group(3))
            if cycles != a.torture_cycles:
                errors.append(f"torture cycles={cycles}, expected {a.torture_cycles}")
            if failures != 0:
                errors.append(f"torture failures={failures}")
            if a.torture_cpu0 is not None and cpu0 < a.torture_cpu0:
                errors.append(f"cpu0_cycles={cpu0}, expected at least {a.torture_cpu0}")
            if a.torture_cpu0_exact is not None and cpu0 != a.torture_cpu0_exact:
                errors.append(f"cpu0_cycles={cpu0}, expected {a.torture_cpu0_exact}")
            m = re.search(r"init_to_bsp_refusals=(\d+)", text)
            if not m or int(m.group(1)) != cpu0:
                errors.append("every CPU0 cycle must first see INIT to the BSP refused "
                              f"(refusals {m.group(1) if m else 'missing'}, cpu0_cycles {cpu0})")
            idx_result = next(i for i, l in enumerate(lines) if l.startswith("SMPBOOT RESULT")) if any(
                l.startswith("SMPBOOT RESULT") for l in lines) else -1
            idx_torture = next(i for i, l in enumerate(lines) if l.startswith("SMPBOOT TORTURE"))
            if idx_result != -1 and idx_torture > idx_result:
                errors.append("the TORTURE line must come before the RESULT line")
    if a.sipi_page is not None or a.protocol is not None:
        boots = BOOT_RE.findall(text)
        if len(boots) != 1:
            errors.append(f"expected exactly one well-formed BOOT line with sipi_page=, got {len(boots)}")
        else:
            protocol, _memmap, page = boots[0]
            if a.protocol is not None and protocol != a.protocol:
                errors.append(f"protocol={protocol}, expected {a.protocol}")
            if a.sipi_page is not None:
                if page == "none":
                    errors.append("sipi_page=none: the kernel found no SIPI page")
                elif a.sipi_page == "any":
                    v = int(page, 16)
                    if v % 0x1000 or not 0x1000 <= v <= 0x9F000:
                        errors.append(f"sipi_page={page} is not a 4 KiB page in 0x1000..0x9f000")
                elif int(page, 16) != int(a.sipi_page, 16):
                    errors.append(f"sipi_page={page}, expected {a.sipi_page}")
    results = [RESULT_RE.match(l) for l in lines if l.startswith("SMPBOOT RESULT")]
    if len(results) != 1 or results[0] is None:
        errors.append(f"expected exactly one well-formed RESULT line, got {len(results)}")
    cpus = []
    for l in lines:
        if l.startswith("SMPBOOT CPU"):
            m = CPU_RE.match(l)
            if not m:
                errors.append(f"malformed CPU line: {l!r}")
            else:
                cpus.append(m)
    if results and results[0]:
        r = results[0]
        status, n, online, failed = r.group(1), int(r.group(2)), int(r.group(3)), int(r.group(4))
        want = {"status": (status, a.status), "mode": (r.group(5), a.mode), "apic": (r.group(6), a.apic),
                "id": (r.group(7), a.id), "delays": (r.group(8), a.delays)}
        for k, (got, exp) in want.items():
            if exp is not None and got != exp:
                errors.append(f"{k}={got}, expected {exp}")
        if a.esr is not None and int(r.group(10), 16) != int(a.esr, 16):
            errors.append(f"esr=0x{r.group(10)}, expected {a.esr}")
        if a.online is not None and online != a.online:
            errors.append(f"online={online}, expected {a.online}")
        if a.failed is not None and failed != a.failed:
            errors.append(f"failed={failed}, expected {a.failed}")
        if a.cpus is not None and n != a.cpus:
            errors.append(f"cpus={n}, expected {a.cpus}")
        if len(cpus) != n:
            errors.append(f"{len(cpus)} CPU lines for cpus={n}")
        if a.status == "ok":
            if online != n or failed != 0:
                errors.append(f"online={online} failed={failed} with cpus={n}")
        states = [m.group(3) for m in cpus]
        if online != states.count("online"):
            errors.append(f"online={online} but {states.count('online')} CPU lines say online")
        if failed != states.count("failed"):
            errors.append(f"failed={failed} but {states.count('failed')} CPU lines say failed")
    idx = [int(m.group(1)) for m in cpus]
    if idx != list(range(len(cpus))):
        errors.append(f"CPU indexes not 0..n-1 in order: {idx}")
    ids = [int(m.group(2)) for m in cpus]
    if len(set(ids)) != len(ids):
        errors.append(f"duplicate APIC IDs: {ids}")
    if a.apic_ids is not None:
        exp = sorted(int(x) for x in a.apic_ids.split(","))
        if sorted(ids) != exp:
            errors.append(f"APIC IDs {sorted(ids)}, expected {exp}")
    for m in cpus:
        if m.group(3) == "online":
            k, al, on = m.group(4), m.group(5), m.group(6)
            if "-" in (k, al, on) or not int(k) <= int(al) <= int(on):
                errors.append(f"cpu {m.group(1)}: times not kick <= alive <= online: {k} {al} {on}")
    for m in cpus:  # a CPU that is online got there through every stage
        if m.group(3) == "online" and m.group(7) != "online":
            errors.append(f"cpu {m.group(1)}: state=online but stage={m.group(7)}")
    for spec in a.cpu_stage:
        i, stage = spec.split("=")
        i = len(cpus) - 1 if i == "last" else int(i)
        if not 0 <= i < len(cpus):
            errors.append(f"--cpu-stage {spec}: no CPU line {i}")
        elif (cpus[i].group(3), cpus[i].group(7)) != ("failed", stage):
            errors.append(f"cpu {i}: state={cpus[i].group(3)} stage={cpus[i].group(7)}, "
                          f"expected state=failed stage={stage}")
    for note in a.note:
        if note not in text:
            errors.append(f"expected text not in log: {note!r}")
    if re.search(r"CPU EXCEPTION", text):
        errors.append("the log reports an exception")
    for e in errors:
        print("check_report:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
