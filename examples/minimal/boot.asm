; Multiboot 1 entry for the minimal kernels: 32-bit protected mode -> long mode -> kmain.
; QEMU -kernel and GRUB `multiboot` load the file flat at 1 MiB (the "a.out kludge", Multiboot
; 0.6.96 3.1.3), so the ELF64 headers are never parsed. Long mode as in Intel SDM Vol. 3A
; 10.8.5: PAE page tables, CR4.PAE, EFER.LME, CR0.PG, far jump to a 64-bit code segment.
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ (1 << 0) | (1 << 1) | (1 << 16)   ; page align, memory info, a.out kludge
extern kmain, __image_start, __image_load_end, __bss_end
global boot_entry, boot_pml4, boot_gdt, boot_gdt_end
global smpboot_trampoline_start, smpboot_trampoline_end

section .multiboot progbits alloc noexec nowrite align=4
header: dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
        dd header, __image_start, __image_load_end, __bss_end, boot_entry

section .text.boot progbits alloc exec nowrite align=16
bits 32
boot_entry:                             ; EAX = multiboot magic, EBX = info (unused here)
    mov esp, boot_stack_top
    ; 4 GiB identity map with 2 MiB pages; the top GiB (local APIC, I/O APIC) uncached
    ; (PCD|PWT selects UC with the power-on PAT, SDM Vol. 3A 12.12.3).
    mov dword [boot_pml4], boot_pdpt + 3
    xor ecx, ecx
    mov eax, boot_pd + 3                ; present, writable
.pdpt:
    mov [boot_pdpt + ecx * 8], eax
    add eax, 4096
    inc ecx
    cmp ecx, 4
    jb .pdpt
    xor ecx, ecx
.pd:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83                        ; present, writable, 2 MiB page
    cmp ecx, 3 * 512
    jb .cached
    or eax, 0x18                        ; PCD | PWT
.cached:
    mov [boot_pd + ecx * 8], eax
    inc ecx
    cmp ecx, 4 * 512
    jb .pd
    mov eax, boot_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, 1 << 5                      ; CR4.PAE
    mov cr4, eax
    mov ecx, 0xC0000080                 ; IA32_EFER.LME (NXE stays off: no XD bits used)
    rdmsr
    or eax, 1 << 8
    wrmsr
    lgdt [boot_gdtr]
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16)       ; CR0.PG, CR0.WP
    mov cr0, eax
    jmp 0x08:long_mode

bits 64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, boot_stack_top
    call kmain
.halt:
    cli
    hlt
    jmp .halt

section .data                           ; the CPU sets accessed bits in the GDT
align 16
; Null, 64-bit code, data (SDM Vol. 3A 3.4.5). Every CPU runs on this one GDT.
boot_gdt: dq 0, 0x00209A0000000000, 0x0000920000000000
boot_gdt_end:
boot_gdtr: dw boot_gdt_end - boot_gdt - 1
           dd boot_gdt
section .rodata
align 16
smpboot_trampoline_start:               ; the library's AP trampoline (meson: smpboot_trampoline)
    incbin "trampoline.bin"
smpboot_trampoline_end:

section .bss nobits alloc noexec write align=4096
boot_pml4: resb 4096                    ; CR3 of the BSP and, through the trampoline, every AP
boot_pdpt: resb 4096
boot_pd:   resb 4 * 4096
boot_stack: resb 16384
boot_stack_top:

section .note.GNU-stack noalloc noexec nowrite progbits
