; Embeds the smpboot trampoline (the library builds asm/trampoline.asm as trampoline.bin) in the
; kernel image; kmain copies it to the SIPI page with smpboot::install_trampoline.
section .rodata
align 16
global smpboot_trampoline_start
global smpboot_trampoline_end
smpboot_trampoline_start:
    incbin "trampoline.bin"
smpboot_trampoline_end:
