/* SPDX-License-Identifier: MIT */
/*
 * x86-64 decoding of the few instructions the process platform emulates: guest code runs
 * natively in a host process, so port I/O and MMIO accesses arrive as SIGSEGV and the VMM reads
 * the instruction at RIP from guest memory. Only 64-bit mode encodings; anything else is
 * refused, never guessed at.
 */
#ifndef PVM_HV_DECODE_H
#define PVM_HV_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hv_insn_kind { HV_INSN_IO = 1, HV_INSN_MMIO };

struct hv_insn {
	enum hv_insn_kind kind;
	uint8_t len; /* bytes of the instruction, prefixes included */
	/* HV_INSN_IO: in/out/ins/outs */
	bool out;      /* out/outs: guest -> device */
	bool string;   /* ins/outs */
	bool rep;      /* F3 prefix on ins/outs */
	bool imm_port; /* port is the imm8 in `port`; otherwise it is DX */
	uint16_t port; /* imm8 port when imm_port */
	uint8_t size;  /* 1, 2 or 4 */
	/* HV_INSN_MMIO: mov load/store forms */
	bool write;    /* store to memory */
	uint8_t msize; /* memory operand bytes: 1, 2, 4 or 8 */
	/*
	 * GPR number 0..15 (rax=0, rcx=1, rdx=2, rbx=3, rsp=4, rbp=5, rsi=6, rdi=7, r8..r15),
	 * -1 for an immediate store
	 */
	int8_t reg;
	bool high8; /* reg 4..7 means ah,ch,dh,bh (byte op without REX) */
	/* immediate stored (zero-extended to msize; for mov r/m64, imm32 sign-extended) */
	uint64_t imm;
	/* loads: destination register width 1, 2, 4 or 8 (movzx/movsx: the destination's width) */
	uint8_t dsize;
	/*
	 * A load writes the register as follows: extend the msize-byte value to dsize bytes
	 * (sign-extend when sext, else zero-extend); dsize 1 or 2 then replaces only those low
	 * bytes of the register. zext is set for movzx and for every 4-byte destination, because
	 * writing a 32-bit GPR zero-extends the result to 64 bits (x86 rule), so movsx r32 has
	 * both sext and zext.
	 */
	bool zext;
	bool sext; /* movsx/movsxd */
};

/*
 * Decodes one instruction from code[0..avail). 0 and *out filled, -EINVAL when the bytes are not
 * a form the VMM emulates, -EFAULT when avail is too short for the instruction. *out is left
 * alone on failure. No byte at or past code[avail] is read.
 */
int hv_decode_io(const uint8_t *code, size_t avail, struct hv_insn *out);
int hv_decode_mmio(const uint8_t *code, size_t avail, struct hv_insn *out);

#endif /* PVM_HV_DECODE_H */
