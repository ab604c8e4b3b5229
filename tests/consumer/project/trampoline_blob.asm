; Embeds the trampoline that smpboot built (trampoline.bin, found with -I on the directory the
; library exports it in) in its own section, so the test can take it back out and compare.
section .smpboot_trampoline progbits alloc noexec nowrite align=16
global smpboot_trampoline_start
global smpboot_trampoline_end
smpboot_trampoline_start:
    incbin "trampoline.bin"
smpboot_trampoline_end:
