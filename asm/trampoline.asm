; smpboot AP trampoline: real mode -> protected mode -> long mode -> C++.
;
; The BSP copies this flat blob to a 4 KiB page below 1 MiB and sends STARTUP IPIs with that
; page as the vector. An AP starts here in real mode with CS = page >> 4, IP = 0 (Intel SDM
; Vol. 3A 9.4.4.1 "Typical BSP Initialization Sequence"; the AP's state after INIT/SIPI is in
; "Processor State After Reset"). It switches to long mode the way SDM 10.8.5
; "Initializing IA-32e Mode" describes, finds its own APIC ID, looks its record up in the CPU
; table, switches to that record's stack and only then calls the record's C++ entry.
;
; Rules that make parallel bringup safe: the AP writes nothing in this page and uses no stack
; until it is on its own; every absolute address it needs was relocated by the BSP (the
; parameter block). An AP whose ID is not in the table parks (cli; hlt), touching nothing.
; The only stores it makes before its stack are to its own record: the BootStage it reached
; (protected, long), so the BSP can say where a failed AP stopped, and with the CPUID ID source
; the failure of its own record when CPUID names another CPU than its APIC ID register does
; (firmware renumbered the APIC IDs): it then parks instead of running on someone else's stack.
;
; Every number this file shares with C++ comes from the generated smpboot_layout.inc
; (asm/asm_offsets.cpp): the parameter block and CPU record layout from
; include/smpboot/boot/trampoline_layout.hpp and percpu/, and the MSR numbers, register bits
; and CPUID leaves from include/smpboot/hw/. The assertions at the end fail the build on any
; layout mismatch. Only the blob's own GDT selectors are defined here.

%include "smpboot_layout.inc"

GDT_CODE32 equ 0x08
GDT_DATA   equ 0x10
GDT_CODE64 equ 0x18

; Finds the table index of an APIC ID with the same open-addressing probe as CpuTable::find,
; in 32- or 64-bit code. %1 slot array base, %2 the ID (32-bit register), %3 the register
; holding the parameter block's address, %4 the slot register as an address index (eax or
; rax), %5 where to go when the ID is not in the table. Out: edx = index. Clobbers eax, ecx.
; A slot is (index + SLOT_INDEX_BIAS) << 32 | APIC ID; a zero high dword is an empty slot, and
; is tested before the ID because the ID dword of an empty slot (0) is a real CPU's ID.
%macro FIND_INDEX 5
    mov ecx, [%3 + p_slot_bits]
    mov edx, 1
    shl edx, cl                     ; probe budget: every slot once
    neg ecx
    add ecx, 32                     ; cl = 32 - slot_bits: shl+shr by it keeps the slot bits
    imul eax, %2, SLOT_HASH_MULTIPLIER
    shr eax, cl                     ; home slot
%%probe:
    cmp dword [%1 + %4 * 8 + 4], SLOT_EMPTY_INDEX
    je %5
    cmp [%1 + %4 * 8], %2
    je %%found
    inc eax
    shl eax, cl
    shr eax, cl
    dec edx
    jnz %%probe
    jmp %5
%%found:
    mov edx, [%1 + %4 * 8 + 4]      ; high half of the slot: the CPU index + SLOT_INDEX_BIAS
    sub edx, SLOT_INDEX_BIAS
%endmacro

; Who am I? Out: esi = the APIC ID register (always: the cross-check needs it), edi = the ID
; to look the record up by (the register, or the CPUID chain). In 32- or 64-bit code, with ebp
; = this page's physical base; %1 is where to park. In xAPIC mode the ID register is read at
; the physical address of IA32_APIC_BASE: with paging off (STARTUP) or through the kernel's
; page tables, which must identity-map it (mailbox entry). Clobbers eax, ebx, ecx, edx.
%macro WHO_AM_I 1
    mov ecx, MSR_IA32_APIC_BASE
    rdmsr
    test dword [ebp + p_flags], TRAMPOLINE_FLAG_X2APIC
    jz %%xapic
    ; INIT puts the APIC back in xAPIC mode (seen in Bochs; SDM 11.12.5.1), so every AP
    ; turns x2APIC on for itself. xAPIC -> x2APIC is a legal single write.
    test eax, APIC_BASE_EXTD
    jnz %%x2apic_on
    or eax, APIC_BASE_EN | APIC_BASE_EXTD
    wrmsr
%%x2apic_on:
    mov ecx, X2APIC_ID_MSR
    rdmsr
    mov esi, eax
    jmp %%have_register_id
