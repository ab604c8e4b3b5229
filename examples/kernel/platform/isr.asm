; Interrupt entry stubs for all 256 vectors, shared by every CPU.
;
; Each stub makes the stack look the same whatever the vector: the CPU pushed SS, RSP, RFLAGS,
; CS, RIP and, for some exceptions, an error code (Intel SDM Vol. 3A 7.14.2 "64-Bit Mode Stack
; Frame", 7.13 "Error Code" and table 7-1); the stub pushes a zero error code where the CPU did
; not, then the vector, and the common path saves the 15 GPRs. The result is
; platform::InterruptFrame (platform.hpp), passed by address to platform_interrupt_dispatch.
;
; Stack alignment: in 64-bit mode the CPU aligns RSP to 16 bytes before it pushes the frame
; (SDM 7.14.2), and 5 + 2 + 15 = 22 quadwords keep it aligned, so the CALL below enters C++
; with the ABI's RSP = 8 (mod 16).

extern platform_interrupt_dispatch
global platform_isr_table

bits 64
default rel

; Vectors with a CPU-pushed error code: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14,
; #AC 17, #CP 21, #VC 29, #SX 30 (SDM Vol. 3A table 7-1; AMD APM Vol. 2 8.2 for 29 and 30).
%define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || \
                           (v) == 29 || (v) == 30)

section .text
align 16
isr_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld                                 ; the ABI wants DF = 0; the interrupted code may not
    mov rdi, rsp
    call platform_interrupt_dispatch
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                         ; vector and error code
    iretq

%assign v 0
%rep 256
align 16
isr_stub_ %+ v:
%if HAS_ERROR_CODE(v) == 0
    push qword 0
%endif
    push qword v
    jmp isr_common
%assign v v + 1
%endrep

section .rodata
align 8
platform_isr_table:                    ; uint64_t platform_isr_table[256]: stub addresses
%assign v 0
%rep 256
    dq isr_stub_ %+ v
%assign v v + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
