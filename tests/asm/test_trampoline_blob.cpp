// The assembled trampoline as the BSP sees it: its parameter block carries this build's magic,
// layout version and size; install_trampoline relocates it for its page and fills the table
// pointers; and a blob from another layout version is refused before anyone is woken.
#include <doctest/doctest.h>

#include <smpboot/boot/trampoline.hpp>
#include <smpboot/boot/mailbox.hpp>
#include <smpboot/testing/fakes.hpp>

#include <algorithm>
#include <initializer_list>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

using namespace smpboot;

namespace {
std::vector<uint8_t> blob() {
  std::ifstream in(SMPBOOT_TRAMPOLINE_BIN, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
TrampolineParams params_at(const uint8_t* page) {
  TrampolineParams p{};
  std::memcpy(&p, page + kTrampolineParamsOffset, kTrampolineParamsBytes);
  return p;
}
}  // namespace

TEST_CASE("the assembled trampoline matches the C++ layout and fits one page") {
  const auto b = blob();
  REQUIRE(b.size() > kTrampolineParamsOffset + kTrampolineParamsBytes);
  CHECK(b.size() <= kTrampolineMaxSize);
  CHECK(b[0] == 0xE9);  // jmp near over the parameter block
  auto p = read_trampoline_params(b.data(), b.size());
  REQUIRE(p.ok());
  CHECK(p->magic == kTrampolineMagic);
  CHECK(p->layout_version == kBootLayoutVersion);
  CHECK(p->blob_size == b.size());
  CHECK(p->pm32_selector == 0x08);
  CHECK(p->lm64_selector == 0x18);
  CHECK(p->gdt_limit == 4 * 8 - 1);
  CHECK(p->pm32_offset < b.size());
  CHECK(p->lm64_offset < b.size());
  CHECK(p->gdt_offset + 32 <= b.size());
  // The mailbox entry: inside the blob, and bytes 70-79 a 64-bit GDTR (high base half 0).
  CHECK(p->mailbox64_offset > p->lm64_offset);
  CHECK(p->mailbox64_offset < b.size());
  CHECK(p->gdt_base_high == 0);
  // The blob's GDT: null, 32-bit code, data, 64-bit code (L bit 53 set).
  uint64_t gdt[4];
  std::memcpy(gdt, b.data() + p->gdt_offset, sizeof gdt);
  CHECK(gdt[0] == 0);
  CHECK((gdt[3] >> 53 & 1) == 1);
}

TEST_CASE("install_trampoline relocates the blob for its page and fills the parameters") {
  const auto b = blob();
  auto table = std::make_unique<CpuTable<64>>();
  REQUIRE(table->add(ApicId{0}).ok());
  std::vector<uint8_t> page(4096, 0xEE);
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  setup.x2apic = true;
  setup.nxe = true;
  setup.id_source = TrampolineIdSource::kCpuidChain;
  setup.table_phys = 0x20'0000;
  setup.stop_index = 3;
  setup.stop_stage = BootStage::kLong;
  auto start = install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table);
  REQUIRE(start.ok());
  CHECK(start->vector() == 0x08);
  const auto orig = params_at(b.data());
  const auto p = params_at(page.data());
  CHECK(p.page_phys == 0x8000);
  CHECK(p.cr3 == 0x1000);
  CHECK(p.flags == (kTrampolineX2Apic | kTrampolineNxe));
  CHECK(p.id_source == uint32_t(TrampolineIdSource::kCpuidChain));
  CHECK(p.slot_bits == CpuTable<64>::kSlotBits);
  CHECK(p.slots == reinterpret_cast<uint64_t>(table->slots()));
  CHECK(p.records == reinterpret_cast<uint64_t>(table->records()));
  CHECK(p.record_size == sizeof(CpuRecord));
  // The table as the AP sees it with paging off: the same offsets from table_phys.
  const uint64_t table_virt = reinterpret_cast<uint64_t>(table.get());
  CHECK(p.slots_phys == 0x20'0000 + (p.slots - table_virt));
  CHECK(p.records_phys == 0x20'0000 + (p.records - table_virt));
  CHECK(p.stop_index == 3);
  CHECK(p.stop_stage == uint32_t(BootStage::kLong));
  CHECK(p.pm32_offset == orig.pm32_offset + 0x8000);
  CHECK(p.lm64_offset == orig.lm64_offset + 0x8000);
  CHECK(p.gdt_offset == orig.gdt_offset + 0x8000);
  // Code bytes outside the parameter block are copied unchanged.
  CHECK(std::memcmp(page.data() + 200, b.data() + 200, b.size() - 200) == 0);
}

TEST_CASE("a blob from another layout, or a bad page or CR3, is refused") {
  auto b = blob();
  auto table = std::make_unique<CpuTable<4>>();
  std::vector<uint8_t> page(4096);
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  SUBCASE("layout version") {
    b[kTrampolineParamsOffset + 4] ^= 0xFF;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("magic") {
    b[kTrampolineParamsOffset] ^= 0xFF;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("truncated blob") {
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size() - 1, setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("start page above 1 MiB") {
    CHECK(install_trampoline(page.data(), 0x100000, b.data(), b.size(), setup, *table).error() ==
          Error::kInvalidStartPage);
  }
  SUBCASE("no page tables, or a root that is not a page") {
    for (uint64_t cr3 : {uint64_t{0}, uint64_t{0x1008}, uint64_t{0x1'0000'0800}}) {
      CAPTURE(cr3);
      setup.cr3 = cr3;
      CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
            Error::kBadPageTableRoot);
    }
  }
  // The AP loads CR3 and reads the xAPIC ID and the table in 32-bit code: an address above
  // 4 GiB would be cut to its low half, silently.
  SUBCASE("page-table root above 4 GiB") {
    setup.cr3 = 0x1'0000'1000;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kPageTableAbove4G);
  }
  SUBCASE("xAPIC base above 4 GiB (x2APIC mode reads an MSR instead: accepted)") {
    setup.xapic_base_phys = 0x1'FEE0'0000;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kApicBaseAbove4G);
    setup.x2apic = true;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).ok());
  }
  SUBCASE("table above 4 GiB") {
    setup.table_phys = 0xFFFF'FF00;  // starts below 4 GiB, ends above it
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kTableAbove4G);
  }
}