%%xapic:
    test edx, edx                   ; base above 4 GiB: not reachable with paging off (the BSP
    jnz %1                          ; refuses that setup: kApicBaseAbove4G)
    and eax, APIC_BASE_ADDRESS_MASK & 0xFFFFFFFF
    mov esi, [eax + XAPIC_ID_OFFSET]
    shr esi, XAPIC_ID_SHIFT
%%have_register_id:
    mov edi, esi
    cmp dword [ebp + p_id_source], ID_SOURCE_CPUID_CHAIN
    jne %%have_id
    ; The CPUID chain: 1FH, then 0BH (32-bit x2APIC ID), then 01H (8-bit).
    mov eax, CPUID_LEAF_MAX_BASIC
    cpuid
    cmp eax, CPUID_LEAF_TOPOLOGY_V2
    jb %%try_0b
    mov eax, CPUID_LEAF_TOPOLOGY_V2
    xor ecx, ecx
    cpuid
    test bx, bx                     ; EBX[15:0] = 0: leaf not valid
    jz %%try_0b
    mov edi, edx
    jmp %%have_id
%%try_0b:
    mov eax, CPUID_LEAF_MAX_BASIC
    cpuid
    cmp eax, CPUID_LEAF_TOPOLOGY
    jb %%leaf01
    mov eax, CPUID_LEAF_TOPOLOGY
    xor ecx, ecx
    cpuid
    test bx, bx
    jz %%leaf01
    mov edi, edx
    jmp %%have_id
%%leaf01:
    mov eax, CPUID_LEAF_FEATURES
    cpuid
    mov edi, ebx
    shr edi, CPUID_01_EBX_INITIAL_APIC_ID_SHIFT

%%have_id:
%endmacro

; EFER.NXE when the BSP asked for it (TRAMPOLINE_FLAG_NXE), in 32- or 64-bit code with ebp =
; this page's base. Clobbers eax, ecx, edx (and ebx: CPUID).
%macro SET_NXE 0
    ; NXE only where the CPU has NX: writing EFER.NXE without it is a #GP, and with no IDT
    ; yet a triple fault (SDM Vol. 3A 2.2.1 "Extended Feature Enable Register"; firmware can
    ; hide NX with the XD-disable setting).
    test dword [ebp + p_flags], TRAMPOLINE_FLAG_NXE
    jz %%done
    mov eax, CPUID_LEAF_MAX_EXTENDED
    cpuid
    cmp eax, CPUID_LEAF_EXT_FEATURES
    jb %%done
    mov eax, CPUID_LEAF_EXT_FEATURES
    cpuid
    bt edx, CPUID_80000001_EDX_NX_BIT ; execute-disable exists
    jnc %%done
    mov ecx, MSR_IA32_EFER
    rdmsr
    or eax, EFER_NXE
    wrmsr
%%done:
%endmacro

bits 16
org 0

blob_start:
    jmp near real_mode_entry
    times TRAMPOLINE_PARAMS_OFFSET - ($ - blob_start) db 0xCC

params:
p_magic:        dd TRAMPOLINE_MAGIC
p_version:      dd BOOT_LAYOUT_VERSION
p_blob_size:    dd blob_end - blob_start
p_page_phys:    dd 0
p_cr3:          dd 0
p_flags:        dd 0
p_id_source:    dd 0
p_slot_bits:    dd 0
p_slots:        dq 0
p_records:      dq 0
p_record_size:  dq 0
p_pm32:         dd pm32_entry - blob_start      ; far pointer m16:32, relocated by the BSP
                dw GDT_CODE32
                dw 0
p_lm64:         dd lm64_entry - blob_start      ; far pointer m16:32, relocated by the BSP
                dw GDT_CODE64
p_gdtr:         dw gdt_end - gdt - 1            ; GDTR image: limit, then base
                dd gdt - blob_start             ; relocated by the BSP
p_gdt_base_high: dd 0                           ; 64-bit GDTR: the base's high half
p_slots_phys:   dd 0
p_records_phys: dd 0
p_stop_index:   dd TRAMPOLINE_NO_STOP
p_stop_stage:   dd 0
p_mailbox64:    dd mailbox64_entry - blob_start ; page-relative, never relocated
params_end:
    align 8, db 0

