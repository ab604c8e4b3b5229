// Host-side reader for CPUID dumps in the corpus's normalized text format (tests/data/cpuid/
// README.md): "cpu <index>" starts a logical CPU; "<leaf> <subleaf> <eax> <ebx> <ecx> <edx>"
// in hex. A (leaf, subleaf) that is not in the dump reads as zeros, like an unimplemented
// sub-leaf on a real CPU; the decoders check max leaves before trusting anything.
#pragma once

#include <smpboot/hw/cpuid.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smpboot::tools {

struct CpuidDumpSection {
  std::map<std::pair<uint32_t, uint32_t>, CpuidRegs> leaves;

  // A CpuidSource view of one logical CPU.
  CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) const noexcept {
    auto it = leaves.find({leaf, subleaf});
    return it == leaves.end() ? CpuidRegs{} : it->second;
  }
  bool has(uint32_t leaf, uint32_t subleaf = 0) const { return leaves.count({leaf, subleaf}) != 0; }
};

// CpuidSource adapter (the concept wants a non-const member and noexcept).
struct DumpCpuid {
  const CpuidDumpSection* section;
  CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) noexcept { return section->cpuid(leaf, subleaf); }
};

struct CpuidDumpError {
  size_t line = 0;  // 1-based; 0 = no error
  std::string message;
};

// Parses `text`; on the first malformed line returns false and fills `error`.
inline bool parse_cpuid_dump(std::string_view text, std::vector<CpuidDumpSection>& out,
                             CpuidDumpError& error) {
  out.clear();
  size_t line_no = 0;
  auto fail = [&](std::string msg) {
    error.line = line_no;
    error.message = std::move(msg);
    return false;
  };
  auto parse_hex = [](std::string_view s, size_t max_digits, uint32_t& v) {
    if (s.empty() || s.size() > max_digits) return false;
    v = 0;
    for (char ch : s) {
      int d = (ch >= '0' && ch <= '9') ? ch - '0'
            : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
            : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
      if (d < 0) return false;
      v = (v << 4) | uint32_t(d);
    }
    return true;
  };
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> fields;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      if (j > i) fields.push_back(line.substr(i, j - i));
      i = j;
    }
    if (fields.empty() || fields[0][0] == '#') continue;
    if (fields[0] == "cpu") {
      if (fields.size() != 2) return fail("expected 'cpu <index>'");
      // Bounded by hand: an index of 80 digits must be an error, not an exception
      // (found by fuzzing: std::stoul threw out_of_range).
      uint64_t index = 0;
      for (char ch : fields[1]) {
        if (ch < '0' || ch > '9') return fail("cpu index is not a decimal number");
        index = index * 10 + uint64_t(ch - '0');
        if (index > out.size()) return fail("cpu sections must be numbered 0, 1, 2, ... in order");
      }
      if (index != out.size()) return fail("cpu sections must be numbered 0, 1, 2, ... in order");
      out.emplace_back();
      continue;
    }
    if (fields.size() != 6) {
      return fail("expected '<leaf> <subleaf> <eax> <ebx> <ecx> <edx>' (6 hex fields)");
    }
    if (out.empty()) return fail("CPUID line before the first 'cpu <index>' line");
    uint32_t v[6];
    const size_t widths[6] = {8, 8, 8, 8, 8, 8};
    for (int k = 0; k < 6; ++k) {
      if (!parse_hex(fields[k], widths[k], v[k])) {
        return fail("field " + std::to_string(k + 1) + " is not a hex number of at most 8 digits");
      }
    }
    auto& leaves = out.back().leaves;
    if (!leaves.emplace(std::pair{v[0], v[1]}, CpuidRegs{v[2], v[3], v[4], v[5]}).second) {
      return fail("leaf/subleaf listed twice in one cpu section");
    }
  }
  if (out.empty()) {
    error.line = line_no;
    error.message = "no 'cpu <index>' section found";
    return false;
  }
  return true;
}

}  // namespace smpboot::tools
