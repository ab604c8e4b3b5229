#!/bin/sh
# Runs tools/timeline/smpboot_timeline.py on two small synthetic logs and checks the SVG:
# well-formed XML, one panel per log, one bar group per CPU, failed CPUs marked.
#   test_timeline.sh PATH/TO/smpboot_timeline.py
set -eu
[ $# -eq 1 ] || { echo "usage: $0 PATH/TO/smpboot_timeline.py" >&2; exit 2; }
tool=$1
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smpboot-timeline.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Serial: 5 CPUs, CPU 3 never alive (its times "-"), with serial noise and a CR line end as
# a real COM1 capture has. Parallel: 12 CPUs, one alive but never online.
cat >"$tmp/serial.log" <<'LOG'
SeaBIOS noise before the kernel
SMPBOOT BOOT cmdline="kernel smp.mode=serial smp.delays=modern"
SMPBOOT CPU idx=0 apic=0 state=online kick_us=0 alive_us=0 online_us=0
SMPBOOT CPU idx=1 apic=2 state=online kick_us=100 alive_us=900 online_us=950
SMPBOOT CPU idx=2 apic=4 state=online kick_us=1000 alive_us=1400 online_us=1410
SMPBOOT CPU idx=3 apic=6 state=failed kick_us=1500 alive_us=- online_us=-
SMPBOOT NOTE cpu=3 apic=6 error=ap_never_alive esr=0x0
SMPBOOT CPU idx=4 apic=8 state=online kick_us=3600 alive_us=3900 online_us=3905
SMPBOOT RESULT status=fail cpus=5 online=4 failed=1 mode=serial apic=xapic id=apic delays=modern bringup_us=3905
LOG
{
  printf 'SMPBOOT BOOT cmdline="kernel smp.mode=parallel"\r\n'
  printf 'SMPBOOT CPU idx=0 apic=0 state=online kick_us=0 alive_us=0 online_us=0\r\n'
  i=1
  while [ $i -lt 12 ]; do
    if [ $i -eq 7 ]; then
      printf 'SMPBOOT CPU idx=%d apic=%d state=failed kick_us=%d alive_us=%d online_us=-\r\n' $i $i $((i * 20)) $((800 + i * 30))
    else
      printf 'SMPBOOT CPU idx=%d apic=%d state=online kick_us=%d alive_us=%d online_us=%d\r\n' $i $i $((i * 20)) $((800 + i * 30)) $((805 + i * 30))
    fi
    i=$((i + 1))
  done
  printf 'SMPBOOT RESULT status=fail cpus=12 online=11 failed=1 mode=parallel apic=x2apic id=apic delays=auto bringup_us=1135\r\n'
} >"$tmp/parallel.log"

"$PYTHON" "$tool" --same-scale --title 'test <&> title' -o "$tmp/out.svg" "$tmp/serial.log" "$tmp/parallel.log"
echo "ok: wrote an SVG for 2 logs"

"$PYTHON" - "$tmp/out.svg" <<'PY'
import sys
import xml.dom.minidom

doc = xml.dom.minidom.parse(sys.argv[1])  # raises on malformed XML
svg = doc.documentElement
assert svg.tagName == "svg", svg.tagName
panels = [g for g in svg.getElementsByTagName("g") if g.getAttribute("class") == "panel"]
assert len(panels) == 2, f"{len(panels)} panels, want 2"

def groups(panel, cls):
    return [e for e in panel.getElementsByTagName("*") if e.getAttribute("class") == cls]

for panel, want_cpus, want_title in ((panels[0], 5, "serial · 5 CPUs · bringup_us=3905"),
                                     (panels[1], 12, "parallel · 12 CPUs · bringup_us=1135")):
    cpus = groups(panel, "cpu")
    assert len(cpus) == want_cpus, f"{len(cpus)} bar groups, want {want_cpus}"
    assert [g.getAttribute("data-idx") for g in cpus] == [str(i) for i in range(want_cpus)]
    titles = [t.firstChild.data for t in groups(panel, "ptitle")]
    assert titles == [want_title], titles
    assert len(groups(panel, "cross")) == 1 and len(groups(panel, "failband")) == 1
    ticks = [t.firstChild.data for t in groups(panel, "xtick")]
    assert ticks[0] == "0" and len(ticks) >= 5, ticks
    rows = [t.firstChild.data for t in groups(panel, "ytick")]
    assert rows and rows[0] == "0" and len(rows) < want_cpus, rows
    for g in cpus:  # every bar lies inside the SVG
        for r in g.getElementsByTagName("rect"):
            assert float(r.getAttribute("width")) >= 0 and float(r.getAttribute("x")) >= 0

# The failed CPU that never became alive has no bars; the one alive but never online has
# only its kick -> alive bar.
serial_cpu3 = groups(panels[0], "cpu")[3]
rects = serial_cpu3.getElementsByTagName("rect")
assert [r.getAttribute("class") for r in rects] == ["failband"]
parallel_cpu7 = groups(panels[1], "cpu")[7]
rects = parallel_cpu7.getElementsByTagName("rect")
assert [r.getAttribute("class") for r in rects] == ["failband", "wake"]

# --same-scale: both panels end their axis at the same label.
last = [groups(p, "xtick")[-1].firstChild.data for p in panels]
assert last[0] == last[1], last
print("ok: well-formed XML, 2 panels, 5 + 12 bar groups in CPU order, failed CPUs marked,",
      "one time scale")
PY

# A log with no CPU lines is an error, not an empty picture.
echo "SMPBOOT RESULT status=ok" >"$tmp/empty.log"
if "$PYTHON" "$tool" -o "$tmp/bad.svg" "$tmp/empty.log" 2>"$tmp/err"; then
  echo "FAIL: a log without CPU lines was accepted" >&2
  exit 1
fi
echo "ok: rejected a log without CPU lines ($(cat "$tmp/err"))"
echo "PASS timeline"
