; Embeds the assembled smpboot trampoline (asm/trampoline.asm, built as a flat binary) in the
; kernel image; kmain copies it to the SIPI page with smpboot::install_trampoline.
section .rodata
align 16
global smpboot_trampoline_start
global smpboot_trampoline_end
smpboot_trampoline_start:
    incbin "smpboot_trampoline.bin"
smpboot_trampoline_end:
