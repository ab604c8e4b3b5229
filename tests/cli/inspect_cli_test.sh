#!/bin/bash
# smpboot-inspect as a user runs it: help, exit codes, one-line errors, exact TSV rows and census.
#   inspect_cli_test.sh PATH_TO_INSPECT TEST_DATA_DIR
set -euo pipefail
inspect=$1 data=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$inspect" --help >"$tmp/help"; grep -q "smpboot-inspect madt FILE" "$tmp/help" || fail "--help lacks usage"
set +e
"$inspect" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments must exit 2"
"$inspect" madt "$tmp/missing" 2>"$tmp/err"; [ $? -eq 2 ] || fail "missing file must exit 2"
set -e
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "missing file: expected one error line"

# Every table: the rows exactly as expected, then the seven census lines, all '#' comments.
madts=("$data"/madt/*.apic.dat); madt=${madts[0]}
for m in "${madts[@]}"; do
  "$inspect" madt "$m" >"$tmp/out" || fail "$m: exit status $?"
  grep -v '^#' "$tmp/out" | cmp -s - "${m%.apic.dat}.expected.tsv" || fail "$m: rows differ from expected"
  [ "$(sed -n '/^#/,$p' "$tmp/out" | grep -c '^# [a-z_]*: ')" -eq 7 ] &&
    [ "$(sed -n '/^#/,$p' "$tmp/out" | wc -l)" -eq 7 ] || fail "$m: expected 7 census lines after the rows"
done

# The census of two real tables, line by line.
"$inspect" madt "$data/madt/all-in-one__apple__imac11-3__9C99E007509B__t2.apic.dat" | grep '^#' >"$tmp/census"
cat >"$tmp/want" <<'EOF'
# census: bsp_apic_id=0 enabled=4 added=4 not_added=0 placeholders=0 walk=ok
# duplicate_apic_ids: 0
# duplicate_apic_ids_incl_disabled: 4 (0)
# xapic_unaddressable_apic_ids: 0
# disabled: 4
# online_capable: 0
# broadcast_safe: no (4 disabled)
EOF
diff "$tmp/want" "$tmp/census" >&2 || fail "census of the iMac 11,3 table"
"$inspect" madt "$data/madt/notebook__msi__prestige-13-ai-evo-a2vmg__F253BBB7B294.apic.dat" >"$tmp/out"
grep -qx '# broadcast_safe: yes' "$tmp/out" || fail "Prestige 13: broadcast must be safe"

# A truncated copy: rows before the cut, one error line, exit 1.
head -c 60 "$madt" >"$tmp/cut.dat"
set +e; "$inspect" madt "$tmp/cut.dat" >"$tmp/out" 2>"$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] || fail "truncated MADT must exit 1 (got $rc)"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "truncated MADT: expected exactly one error line"
grep -q '^index	offset' "$tmp/out" || fail "truncated MADT: header row missing"
grep -qx '# broadcast_safe: no (madt_length_past_buffer)' "$tmp/out" ||
  fail "truncated MADT: broadcast must not be called safe"

# Not a MADT at all.
printf 'FACP%060d' 0 >"$tmp/facp.dat"
set +e; "$inspect" madt "$tmp/facp.dat" >/dev/null 2>"$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q madt_bad_signature "$tmp/err" || fail "wrong signature not reported"

cpuids=("$data"/cpuid/*.cpuid.txt); cpuid=${cpuids[0]}
"$inspect" cpuid "$cpuid" >"$tmp/out"
[[ "$(head -1 "$tmp/out")" == cpu$'\t'apic_id_01$'\t'* ]] || fail "cpuid header"
[ "$(($(wc -l <"$tmp/out") - 1))" -eq "$(($(wc -l <"${cpuid%.cpuid.txt}.expected.tsv") - 1))" ] ||
  fail "cpuid: one row per logical CPU expected"

printf 'cpu 0\n00000001 00 zz 0 0 0\n' >"$tmp/bad.txt"
set +e; "$inspect" cpuid "$tmp/bad.txt" >/dev/null 2>"$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q ':2: ' "$tmp/err" || fail "bad cpuid line must name line 2"
echo "inspect CLI OK"