real_mode_entry:
    cli
    cld
    mov ax, cs
    mov ds, ax
    xor ebp, ebp
    mov bp, ax
    shl ebp, 4                      ; ebp = physical base of this page, kept until long mode

    o32 lgdt [p_gdtr]               ; 32-bit base: the GDT lies below 1 MiB in this page
    ; INIT leaves CR0 = 6000_0010H: CD and NW set, caches off (SDM Vol. 3A 10.1.1 "Processor
    ; State After Reset"). Emulators ignore them; on hardware an AP would run the kernel
    ; uncached. Clear both on the way into protected mode (the caches were invalidated by INIT).
    mov eax, cr0
    and eax, ~(CR0_CD | CR0_NW) & 0xFFFFFFFF
    or eax, CR0_PE
    mov cr0, eax
    o32 jmp far [p_pm32]

bits 32
pm32_entry:
    mov ax, GDT_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax

    WHO_AM_I park32

.have_id:
    ; --- Stage "protected" in our record, if the BSP made the table reachable with paging
    ; off. Not when the IDs disagree: that record may be another CPU's (long mode sorts it out).
    cmp esi, edi
    jne .long_mode
    cmp edi, X2APIC_BROADCAST_ID    ; never a CPU (junk CPUID/MSR): as in long mode, park
    je park32
    mov ebx, [ebp + p_slots_phys]
    test ebx, ebx
    jz .long_mode
    FIND_INDEX ebx, edi, ebp, eax, .long_mode
    mov ebx, edx                    ; index
    imul edx, [ebp + p_record_size]
    add edx, [ebp + p_records_phys]
    mov dword [edx + CPU_STAGE], STAGE_PROTECTED
    cmp ebx, [ebp + p_stop_index]   ; test support: stop here on purpose
    jne .long_mode
    cmp dword [ebp + p_stop_stage], STAGE_PROTECTED
    je park32

.long_mode:
    ; --- Long mode: PAE, CR3, EFER.LME (and NXE), then paging (SDM 10.8.5).
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, [ebp + p_cr3]
    mov cr3, eax
    mov ecx, MSR_IA32_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    SET_NXE
.paging:
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    jmp far [ebp + p_lm64]

park32:
    cli
    hlt
    jmp park32

bits 64
lm64_entry:
    mov ax, GDT_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ebp, ebp                    ; upper halves are undefined after the mode switch
    mov esi, esi
    mov edi, edi
    mov r8, [rbp + p_slots]

    ; 0xFFFFFFFF, the x2APIC broadcast ID, is never a CPU (CpuTable::find refuses it too): a
    ; junk CPUID/MSR read parks here rather than probing the table.
    cmp esi, X2APIC_BROADCAST_ID
    je park
    cmp esi, edi
    jne .id_mismatch
    FIND_INDEX r8, edi, rbp, rax, park
    mov ebx, edx                    ; index
    imul rdx, [rbp + p_record_size]
    add rdx, [rbp + p_records]
    mov rdi, rdx                    ; rdi = this CPU's record: the entry's argument
    mov dword [rdi + CPU_STAGE], STAGE_LONG
    cmp ebx, [rbp + p_stop_index]   ; test support: stop here on purpose
    jne .enter
    cmp dword [rbp + p_stop_stage], STAGE_LONG
    je park
.enter:
    mov rax, [rdi + CPU_ENTRY]
    mov rsp, [rdi + CPU_STACK_TOP]
    test rax, rax
    jz park
    test rsp, rsp
    jz park
    xor ebp, ebp                    ; end of the frame-pointer chain
    call rax                        ; never returns; if it does, park
    jmp park

.id_mismatch:
    ; CPUID names another CPU than the APIC ID register: the record found by CPUID is not
    ; ours, so touch neither it nor its stack. Fail our own record (by the register ID) with
    ; kApicIdMismatch, if its wake is still open, and park.
    FIND_INDEX r8, esi, rbp, rax, park
    imul rdx, [rbp + p_record_size]
    add rdx, [rbp + p_records]
    cmp dword [rdx + CPU_STATE], STATE_WAKE_SENT
    jne park
    mov byte [rdx + CPU_ERROR], ERROR_APIC_ID_MISMATCH
    mov eax, STATE_WAKE_SENT
    mov ecx, STATE_FAILED
    lock cmpxchg [rdx + CPU_STATE], ecx
park:
    cli
    hlt
    jmp park

; The wakeup vector of the ACPI multiprocessor wakeup mailbox (ACPI 6.4+ 5.2.12.19;
; wake/mailbox.hpp): the firmware jumps here after it took the command, with the AP in 64-bit
; mode, paging on with the firmware's page tables (this page identity-mapped), interrupts
; off, flat selectors of the firmware's GDT; no register holds anything of ours (Linux's
; madt_wakeup.c and the Intel TDX Virtual Firmware Design Guide 4.3.5 agree). So: find this
; page RIP-relatively, leave the firmware's descriptor tables (the OS may reclaim their
; memory; a zero IDT makes any fault a shutdown rather than a jump into the firmware), load
; the kernel's CR3 (it identity-maps this page, so the switch is seamless), then find our ID as
; the 32-bit path does and enter lm64_entry through the blob's own 64-bit code selector.
; From there the CPU runs exactly the code a STARTUP leads to.
mailbox64_entry:
    cli
    cld
    lea rbp, [rel blob_start]       ; this page's base (identity-mapped: physical)
    lidt [rbp + zero_idtr]
    lgdt [rbp + p_gdtr]             ; 10 bytes: limit, relocated base, p_gdt_base_high = 0
    ; The trampoline builds 4-level paging; with CR4.LA57 set the kernel's CR3 would be read
    ; as a PML5, and clearing LA57 needs paging off: park (the BSP times the wake out).
    mov rax, cr4
    test eax, CR4_LA57
    jnz park
    SET_NXE                         ; before CR3: the kernel's tables may use XD bits
    mov eax, [rbp + p_cr3]
    mov cr3, rax
    mov ax, GDT_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    WHO_AM_I park
    jmp far dword [rbp + p_lm64]    ; m16:32 (every x86-64 CPU has it): CS = GDT_CODE64

    align 8, db 0
