; Multiboot 1 and Multiboot 2 entry: 32-bit protected mode -> 64-bit long mode -> kernel_main.
;
; Two headers, one entry point:
; - Multiboot 1 (0.6.96), for QEMU -kernel and GRUB's `multiboot`: the "a.out kludge" (3.1.1
;   "The layout of Multiboot header", flag bit 16, address fields in 3.1.3), so the loaders copy
;   the file as a flat image to 1 MiB and never parse the ELF64 headers that QEMU would refuse.
;   It must lie in the file's first 8 KiB, 4-byte aligned.
; - Multiboot 2 (2.0), for GRUB's `multiboot2` under BIOS and UEFI: the address tag (3.1.5) is
;   the same flat-image description, the entry address tag (3.1.6) the same entry. It must lie
;   in the first 32 KiB, 8-byte aligned. Without an EFI boot services tag, GRUB under UEFI
;   exits boot services and enters in 32-bit protected mode exactly as under BIOS (3.3 "I386
;   machine state"), so one entry serves both.
; Machine state on entry (Multiboot 1 3.2, Multiboot 2 3.3): EAX = 0x2BADB002 (MB1) or
; 0x36D76289 (MB2), EBX = physical address of the information structure, flat 4 GiB
; segments, paging off, IF = 0, A20 on, GDTR/IDTR unusable, no stack.
;
; Long mode is entered as Intel SDM Vol. 3A 10.8.5 "Initializing IA-32e Mode" describes: PAE
; page tables, CR4.PAE, IA32_EFER.LME, CR0.PG, then a far jump to a 64-bit code segment.

MB_MAGIC        equ 0x1BADB002
MB_BOOT_MAGIC   equ 0x2BADB002          ; what the loader leaves in EAX
MB_PAGE_ALIGN   equ 1 << 0
MB_MEMORY_INFO  equ 1 << 1
MB_AOUT_KLUDGE  equ 1 << 16
MB_FLAGS        equ MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_AOUT_KLUDGE

MB2_MAGIC       equ 0xE85250D6
MB2_BOOT_MAGIC  equ 0x36D76289          ; what a Multiboot 2 loader leaves in EAX
MB2_ARCH_I386   equ 0                   ; 32-bit protected mode
MB2_TAG_END     equ 0
MB2_TAG_ADDRESS equ 2
MB2_TAG_ENTRY   equ 3

; Which protocol loaded us (boot_protocol below; platform.hpp BootProtocol).
PROTOCOL_NONE   equ 0
PROTOCOL_MB1    equ 1
PROTOCOL_MB2    equ 2

CR0_WP          equ 1 << 16
CR0_PG          equ 1 << 31
CR4_PAE         equ 1 << 5
IA32_EFER       equ 0xC0000080
EFER_LME        equ 1 << 8
EFER_NXE        equ 1 << 11

; Page-table entry bits (SDM Vol. 3A 5.5 "4-Level Paging and 5-Level Paging", tables 5-15..5-18).
PTE_P           equ 1 << 0
PTE_RW          equ 1 << 1
PTE_PWT         equ 1 << 3
PTE_PCD         equ 1 << 4
PTE_PS          equ 1 << 7              ; in a PDE: maps a 2 MiB page

SEL_CODE64      equ 0x08                ; same selectors as the kernel's per-CPU GDTs and the IDT
SEL_DATA        equ 0x10

BOOT_STACK_SIZE equ 64 * 1024
EXIT_NO_LONG_MODE equ 0x3F              ; isa-debug-exit code when the CPU cannot run us

extern kernel_main
extern __image_start, __image_load_end, __bss_start, __bss_end

global multiboot_entry
global kernel_pml4
global boot_protocol

; ---------------------------------------------------------------------------------------------
section .multiboot progbits alloc noexec nowrite align=4
multiboot_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)           ; magic + flags + checksum == 0 (mod 2^32)
    dd multiboot_header                 ; header_addr
    dd __image_start                    ; load_addr: the file is copied from here ...
    dd __image_load_end                 ; load_end_addr ... to here,
    dd __bss_end                        ; bss_end_addr: the loader zeroes up to here and puts
                                        ; the info structure and command line after it
    dd multiboot_entry                  ; entry_addr

; Multiboot 2 header (3.1.1-3.1.6): magic, architecture, header_length, checksum, then tags,
; each 8-byte aligned, ending with the end tag.
align 8
multiboot2_header:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd multiboot2_header_end - multiboot2_header
    dd 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (multiboot2_header_end - multiboot2_header))
    ; Address tag: the same flat image as the a.out kludge above.
    dw MB2_TAG_ADDRESS, 0
    dd 24
    dd multiboot2_header                ; header_addr
    dd __image_start                    ; load_addr
    dd __image_load_end                 ; load_end_addr
    dd __bss_end                        ; bss_end_addr
    ; Entry address tag (12 bytes, padded to 16).
    dw MB2_TAG_ENTRY, 0
    dd 12
    dd multiboot_entry
    dd 0
    ; End tag.
    dw MB2_TAG_END, 0
    dd 8
multiboot2_header_end:

