// SPDX-License-Identifier: MIT
/*
 * Entry: the VMM enters every vCPU at _start at CPL3 with %rdi = boot-info
 * GPA, %rsi = vCPU index and %rsp = that vCPU's stack top.
 */
__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call guest_start\n"
	"1:	jmp 1b\n"
	".previous\n");