zero_idtr:
    dw 0
    dq 0

    align 8, db 0
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 0x08: 32-bit code, flat
    dq 0x00CF92000000FFFF           ; 0x10: data, flat
    dq 0x00209A0000000000           ; 0x18: 64-bit code (L=1)
gdt_end:
blob_end:

; --- Layout checks: a TIMES count below zero is a build error in nasm, so each pair below
; fails the build unless both sides are equal.
%macro ASSERT_EQUAL 2
    times ((%1) - (%2)) resb 1
    times ((%2) - (%1)) resb 1
%endmacro
[absolute 0]
    ASSERT_EQUAL params - blob_start, TRAMPOLINE_PARAMS_OFFSET
    ASSERT_EQUAL p_magic - params, TP_MAGIC
    ASSERT_EQUAL p_version - params, TP_LAYOUT_VERSION
    ASSERT_EQUAL p_blob_size - params, TP_BLOB_SIZE
    ASSERT_EQUAL p_page_phys - params, TP_PAGE_PHYS
    ASSERT_EQUAL p_cr3 - params, TP_CR3
    ASSERT_EQUAL p_flags - params, TP_FLAGS
    ASSERT_EQUAL p_id_source - params, TP_ID_SOURCE
    ASSERT_EQUAL p_slot_bits - params, TP_SLOT_BITS
    ASSERT_EQUAL p_slots - params, TP_SLOTS
    ASSERT_EQUAL p_records - params, TP_RECORDS
    ASSERT_EQUAL p_record_size - params, TP_RECORD_SIZE
    ASSERT_EQUAL p_pm32 - params, TP_PM32_OFFSET
    ASSERT_EQUAL p_pm32 + 4 - params, TP_PM32_SELECTOR
    ASSERT_EQUAL p_lm64 - params, TP_LM64_OFFSET
    ASSERT_EQUAL p_lm64 + 4 - params, TP_LM64_SELECTOR
    ASSERT_EQUAL p_gdtr - params, TP_GDT_LIMIT
    ASSERT_EQUAL p_gdtr + 2 - params, TP_GDT_OFFSET
    ASSERT_EQUAL p_gdt_base_high - params, TP_GDT_BASE_HIGH
    ASSERT_EQUAL p_slots_phys - params, TP_SLOTS_PHYS
    ASSERT_EQUAL p_records_phys - params, TP_RECORDS_PHYS
    ASSERT_EQUAL p_stop_index - params, TP_STOP_INDEX
    ASSERT_EQUAL p_stop_stage - params, TP_STOP_STAGE
    ASSERT_EQUAL p_mailbox64 - params, TP_MAILBOX64_OFFSET
    ASSERT_EQUAL params_end - params, TP_SIZE
    ASSERT_EQUAL CPU_STATE_SIZE, 4              ; dword stores and lock cmpxchg
    ASSERT_EQUAL CPU_STAGE_SIZE, 4              ; dword stores
    ASSERT_EQUAL CPU_ERROR_SIZE, 1              ; byte store
    times TRAMPOLINE_MAX_SIZE - (blob_end - blob_start) resb 1  ; must fit one SIPI page
