; smpboot NMI entry and park loop (nasm, elf64 object nmi_entry.o): what a kernel links so that
; waking CPU0 by NMI needs nothing of its own but an IDT gate and one C++ function.
;
; smpboot_nmi_entry is the target of the NMI gate (vector 2, an interrupt gate, with or without
; IST). In 64-bit mode the CPU aligns RSP to 16 bytes and pushes SS, RSP, RFLAGS, CS, RIP; an
; NMI pushes no error code (Intel SDM Vol. 3A 7.14.2 "64-Bit Mode Stack Frame", 7.3 table 7-1).
; The entry stores the 15 GPRs below that frame at the offsets of smpboot::NmiFrame
; (include/smpboot/boot/nmi_entry.hpp, exported as NMI_FRAME_* by asm/asm_offsets.cpp), calls
; the kernel's  extern "C" void smpboot_nmi_dispatch(smpboot::NmiFrame*)  with RSP 16-byte
; aligned and DF clear as the SysV ABI asks, reloads every GPR from the frame (the dispatch may
; have rewritten RDI and the IRET frame: take_nmi_wake) and returns with IRETQ, which also ends
; the NMI blocking that began with the NMI (SDM 7.7 "Nonmaskable Interrupt (NMI)").
;
; smpboot_park_loop is where an offline CPU waits: cli, then hlt forever. An NMI returns into the
; hlt loop unless it is a wake; smpboot_park_loop_end bounds it, so take_nmi_wake can tell that
; a wake found the CPU parked. It touches no memory: a CPU in it has left the kernel for good.
;
; Not here: installing the IDT gate, an IST stack, swapgs (the NMI path is kernel-to-kernel;
; a kernel with user mode checks CS in its dispatch).

%include "smpboot_layout.inc"

extern smpboot_nmi_dispatch
global smpboot_nmi_entry:function (smpboot_nmi_entry.end - smpboot_nmi_entry)
global smpboot_park_loop:function (smpboot_park_loop_end - smpboot_park_loop)
global smpboot_park_loop_end

bits 64
default rel

section .text
align 16
smpboot_nmi_entry:
    sub rsp, NMI_FRAME_RIP              ; the GPR part of the NmiFrame, below the CPU's frame
    mov [rsp + NMI_FRAME_RAX], rax
    mov [rsp + NMI_FRAME_RBX], rbx
    mov [rsp + NMI_FRAME_RCX], rcx
    mov [rsp + NMI_FRAME_RDX], rdx
    mov [rsp + NMI_FRAME_RSI], rsi
    mov [rsp + NMI_FRAME_RDI], rdi
    mov [rsp + NMI_FRAME_RBP], rbp
    mov [rsp + NMI_FRAME_R8], r8
    mov [rsp + NMI_FRAME_R9], r9
    mov [rsp + NMI_FRAME_R10], r10
    mov [rsp + NMI_FRAME_R11], r11
    mov [rsp + NMI_FRAME_R12], r12
    mov [rsp + NMI_FRAME_R13], r13
    mov [rsp + NMI_FRAME_R14], r14
    mov [rsp + NMI_FRAME_R15], r15
    cld                                 ; the ABI wants DF = 0; the interrupted code may not
    mov rdi, rsp                        ; smpboot::NmiFrame*
    mov rbx, rsp                        ; callee-saved: the frame, after the call
    and rsp, -16                        ; already aligned (SDM 7.14.2, 20 quadwords), kept so
    call smpboot_nmi_dispatch           ; a different frame size cannot misalign the call
    mov rsp, rbx
    mov rax, [rsp + NMI_FRAME_RAX]
    mov rbx, [rsp + NMI_FRAME_RBX]
    mov rcx, [rsp + NMI_FRAME_RCX]
    mov rdx, [rsp + NMI_FRAME_RDX]
    mov rsi, [rsp + NMI_FRAME_RSI]
    mov rdi, [rsp + NMI_FRAME_RDI]
    mov rbp, [rsp + NMI_FRAME_RBP]
    mov r8, [rsp + NMI_FRAME_R8]
    mov r9, [rsp + NMI_FRAME_R9]
    mov r10, [rsp + NMI_FRAME_R10]
    mov r11, [rsp + NMI_FRAME_R11]
    mov r12, [rsp + NMI_FRAME_R12]
    mov r13, [rsp + NMI_FRAME_R13]
    mov r14, [rsp + NMI_FRAME_R14]
    mov r15, [rsp + NMI_FRAME_R15]
    add rsp, NMI_FRAME_RIP              ; RSP at the CPU's frame: RIP, CS, RFLAGS, RSP, SS
    iretq
.end:

align 16
smpboot_park_loop:
    cli
.halt:
    hlt
    jmp .halt
smpboot_park_loop_end:

; The frame as C++ defines it: IRETQ pops rip, cs, rflags, rsp, ss in this order right above
; the GPRs, and the alignment reasoning above assumes 20 quadwords.
%if NMI_FRAME_CS != NMI_FRAME_RIP + 8 || NMI_FRAME_RFLAGS != NMI_FRAME_RIP + 16 || \
    NMI_FRAME_RSP != NMI_FRAME_RIP + 24 || NMI_FRAME_SS != NMI_FRAME_RIP + 32
  %error "smpboot::NmiFrame: the CPU's frame must follow the GPRs as IRETQ pops it"
%endif
%if NMI_FRAME_SIZE != NMI_FRAME_SS + 8 || NMI_FRAME_SIZE % 16 != 0
  %error "smpboot::NmiFrame: size must end at SS and keep RSP 16-byte aligned"
%endif

section .note.GNU-stack noalloc noexec nowrite progbits