; ---------------------------------------------------------------------------------------------
section .text.boot progbits alloc exec nowrite align=16
bits 32
multiboot_entry:
    ; .data is part of the loaded image, so these survive the .bss clearing below.
    mov [boot_multiboot_magic], eax
    mov [boot_multiboot_info], ebx

    ; Zero .bss first: the page tables and the stack live there. Loaders zero it too, but the
    ; spec only promises that for the a.out kludge, so do not depend on it.
    cld
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2                          ; the linker script keeps both ends 4 KiB aligned
    xor eax, eax
    rep stosd
    mov esp, boot_stack_top

    ; Long mode needs CPUID.80000001H:EDX.LM[29] (SDM Vol. 3A 10.8.5). NXE may only be set if
    ; CPUID.80000001H:EDX.NX[20] is 1, else the WRMSR raises #GP (SDM Vol. 4, IA32_EFER).
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz .no_long_mode
    mov esi, EFER_LME
    test edx, 1 << 20
    jz .build_tables
    or esi, EFER_NXE

.build_tables:
    ; PML4[0] -> PDPT; PDPT[0..3] -> four page directories, 512 x 2 MiB each = 4 GiB identity.
    mov dword [kernel_pml4], boot_pdpt + (PTE_P | PTE_RW)
    mov dword [boot_pdpt + 0 * 8], boot_pd + 0 * 4096 + (PTE_P | PTE_RW)
    mov dword [boot_pdpt + 1 * 8], boot_pd + 1 * 4096 + (PTE_P | PTE_RW)
    mov dword [boot_pdpt + 2 * 8], boot_pd + 2 * 4096 + (PTE_P | PTE_RW)
    mov dword [boot_pdpt + 3 * 8], boot_pd + 3 * 4096 + (PTE_P | PTE_RW)
    xor ecx, ecx                        ; ecx = index of the 2 MiB page, 0..2047
.fill_pd:
    mov eax, ecx
    shl eax, 21                         ; physical address of the page (bits 31:21)
    or eax, PTE_P | PTE_RW | PTE_PS
    ; The top GiB holds the IOAPIC (0xFEC00000), the local APIC (0xFEE00000), the HPET and
    ; PCI BARs: device memory must not be cached (SDM Vol. 3A 12.12.3 "Selecting a Memory
    ; Type from the PAT": PCD=PWT=1 selects UC with the power-on PAT).
    cmp ecx, 3 * 512
    jb .cached
    or eax, PTE_PCD | PTE_PWT
.cached:
    mov [boot_pd + ecx * 8], eax        ; high dword stays 0: addresses < 4 GiB, NX clear
    inc ecx
    cmp ecx, 4 * 512
    jb .fill_pd

    mov eax, kernel_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov ecx, IA32_EFER
    rdmsr
    or eax, esi
    wrmsr
    lgdt [boot_gdtr]
    mov eax, cr0
    or eax, CR0_PG | CR0_WP             ; PE is already set by the loader
    mov cr0, eax
    jmp SEL_CODE64:long_mode_entry      ; now in compatibility mode; this loads a 64-bit CS

.no_long_mode:
    ; Nothing 64-bit can run. Say so on COM1 (usable without setup in QEMU and Bochs) and leave.
    mov esi, msg_no_long_mode
.putc:
    lodsb
    test al, al
    jz .exit
    mov dx, 0x3F8
    out dx, al
    jmp .putc
.exit:
    mov al, EXIT_NO_LONG_MODE
    out 0xF4, al
.hang:
    cli
    hlt
    jmp .hang

bits 64
long_mode_entry:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top             ; 16-byte aligned: the call below leaves the ABI's
                                        ; RSP = 8 (mod 16) at kernel_main's first instruction
    ; Tell the protocols apart by the magic; the C++ side reads boot_protocol (platform_init)
    ; and gets the info pointer as kernel_main(uint32_t multiboot_info_phys), 0 if unknown.
    xor edi, edi
    mov esi, PROTOCOL_MB1
    mov eax, [boot_multiboot_magic]
    cmp eax, MB_BOOT_MAGIC
    je .known
    mov esi, PROTOCOL_MB2
    cmp eax, MB2_BOOT_MAGIC
    je .known
    mov esi, PROTOCOL_NONE
    jmp .call
.known:
    mov edi, [boot_multiboot_info]
.call:
    mov [boot_protocol], esi
    call kernel_main
.halt:
    cli
    hlt
    jmp .halt

; ---------------------------------------------------------------------------------------------
section .rodata
msg_no_long_mode: db "boot: this CPU has no long mode (CPUID.80000001H:EDX[29])", 10, 0

section .data
align 8
; Null, 64-bit code (L=1, D=0, P, DPL 0, execute/read), data (P, read/write): SDM Vol. 3A
; 3.4.5 "Segment Descriptors" and 6.2.1 "Code-Segment Descriptor in 64-bit Mode".
boot_gdt:
    dq 0
    dq 0x00209A0000000000
    dq 0x0000920000000000
boot_gdt_end:
boot_gdtr:
    dw boot_gdt_end - boot_gdt - 1
    dd boot_gdt
boot_multiboot_magic: dd 0
boot_multiboot_info:  dd 0
boot_protocol:        dd 0              ; PROTOCOL_*

section .bss nobits alloc noexec write align=4096
kernel_pml4: resb 4096                  ; CR3 for the BSP and, through the trampoline, the APs
boot_pdpt:   resb 4096
boot_pd:     resb 4 * 4096
boot_stack:  resb BOOT_STACK_SIZE
boot_stack_top:

section .note.GNU-stack noalloc noexec nowrite progbits
