// The bounds-checked MADT walker (ACPI 6.5, 5.2.12 "Multiple APIC Description Table") on
// tables built byte by byte in this file: header validation, type-0/type-9/type-5 decoding,
// unknown types skipped by length, and every malformation stopping the walk with a typed error
// after the entries before it. Tables are handed over in heap buffers of exactly their size, so
// the sanitizer build turns any read past the end into a failure.
#include <doctest/doctest.h>

#include <smpboot/discovery/madt.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

using smpboot::Error;
using smpboot::Madt;
using smpboot::MadtChecksum;
using smpboot::MadtCpuEntry;
using smpboot::MadtSubtable;
namespace madt = smpboot::madt;

namespace {

void put_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// Emits the 44-byte MADT header (ACPI 5.2.6 system description header + Local Interrupt
// Controller Address + Flags) followed by the subtables, then fixes Length and Checksum.
class MadtBuilder {
 public:
  MadtBuilder& revision(uint8_t r) { revision_ = r; return *this; }
  MadtBuilder& local_apic_address(uint32_t a) { lapic_ = a; return *this; }
  MadtBuilder& flags(uint32_t f) { flags_ = f; return *this; }

  // 5.2.12.2 Processor Local APIC: type 0, length 8, UID8, APIC ID8, flags32.
  MadtBuilder& local_apic(uint8_t uid, uint8_t apic_id, uint32_t flags) {
    std::vector<uint8_t> s{0, 8, uid, apic_id};
    put_le32(s, flags);
    return raw(s);
  }
  // 5.2.12.12 Processor Local x2APIC: type 9, length 16, reserved16, x2APIC ID32, flags32, UID32.
  MadtBuilder& local_x2apic(uint32_t apic_id, uint32_t flags, uint32_t uid) {
    std::vector<uint8_t> s{9, 16, 0, 0};
    put_le32(s, apic_id);
    put_le32(s, flags);
    put_le32(s, uid);
    return raw(s);
  }
  // 5.2.12.8 Local APIC Address Override: type 5, length 12, reserved16, address64.
  MadtBuilder& address_override(uint64_t address) {
    std::vector<uint8_t> s{5, 12, 0, 0};
    put_le32(s, uint32_t(address));
    put_le32(s, uint32_t(address >> 32));
    return raw(s);
  }
  // 5.2.12.3 I/O APIC: type 1, length 12 (a type the walker does not decode).
  MadtBuilder& io_apic(uint8_t id, uint32_t address, uint32_t gsi_base) {
    std::vector<uint8_t> s{1, 12, id, 0};
    put_le32(s, address);
    put_le32(s, gsi_base);
    return raw(s);
  }
  // 5.2.12.19 Multiprocessor Wakeup: type 0x10, length 16 (version 0) or 24 (version 1),
  // MailboxVersion16, reserved32, MailboxAddress64 [, ResetVector64].
  MadtBuilder& mp_wakeup(uint16_t version, uint64_t mailbox, const uint64_t* reset = nullptr) {
    std::vector<uint8_t> s{0x10, uint8_t(reset ? 24 : 16), uint8_t(version), uint8_t(version >> 8)};
    put_le32(s, 0);
    put_le32(s, uint32_t(mailbox));
    put_le32(s, uint32_t(mailbox >> 32));
    if (reset) {
      put_le32(s, uint32_t(*reset));
      put_le32(s, uint32_t(*reset >> 32));
    }
    return raw(s);
  }
  MadtBuilder& raw(const std::vector<uint8_t>& bytes) {
    body_.insert(body_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> t{'A', 'P', 'I', 'C'};
    put_le32(t, 0);  // Length, fixed below
    t.push_back(revision_);
    t.push_back(0);  // Checksum, fixed below
    for (char ch : {'S', 'M', 'P', 'B', 'T', ' '}) t.push_back(uint8_t(ch));            // OEMID
    for (char ch : {'U', 'N', 'I', 'T', 'T', 'E', 'S', 'T'}) t.push_back(uint8_t(ch));  // OEM Table ID
    put_le32(t, 1);           // OEM Revision
    put_le32(t, 0x5445'5354); // Creator ID
    put_le32(t, 1);           // Creator Revision
    put_le32(t, lapic_);
    put_le32(t, flags_);
    t.insert(t.end(), body_.begin(), body_.end());
    const uint32_t length = uint32_t(t.size());
    for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(length >> (8 * i));
    fix_checksum(t);
    return t;
  }

  static void fix_checksum(std::vector<uint8_t>& t) {
    t[9] = 0;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < length_field(t); ++i) sum = uint8_t(sum + t[i]);
    t[9] = uint8_t(0x100 - sum);
  }
  static uint32_t length_field(const std::vector<uint8_t>& t) {
    return uint32_t{t[4]} | uint32_t{t[5]} << 8 | uint32_t{t[6]} << 16 | uint32_t{t[7]} << 24;
  }

 private:
  uint8_t revision_ = 5;
  uint32_t lapic_ = 0xFEE0'0000u;
  uint32_t flags_ = 1;  // PCAT_COMPAT
  std::vector<uint8_t> body_;
};

// A heap copy of exactly `bytes.size()` bytes: ASan reports any access past its end.
struct ExactBuffer {
  explicit ExactBuffer(const std::vector<uint8_t>& bytes)
      : size(bytes.size()), data(new uint8_t[bytes.size() ? bytes.size() : 1]) {
    if (size) std::memcpy(data.get(), bytes.data(), size);
  }
  size_t size;
  std::unique_ptr<uint8_t[]> data;
};

std::vector<MadtCpuEntry> cpus_of(const Madt& m, Error* walk_error = nullptr) {
  std::vector<MadtCpuEntry> out;
  const auto walk = m.for_each_cpu([&](const MadtCpuEntry& e) { out.push_back(e); });
  if (walk_error) *walk_error = walk.error();
  return out;
}

// Parses (checksum verified) and walks; the table must parse.
std::vector<MadtCpuEntry> walk(const std::vector<uint8_t>& table, Error* walk_error) {
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  return cpus_of(*m, walk_error);
}

}  // namespace

TEST_CASE("a well-formed MADT parses and exposes its header fields") {
  const auto table = MadtBuilder{}.revision(3).local_apic_address(0xFEE0'0000u).flags(1)
                         .local_apic(0, 0, 1).build();
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  CHECK(m->length() == 44 + 8);
  CHECK(m->revision() == 3);
  CHECK(m->flags() == 1);
  CHECK(m->local_apic_address() == 0xFEE0'0000u);
}

TEST_CASE("an MADT with no subtables is valid and has no CPUs") {
  const auto table = MadtBuilder{}.build();
  REQUIRE(table.size() == 44);
  Error err = Error::kIcrBusyTimeout;
  CHECK(walk(table, &err).empty());
  CHECK(err == Error::kNone);
}

TEST_CASE("type-0 entries decode an 8-bit UID and APIC ID and the 32-bit flags") {
  const auto table = MadtBuilder{}
                         .local_apic(0x00, 0x00, 1)
                         .local_apic(0x7F, 0xFE, 1)
                         .local_apic(0xFF, 0x12, 0xFFFF'FFFEu)
                         .build();
  Error err{};
  const auto cpus = walk(table, &err);
  CHECK(err == Error::kNone);
  REQUIRE(cpus.size() == 3);
  CHECK(cpus[1].type == 0);
  CHECK(cpus[1].uid.value == 0x7F);
  CHECK(cpus[1].apic_id.value == 0xFE);
  CHECK(cpus[1].flags == 1);
  CHECK(cpus[2].uid.value == 0xFF);
  CHECK(cpus[2].apic_id.value == 0x12);
  CHECK(cpus[2].flags == 0xFFFF'FFFEu);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(cpus[i].index == i);
    CHECK(cpus[i].offset == 44 + 8 * i);
  }
}

TEST_CASE("type-9 entries decode a 32-bit x2APIC ID and a 32-bit UID") {
  const auto table = MadtBuilder{}
                         .local_x2apic(0x0001'0000u, 1, 0x1234'5678u)
                         .local_x2apic(0xFFFF'FFFEu, 0, 0xFFFF'FFFFu)
                         .build();
  Error err{};
  const auto cpus = walk(table, &err);
  CHECK(err == Error::kNone);
  REQUIRE(cpus.size() == 2);
  CHECK(cpus[0].type == 9);
  CHECK(cpus[0].apic_id.value == 0x0001'0000u);
  CHECK(cpus[0].uid.value == 0x1234'5678u);
  CHECK(cpus[0].flags == 1);
  CHECK(cpus[0].offset == 44);
  CHECK(cpus[1].apic_id.value == 0xFFFF'FFFEu);
  CHECK(cpus[1].uid.value == 0xFFFF'FFFFu);
  CHECK(cpus[1].offset == 60);
}

TEST_CASE("Local APIC flags: bit 0 Enabled, bit 1 Online Capable (ACPI 6.5 table 5.23)") {
  const auto table = MadtBuilder{}
                         .local_apic(0, 0, 0b00)
                         .local_apic(1, 1, 0b01)
                         .local_apic(2, 2, 0b10)
                         .local_x2apic(0x300, 0b10, 3)
                         .build();
  Error err{};
  const auto cpus = walk(table, &err);
  REQUIRE(cpus.size() == 4);
  CHECK_FALSE(cpus[0].enabled());
  CHECK_FALSE(cpus[0].online_capable());
  CHECK(cpus[1].enabled());
  CHECK_FALSE(cpus[1].online_capable());
  CHECK_FALSE(cpus[2].enabled());
  CHECK(cpus[2].online_capable());
  CHECK(cpus[3].online_capable());
}

TEST_CASE("placeholder(): only a type-0 entry with APIC ID 0xFF") {
  const auto table = MadtBuilder{}.local_apic(9, 0xFF, 0).local_x2apic(0xFF, 1, 10).build();
  Error err{};
  const auto cpus = walk(table, &err);
  REQUIRE(cpus.size() == 2);
  CHECK(cpus[0].placeholder());
  CHECK_FALSE(cpus[1].placeholder());  // x2APIC ID 0xFF is a real CPU
}

TEST_CASE("unknown and non-CPU subtable types are skipped by their length") {
  const auto table = MadtBuilder{}
                         .local_apic(0, 0, 1)
                         .io_apic(2, 0xFEC0'0000u, 0)
                         .raw({2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0})  // interrupt source override
                         .raw({0x7F, 2})                           // unknown, minimal
                         .raw({0xFE, 5, 0xAA, 0xBB, 0xCC})         // unknown, odd length
                         .local_x2apic(0x100, 1, 1)
                         .build();
  struct Seen { uint8_t type; uint32_t offset, length; };
  std::vector<Seen> seen;
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  CHECK(m->for_each_subtable([&](const MadtSubtable& s) {
           seen.push_back({s.type(), s.offset(), s.length()});
         }).ok());
  REQUIRE(seen.size() == 6);
  const Seen want[] = {{0, 44, 8}, {1, 52, 12}, {2, 64, 10}, {0x7F, 74, 2}, {0xFE, 76, 5}, {9, 81, 16}};
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(seen[i].type == want[i].type);
    CHECK(seen[i].offset == want[i].offset);
    CHECK(seen[i].length == want[i].length);
  }
  const auto cpus = cpus_of(*m);
  REQUIRE(cpus.size() == 2);
  CHECK(cpus[1].type == 9);
  CHECK(cpus[1].index == 1);  // index counts CPU entries only
  CHECK(cpus[1].offset == 81);
  CHECK(cpus[1].apic_id.value == 0x100);
}

TEST_CASE("local_apic_phys: the header field unless a type-5 override gives 64 bits") {
  SUBCASE("no override") {
    const auto table = MadtBuilder{}.local_apic_address(0xFEE0'0000u).local_apic(0, 0, 1).build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->local_apic_phys() == 0xFEE0'0000u);
  }
  SUBCASE("override after the CPUs") {
    const auto table = MadtBuilder{}
                           .local_apic_address(0xFEE0'0000u)
                           .local_apic(0, 0, 1)
                           .address_override(0x0000'0010'FEE0'0000ull)
                           .build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->local_apic_address() == 0xFEE0'0000u);
    CHECK(m->local_apic_phys() == 0x0000'0010'FEE0'0000ull);
  }
}

TEST_CASE("parse rejects malformed headers with typed errors") {
  const auto good = MadtBuilder{}.local_apic(0, 0, 1).build();

  SUBCASE("null pointer") { CHECK(Madt::parse(nullptr, 100).error() == Error::kMadtTooShort); }
  SUBCASE("fewer than 44 bytes") {
    for (size_t n : {size_t{0}, size_t{4}, size_t{36}, size_t{43}}) {
      CAPTURE(n);
      ExactBuffer buf(std::vector<uint8_t>(good.begin(), good.begin() + long(n)));
      CHECK(Madt::parse(buf.data.get(), buf.size).error() == Error::kMadtTooShort);
    }
  }
  SUBCASE("bad signature") {
    for (const char* sig : {"APID", "FACP", "apic", "\0PIC"}) {
      CAPTURE(sig);
      auto t = good;
      std::memcpy(t.data(), sig, 4);
      MadtBuilder::fix_checksum(t);
      ExactBuffer buf(t);
      CHECK(Madt::parse(buf.data.get(), buf.size).error() == Error::kMadtBadSignature);
    }
  }
  SUBCASE("Length field larger than the buffer") {
    ExactBuffer buf(std::vector<uint8_t>(good.begin(), good.end() - 1));
    CHECK(Madt::parse(buf.data.get(), buf.size).error() == Error::kMadtLengthPastBuffer);
  }
  SUBCASE("Length field smaller than the 44-byte header") {
    auto t = good;
    t[4] = 40;
    ExactBuffer buf(t);
    CHECK(Madt::parse(buf.data.get(), buf.size, MadtChecksum::kIgnore).error() ==
          Error::kMadtTooShort);
  }
  SUBCASE("bad checksum, and MadtChecksum::kIgnore accepts it") {
    auto t = good;
    t[9] = uint8_t(t[9] + 1);
    ExactBuffer buf(t);
    CHECK(Madt::parse(buf.data.get(), buf.size).error() == Error::kMadtBadChecksum);
    auto m = Madt::parse(buf.data.get(), buf.size, MadtChecksum::kIgnore);
    REQUIRE(m.ok());
    CHECK(cpus_of(*m).size() == 1);
  }
}

TEST_CASE("the checksum covers every byte of the table") {
  // ACPI 5.2.6: the entire table, including the checksum field, must add to zero.
  const auto good = MadtBuilder{}.local_apic(1, 2, 1).local_x2apic(0x300, 1, 4).build();
  for (size_t i = 10; i < good.size(); ++i) {
    CAPTURE(i);
    auto t = good;
    t[i] ^= 0x01;
    ExactBuffer buf(t);
    CHECK(Madt::parse(buf.data.get(), buf.size).error() == Error::kMadtBadChecksum);
  }
}

TEST_CASE("malformed subtables stop the walk with a typed error after the entries before them") {
  // Each table starts with two good CPUs; the third subtable is broken. Where the broken one
  // leaves room, a good CPU entry follows it: the walk must not resynchronise onto it.
  const auto prefix = [] { return MadtBuilder{}.local_apic(0, 0, 1).local_x2apic(0x100, 1, 1); };
  const std::vector<uint8_t> good_cpu{0, 8, 9, 9, 1, 0, 0, 0};
  struct Case { const char* what; std::vector<uint8_t> tail; bool then_good_cpu; Error error; };
  const Case cases[] = {
      {"zero-length subtable (would never advance)", {0, 0}, true, Error::kMadtSubtableTooShort},
      {"length 1", {0x7F, 1}, true, Error::kMadtSubtableTooShort},
      {"subtable runs past the end", {0, 16, 2, 2, 1, 0, 0, 0}, false, Error::kMadtSubtablePastEnd},
      {"trailing single byte", {0}, false, Error::kMadtSubtablePastEnd},
      {"type 0 with length 6", {0, 6, 2, 2, 1, 0}, true, Error::kMadtSubtableTooShort},
      {"type 9 with length 12", {9, 12, 0, 0, 2, 2, 0, 0, 1, 0, 0, 0}, true,
       Error::kMadtSubtableTooShort},
      {"type 5 with length 8", {5, 8, 0, 0, 0, 0, 0xE0, 0xFE}, true, Error::kMadtSubtableTooShort},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    auto builder = prefix().raw(c.tail);
    if (c.then_good_cpu) builder.raw(good_cpu);
    const auto table = builder.build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    Error err{};
    const auto cpus = cpus_of(*m, &err);
    CHECK(err == c.error);
    REQUIRE(cpus.size() == 2);
    CHECK(cpus[0].apic_id.value == 0);
    CHECK(cpus[1].apic_id.value == 0x100);
    // for_each_subtable agrees, and local_apic_phys still answers.
    uint32_t visited = 0;
    CHECK(m->for_each_subtable([&](const MadtSubtable&) { ++visited; }).error() == c.error);
    CHECK(visited == 2);
    CHECK(m->local_apic_phys() == 0xFEE0'0000u);
  }
}

TEST_CASE("the walker never looks past the table's Length") {
  // A valid CPU entry sits right after the table in memory; it must never be reported.
  const auto table = MadtBuilder{}.local_apic(0, 0, 1).build();
  std::vector<uint8_t> memory = table;
  const std::vector<uint8_t> lure{0, 8, 0x55, 0x55, 1, 0, 0, 0};
  memory.insert(memory.end(), lure.begin(), lure.end());

  SUBCASE("buffer larger than Length: only Length bytes are walked") {
    ExactBuffer buf(memory);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->length() == table.size());
    Error err{};
    const auto cpus = cpus_of(*m, &err);
    CHECK(err == Error::kNone);
    CHECK(cpus.size() == 1);
  }
  SUBCASE("a subtable that claims the bytes beyond the end is refused, not followed") {
    auto t = table;
    t[44 + 1] = 16;  // the first subtable now claims 8 bytes past Length
    MadtBuilder::fix_checksum(t);
    std::vector<uint8_t> mem = t;
    mem.insert(mem.end(), lure.begin(), lure.end());
    ExactBuffer buf(mem);
    auto m = Madt::parse(buf.data.get(), t.size());  // size = exact length; lure beyond it
    REQUIRE(m.ok());
    Error err{};
    CHECK(cpus_of(*m, &err).empty());
    CHECK(err == Error::kMadtSubtablePastEnd);
  }
}

TEST_CASE("every truncation of a table is handled inside its exact-size buffer") {
  // Truncate a table at every byte and rewrite Length to match, then walk: each walk must end
  // (cleanly or with a typed error) without touching memory past the buffer (ASan build).
  const auto full = MadtBuilder{}
                        .local_apic(0, 0, 1)
                        .io_apic(1, 0xFEC0'0000u, 0)
                        .local_x2apic(0x100, 1, 1)
                        .address_override(0xFEE0'0000ull)
                        .build();
  for (size_t n = 44; n <= full.size(); ++n) {
    CAPTURE(n);
    std::vector<uint8_t> t(full.begin(), full.begin() + long(n));
    for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(n >> (8 * i));
    MadtBuilder::fix_checksum(t);
    ExactBuffer buf(t);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    Error err{};
    const auto cpus = cpus_of(*m, &err);
    CHECK(cpus.size() <= 2);
    (void)m->local_apic_phys();
  }
}

TEST_CASE("salvage accepts a bad checksum and clips a Length past the buffer") {
  auto t = MadtBuilder{}.local_apic(0, 0, 1).local_apic(1, 1, 1).build();
  t[9] = uint8_t(t[9] + 1);
  SUBCASE("bad checksum") {
    ExactBuffer buf(t);
    auto m = Madt::salvage(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(cpus_of(*m).size() == 2);
  }
  SUBCASE("Length past the buffer: only the bytes that exist are walked") {
    ExactBuffer buf(std::vector<uint8_t>(t.begin(), t.end() - 4));
    auto m = Madt::salvage(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->length() == buf.size);
    Error err{};
    CHECK(cpus_of(*m, &err).size() == 1);
    CHECK(err == Error::kMadtSubtablePastEnd);
  }
  SUBCASE("still refuses a short buffer and a bad signature") {
    ExactBuffer short_buf(std::vector<uint8_t>(t.begin(), t.begin() + 43));
    CHECK(Madt::salvage(short_buf.data.get(), short_buf.size).error() == Error::kMadtTooShort);
    auto bad = t;
    bad[0] = 'X';
    ExactBuffer bad_buf(bad);
    CHECK(Madt::salvage(bad_buf.data.get(), bad_buf.size).error() == Error::kMadtBadSignature);
  }
}

// --- Subtable bytes for the kernel's own entries -------------------------------------------

namespace {

// tests/data/madt/desktop__dell__optiplex-3080__0B33085DFA99.apic.dat, byte for byte (the unit tests read no files): eight Local APICs with
// their NMI entries, one I/O APIC (type 1, ACPI 6.5 5.2.12.3 "I/O APIC Structure": ID at byte
// 2, address at 4, global system interrupt base at 8), and interrupt source overrides.
constexpr uint8_t kOptiplex3080Madt[] = {
    0x41, 0x50, 0x49, 0x43, 0xBC, 0x00, 0x00, 0x00, 0x04, 0x05, 0x44, 0x45,
    0x4C, 0x4C, 0x20, 0x20, 0x43, 0x42, 0x58, 0x33, 0x20, 0x20, 0x20, 0x00,
    0x09, 0x20, 0x07, 0x01, 0x41, 0x4D, 0x49, 0x20, 0x13, 0x00, 0x01, 0x00,
    0x00, 0x00, 0xE0, 0xFE, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x01, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0x01, 0x05, 0x00, 0x01, 0x00, 0x08,
    0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0x02, 0x05, 0x00, 0x01,
    0x00, 0x08, 0x03, 0x04, 0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0x03, 0x05,
    0x00, 0x01, 0x00, 0x08, 0x04, 0x06, 0x01, 0x00, 0x00, 0x00, 0x04, 0x06,
    0x04, 0x05, 0x00, 0x01, 0x00, 0x08, 0x05, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x04, 0x06, 0x05, 0x05, 0x00, 0x01, 0x00, 0x08, 0x06, 0x03, 0x01, 0x00,
    0x00, 0x00, 0x04, 0x06, 0x06, 0x05, 0x00, 0x01, 0x00, 0x08, 0x07, 0x05,
    0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0x07, 0x05, 0x00, 0x01, 0x00, 0x08,
    0x08, 0x07, 0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0x08, 0x05, 0x00, 0x01,
    0x01, 0x0C, 0x02, 0x00, 0x00, 0x00, 0xC0, 0xFE, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x0A, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0A,
    0x00, 0x09, 0x09, 0x00, 0x00, 0x00, 0x0D, 0x00,
};

struct IoApic {
  uint8_t id;
  uint32_t address;
  uint32_t gsi_base;
};

}  // namespace

TEST_CASE("the walker hands each subtable's bytes over: a real table's I/O APIC, in the same walk as its CPUs") {
  static_assert(sizeof kOptiplex3080Madt == 188);
  auto m = Madt::parse(kOptiplex3080Madt, sizeof kOptiplex3080Madt, MadtChecksum::kIgnore);
  REQUIRE(m.ok());
  std::vector<IoApic> io_apics;
  uint32_t local_apics = 0, overrides = 0;
  const auto walk = m->for_each_subtable([&](const MadtSubtable& s) {
    // Every view lies inside the table, and starts with its own type and length.
    CHECK(s.bytes() == kOptiplex3080Madt + s.offset());
    CHECK(s.offset() + s.length() <= sizeof kOptiplex3080Madt);
    CHECK(s.bytes()[0] == s.type());
    CHECK(s.bytes()[1] == s.length());
    if (s.type() == uint8_t(madt::SubtableType::kLocalApic)) ++local_apics;
    if (s.type() == uint8_t(madt::SubtableType::kInterruptSourceOverride)) ++overrides;
    if (s.type() != uint8_t(madt::SubtableType::kIoApic)) return;
    auto id = s.read_u8(2);
    auto address = s.read_le32(4);
    auto gsi = s.read_le32(8);
    REQUIRE((id.ok() && address.ok() && gsi.ok()));
    io_apics.push_back({*id, *address, *gsi});
    // Reads stop at the subtable's end (12 bytes), not at the table's.
    CHECK(s.read_le32(8).ok());
    CHECK(s.read_le32(9).error() == Error::kMadtSubtableTooShort);
    CHECK(s.read_le64(8).error() == Error::kMadtSubtableTooShort);
    CHECK(s.read_u8(12).error() == Error::kMadtSubtableTooShort);
    CHECK(s.read_le16(0xFFFF'FFFFu).error() == Error::kMadtSubtableTooShort);
  });
  CHECK(walk.ok());
  CHECK(local_apics == 8);
  CHECK(overrides >= 1);
  REQUIRE(io_apics.size() == 1);  // the .dsl: I/O Apic ID 02, Address FEC00000, Interrupt 0
  CHECK(io_apics[0].id == 2);
  CHECK(io_apics[0].address == 0xFEC0'0000u);
  CHECK(io_apics[0].gsi_base == 0);
}

TEST_CASE("a subtable view's reads are bounded by its length byte") {
  const auto table = MadtBuilder()
                         .raw({1, 6, 0x11, 0, 0x78, 0x56})  // an I/O APIC cut short at 6 bytes
                         .local_apic(0, 0, 1)
                         .build();
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  uint32_t seen = 0;
  CHECK(m->for_each_subtable([&](const MadtSubtable& s) {
           if (s.type() != 1) return;
           ++seen;
           CHECK(s.length() == 6);
           CHECK(*s.read_u8(2) == 0x11);
           CHECK(*s.read_le16(4) == 0x5678);
           CHECK(s.contains(2, 4));
           CHECK_FALSE(s.contains(4, 4));
           CHECK(s.read_le32(4).error() == Error::kMadtSubtableTooShort);
         }).ok());
  CHECK(seen == 1);
}

TEST_CASE("type 0x10: the Multiprocessor Wakeup Structure, version 0 (ACPI 6.4 5.2.12.19)") {
  const auto table = MadtBuilder{}.local_apic(0, 0, 1).mp_wakeup(0, 0x1'2345'6000ull)
                         .local_apic(1, 1, 1).build();
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  auto w = m->multiprocessor_wakeup();
  REQUIRE(w.ok());
  CHECK(w->offset == 44 + 8);
  CHECK(w->mailbox_version == 0);
  CHECK(w->mailbox_phys == 0x1'2345'6000ull);
  CHECK(w->reset_vector_phys == 0);
  CHECK_FALSE(w->has_reset_vector());
  Error e = Error::kNone;
  CHECK(cpus_of(*m, &e).size() == 2);  // the CPU walk skips it
  CHECK(e == Error::kNone);
}

TEST_CASE("type 0x10 version 1 carries the reset vector at byte 16") {
  const uint64_t reset = 0x7FFF'E000ull;
  const auto table = MadtBuilder{}.mp_wakeup(1, 0x7FFF'F000ull, &reset).build();
  ExactBuffer buf(table);
  auto m = Madt::parse(buf.data.get(), buf.size);
  REQUIRE(m.ok());
  auto w = m->multiprocessor_wakeup();
  REQUIRE(w.ok());
  CHECK(w->mailbox_version == 1);
  CHECK(w->mailbox_phys == 0x7FFF'F000ull);
  CHECK(w->reset_vector_phys == reset);
  CHECK(w->has_reset_vector());
}

TEST_CASE("type 0x10: absent, too short, version 1 without its vector, past the end") {
  {
    const auto table = MadtBuilder{}.local_apic(0, 0, 1).build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->multiprocessor_wakeup().error() == Error::kAcpiTableNotFound);
  }
  {  // 12 bytes: shorter than the 16 every version has; the walk stops there
    const auto table = MadtBuilder{}.local_apic(0, 0, 1)
                           .raw({0x10, 12, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0}).build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->multiprocessor_wakeup().error() == Error::kMadtSubtableTooShort);
    Error e = Error::kNone;
    CHECK(cpus_of(*m, &e).size() == 1);
    CHECK(e == Error::kMadtSubtableTooShort);
  }
  {  // version 1 in the 16-byte version-0 layout: refused, not a zero reset vector
    const auto table = MadtBuilder{}.mp_wakeup(1, 0x8000'0000ull).build();
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->multiprocessor_wakeup().error() == Error::kMadtSubtableTooShort);
  }
  {  // a length byte that runs past the table: the walker's error, inside the exact buffer
    auto table = MadtBuilder{}.mp_wakeup(0, 0x8000'0000ull).build();
    table.resize(table.size() - 4);
    const uint32_t length = uint32_t(table.size());
    for (int i = 0; i < 4; ++i) table[4 + i] = uint8_t(length >> (8 * i));
    MadtBuilder::fix_checksum(table);
    ExactBuffer buf(table);
    auto m = Madt::parse(buf.data.get(), buf.size);
    REQUIRE(m.ok());
    CHECK(m->multiprocessor_wakeup().error() == Error::kMadtSubtablePastEnd);
  }
  {  // the view itself: version and address at their offsets
    const uint8_t bytes[16] = {0x10, 16, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0xF0, 0xFF, 0x7F, 0, 0, 0, 0};
    const madt::MultiprocessorWakeupEntry e{bytes};
    CHECK(e.mailbox_version() == 1);
    CHECK(e.mailbox_address() == 0x7FFF'F000ull);
  }
}