namespace {
bool contains(const std::vector<uint8_t>& hay, std::initializer_list<uint8_t> needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
}  // namespace

// Real-hardware rules TCG and Bochs never enforce, pinned on the assembled bytes.
TEST_CASE("the trampoline asks CPUID for NX before it sets EFER.NXE, and clears CD and NW") {
  const auto b = blob();
  // mov eax, 8000_0001H and bt edx, 20: the NX check (SDM Vol. 3A 2.2.1; a WRMSR of NXE on a
  // CPU without NX is a #GP, with no IDT a triple fault).
  CHECK(contains(b, {0xB8, 0x01, 0x00, 0x00, 0x80}));
  CHECK(contains(b, {0x0F, 0xBA, 0xE2, 20}));
  // and eax, 9FFF_FFFFH in 16-bit code (66 25 imm32): CR0.CD and NW off (INIT sets both).
  CHECK(contains(b, {0x66, 0x25, 0xFF, 0xFF, 0xFF, 0x9F}));
}

TEST_CASE("the trampoline fails its own record with a one-byte store of kApicIdMismatch") {
  // CpuRecord::error is one byte (an Error): mov byte [rdx + CPU_ERROR], ERROR_APIC_ID_MISMATCH
  // (C6 42 disp8 imm8). A dword store would clear the three bytes after it.
  static_assert(sizeof(CpuRecord::error) == 1 && offsetof(CpuRecord, error) < 0x80);
  const auto b = blob();
  CHECK(contains(b, {0xC6, 0x42, uint8_t(offsetof(CpuRecord, error)),
                     uint8_t(Error::kApicIdMismatch)}));
  CHECK_FALSE(contains(b, {0xC7, 0x42, uint8_t(offsetof(CpuRecord, error))}));
}

TEST_CASE("trampoline_setup_like_bsp copies the BSP's EFER.NXE, APIC mode and xAPIC base") {
  testing::FakeMsrState state;
  testing::FakeMsr msr{state};
  state.set(msr::kIa32ApicBase, 0xFEC0'0000 | ApicBase::kEnableBit | ApicBase::kBspBit);
  SUBCASE("NXE off: the APs leave it off") {
    state.set(msr::kIa32Efer, 0x501);  // SCE, LME, LMA
    const TrampolineSetup s = trampoline_setup_like_bsp(msr, 0x1000);
    CHECK_FALSE(s.nxe);
    CHECK_FALSE(s.x2apic);
    CHECK(s.xapic_base_phys == 0xFEC0'0000);
    CHECK(s.cr3 == 0x1000);
  }
  SUBCASE("NXE and x2APIC on") {
    state.set(msr::kIa32Efer, 0xD01);
    state.set(msr::kIa32ApicBase, 0xFEE0'0000 | ApicBase::kEnableBit | ApicBase::kExtdBit);
    const TrampolineSetup s = trampoline_setup_like_bsp(msr, 0x1000);
    CHECK(s.nxe);
    CHECK(s.x2apic);
  }
  CHECK_FALSE(TrampolineSetup{}.nxe);  // never set blindly
}

TEST_CASE("the mailbox entry: cli first, finds its page RIP-relatively, far-jumps with m16:32") {
  const auto b = blob();
  auto p = read_trampoline_params(b.data(), b.size());
  REQUIRE(p.ok());
  const uint8_t* e = b.data() + p->mailbox64_offset;
  CHECK(e[0] == 0xFA);  // cli
  CHECK(e[1] == 0xFC);  // cld
  // lea rbp, [rip + disp32] whose target is the blob's start (RIP after it = offset + 9).
  REQUIRE((e[2] == 0x48 && e[3] == 0x8D && e[4] == 0x2D));
  int32_t disp;
  std::memcpy(&disp, e + 5, 4);
  CHECK(int64_t(p->mailbox64_offset) + 9 + disp == 0);
  // The far jump to lm64_entry: FF /5 without REX.W (m16:32, which AMD CPUs have too),
  // through the relocated far pointer at the parameter block's lm64_offset.
  const uint8_t jmp[] = {0xFF, 0xAD};
  const auto it = std::search(b.begin() + p->mailbox64_offset, b.end(), std::begin(jmp), std::end(jmp));
  REQUIRE(it != b.end());
  CHECK(*(it - 1) != 0x48);
  int32_t at;
  std::memcpy(&at, &*(it + 2), 4);
  CHECK(uint32_t(at) == kTrampolineParamsOffset + offsetof(TrampolineParams, lm64_offset));
  // install_trampoline relocates the 32-bit GDT base; the high half stays 0 in the page.
  auto table = std::make_unique<CpuTable<8>>();
  std::vector<uint8_t> page(4096, 0xEE);
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  REQUIRE(install_trampoline(page.data(), 0x9000, b.data(), b.size(), setup, *table).ok());
  auto v = mailbox_wakeup_vector(page.data());
  REQUIRE(v.ok());
  CHECK(*v == 0x9000 + p->mailbox64_offset);
  uint64_t gdt64_base;
  std::memcpy(&gdt64_base, page.data() + kTrampolineParamsOffset + offsetof(TrampolineParams, gdt_offset), 8);
  CHECK(gdt64_base == 0x9000 + p->gdt_offset);
}
