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
;
; The parameter block layout comes from include/smpboot/boot/trampoline_layout.hpp through
; the generated smpboot_layout.inc; the assertions at the end fail the build on any mismatch.

%include "smpboot_layout.inc"

GDT_CODE32 equ 0x08
GDT_DATA   equ 0x10
GDT_CODE64 equ 0x18

IA32_APIC_BASE equ 0x1B
IA32_EFER      equ 0xC0000080
X2APIC_ID_MSR  equ 0x802
XAPIC_ID_REG   equ 0x20
APIC_BASE_EN_EXTD equ (1 << 11) | (1 << 10)
CR4_PAE   equ 1 << 5
EFER_LME  equ 1 << 8
EFER_NXE  equ 1 << 11
CR0_PE    equ 1 << 0
CR0_PG    equ 1 << 31

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
    mov eax, cr0
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

    ; --- Who am I? Result in esi. Paging is off, so the xAPIC page is read physically.
    mov ecx, IA32_APIC_BASE
    rdmsr
    test dword [ebp + p_flags], TRAMPOLINE_FLAG_X2APIC
    jz .xapic
    ; INIT puts the APIC back in xAPIC mode (seen in Bochs; SDM 11.12.5.1), so every AP
    ; turns x2APIC on for itself. xAPIC -> x2APIC is a legal single write.
    test eax, 1 << 10
    jnz .x2apic_on
    or eax, APIC_BASE_EN_EXTD
    wrmsr
.x2apic_on:
    cmp dword [ebp + p_id_source], 1
    je .cpuid_chain
    mov ecx, X2APIC_ID_MSR
    rdmsr
    mov esi, eax
    jmp .have_id
.xapic:
    cmp dword [ebp + p_id_source], 1
    je .cpuid_chain
    and eax, 0xFFFFF000             ; the xAPIC page must lie below 4 GiB (it does by default)
    mov esi, [eax + XAPIC_ID_REG]
    shr esi, 24
    jmp .have_id

.cpuid_chain:                       ; 1FH, then 0BH (32-bit x2APIC ID), then 01H (8-bit)
    xor eax, eax
    cpuid
    mov edi, eax                    ; max basic leaf
    cmp edi, 0x1F
    jb .try_0b
    mov eax, 0x1F
    xor ecx, ecx
    cpuid
    test bx, bx                     ; EBX[15:0] = 0: leaf not valid
    jz .try_0b
    mov esi, edx
    jmp .have_id
.try_0b:
    cmp edi, 0x0B
    jb .leaf01
    mov eax, 0x0B
    xor ecx, ecx
    cpuid
    test bx, bx
    jz .leaf01
    mov esi, edx
    jmp .have_id
.leaf01:
    mov eax, 1
    cpuid
    mov esi, ebx
    shr esi, 24

.have_id:
    ; --- Long mode: PAE, CR3, EFER.LME (and NXE), then paging (SDM 10.8.5).
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, [ebp + p_cr3]
    mov cr3, eax
    mov ecx, IA32_EFER
    rdmsr
    or eax, EFER_LME
    test dword [ebp + p_flags], TRAMPOLINE_FLAG_NXE
    jz .no_nxe
    or eax, EFER_NXE
.no_nxe:
    wrmsr
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    jmp far [ebp + p_lm64]

bits 64
lm64_entry:
    mov ax, GDT_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ebp, ebp                    ; upper halves are undefined after the mode switch
    mov esi, esi

    ; --- Look the APIC ID up: the same open-addressing probe as CpuTable::find. 0xFFFFFFFF
    ; (junk CPUID/MSR) would match an empty slot's ID field: never a CPU, park.
    cmp esi, SLOT_EMPTY & 0xFFFFFFFF
    je park
    mov r8, [rbp + p_slots]
    mov ecx, [rbp + p_slot_bits]
    mov r9d, 1
    shl r9d, cl
    mov r10d, r9d                   ; probe budget: every slot once
    dec r9d                         ; slot mask
    imul eax, esi, SLOT_HASH_MULTIPLIER
    neg ecx
    add ecx, 32
    shr eax, cl                     ; home slot
.probe:
    mov rdx, [r8 + rax * 8]
    cmp edx, esi
    je .found
    cmp edx, SLOT_EMPTY & 0xFFFFFFFF
    je park
    inc eax
    and eax, r9d
    dec r10d
    jnz .probe
    jmp park

.found:
    shr rdx, 32                     ; CPU index
    imul rdx, [rbp + p_record_size]
    add rdx, [rbp + p_records]
    mov rdi, rdx                    ; rdi = this CPU's record: the entry's argument
    mov rax, [rdi + CPU_ENTRY]
    mov rsp, [rdi + CPU_STACK_TOP]
    test rax, rax
    jz park
    test rsp, rsp
    jz park
    xor ebp, ebp                    ; end of the frame-pointer chain
    call rax                        ; never returns; if it does, park
park:
    cli
    hlt
    jmp park

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
    ASSERT_EQUAL params_end - params, TP_SIZE
    times TRAMPOLINE_MAX_SIZE - (blob_end - blob_start) resb 1  ; must fit one SIPI page
