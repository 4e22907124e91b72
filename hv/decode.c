// SPDX-License-Identifier: MIT
/* x86-64 decoder for the port I/O and MMIO instructions the process platform emulates. */
#include <errno.h>

#include "hv/decode.h"

#define INSN_MAX 15 /* the CPU raises #GP on longer instructions */

#define REX_W 0x08
#define REX_R 0x04

struct cursor {
	const uint8_t *code;
	size_t avail;
	size_t pos;
};

/*
 * The length limit is checked first so an overlong instruction is -EINVAL whatever avail is:
 * the CPU would not run it either.
 */
static int next(struct cursor *c, uint8_t *b)
{
	if (c->pos >= INSN_MAX)
		return -EINVAL;
	if (c->pos >= c->avail)
		return -EFAULT;
	*b = c->code[c->pos++];
	return 0;
}

/* Little-endian immediate or displacement of n (0..4) bytes. */
static int next_le(struct cursor *c, unsigned int n, uint64_t *v)
{
	uint8_t b;
	int ret;

	*v = 0;
	for (unsigned int i = 0; i < n; i++) {
		ret = next(c, &b);
		if (ret)
			return ret;
		*v |= (uint64_t)b << (8 * i);
	}
	return 0;
}

static bool is_rex(uint8_t b)
{
	return (b & 0xf0) == 0x40;
}

int hv_decode_io(const uint8_t *code, size_t avail, struct hv_insn *out)
{
	struct cursor c = {.code = code, .avail = avail};
	struct hv_insn in = {.kind = HV_INSN_IO};
	bool opsize16 = false, f3 = false;
	uint64_t imm;
	uint8_t op;
	int ret;

	/*
	 * 0x67 would make ins/outs use edi/esi and segment overrides are not emulated: both fall
	 * to the default case below, as do lock and repne.
	 */
	for (;;) {
		ret = next(&c, &op);
		if (ret)
			return ret;
		if (op == 0x66)
			opsize16 = true;
		else if (op == 0xf3)
			f3 = true;
		else
			break;
	}
	/*
	 * A REX only counts last before the opcode. Its W bit overrides 0x66 as everywhere, and
	 * as these opcodes have no 64-bit form the size is then 4 (objdump agrees); the rest of
	 * REX means nothing here.
	 */
	if (is_rex(op)) {
		if (op & REX_W)
			opsize16 = false;
		ret = next(&c, &op);
		if (ret)
			return ret;
	}

	switch (op) {
	case 0xe4: /* in al, imm8 */
	case 0xe5: /* in eax/ax, imm8 */
	case 0xe6: /* out imm8, al */
	case 0xe7: /* out imm8, eax/ax */
		ret = next_le(&c, 1, &imm);
		if (ret)
			return ret;
		in.imm_port = true;
		in.port = (uint16_t)imm;
		break;
	case 0xec: /* in al, dx */
	case 0xed:
	case 0xee: /* out dx, al */
	case 0xef:
		break;
	case 0x6c: /* insb */
	case 0x6d:
	case 0x6e: /* outsb */
	case 0x6f:
		in.string = true;
		in.rep = f3;
		break;
	default:
		return -EINVAL;
	}
	/* Within each group of four: bit 0 clear is the byte form, bit 1 set is the output. */
	in.out = op & 2;
	in.size = !(op & 1) ? 1 : opsize16 ? 2 : 4;
	in.len = (uint8_t)c.pos;
	*out = in;
	return 0;
}

/*
 * Skips ModRM and the addressing bytes after it (SIB, displacement) so the length comes out
 * right; the address itself is the fault address the signal reports, not computed here.
 */
static int skip_modrm(struct cursor *c, uint8_t *modrm)
{
	unsigned int mod, rm, disp = 0;
	uint64_t skipped;
	uint8_t sib;
	int ret;

	ret = next(c, modrm);
	if (ret)
		return ret;
	mod = *modrm >> 6;
	rm = *modrm & 7;
	if (mod == 3) /* register operand: no memory access, so no MMIO exit */
		return -EINVAL;
	if (mod == 1)
		disp = 1;
	else if (mod == 2)
		disp = 4;
	else if (rm == 5) /* mod 0: RIP-relative disp32 */
		disp = 4;
	/* REX.B does not take part here: r12 needs a SIB like rsp, r13 a disp like rbp. */
	if (rm == 4) {
		ret = next(c, &sib);
		if (ret)
			return ret;
		if (mod == 0 && (sib & 7) == 5) /* no base, disp32 */
			disp = 4;
	}
	return next_le(c, disp, &skipped);
}

int hv_decode_mmio(const uint8_t *code, size_t avail, struct hv_insn *out)
{
	struct cursor c = {.code = code, .avail = avail};
	struct hv_insn in = {.kind = HV_INSN_MMIO};
	bool opsize16 = false, byte_reg = false, is_imm = false;
	uint8_t rex = 0, op, modrm, osize;
	uint64_t imm;
	int ret;

	/*
	 * Only 0x66 among the legacy prefixes: lock, rep/repne (also xacquire/xrelease), segment
	 * overrides and 0x67 are not forms a compiler emits for MMIO and fall to the default case.
	 */
	for (;;) {
		ret = next(&c, &op);
		if (ret)
			return ret;
		if (op != 0x66)
			break;
		opsize16 = true;
	}
	/*
	 * A REX followed by anything but the opcode is ignored by the CPU; refuse such odd bytes
	 * rather than decode them (a second REX or a late 0x66 hits the default case).
	 */
	if (is_rex(op)) {
		rex = op;
		ret = next(&c, &op);
		if (ret)
			return ret;
	}
	osize = rex & REX_W ? 8 : opsize16 ? 2 : 4;

	switch (op) {
	case 0x88: /* mov r/m8, r8 */
		in.write = true;
		in.msize = 1;
		byte_reg = true;
		break;
	case 0x89: /* mov r/m, r */
		in.write = true;
		in.msize = osize;
		break;
	case 0x8a: /* mov r8, r/m8 */
		in.msize = 1;
		in.dsize = 1;
		byte_reg = true;
		break;
	case 0x8b: /* mov r, r/m */
		in.msize = osize;
		in.dsize = osize;
		break;
	case 0xc6: /* mov r/m8, imm8 */
		in.write = true;
		in.msize = 1;
		is_imm = true;
		break;
	case 0xc7: /* mov r/m, imm16/imm32 */
		in.write = true;
		in.msize = osize;
		is_imm = true;
		break;
	case 0x63: /* movsxd r64, r/m32; without REX.W it is a plain mov nobody emits */
		if (!(rex & REX_W))
			return -EINVAL;
		in.msize = 4;
		in.dsize = 8;
		in.sext = true;
		break;
	case 0x0f:
		ret = next(&c, &op);
		if (ret)
			return ret;
		switch (op) {
		case 0xb6: /* movzx r, r/m8 */
		case 0xb7: /* movzx r, r/m16 */
			in.zext = true;
			break;
		case 0xbe: /* movsx r, r/m8 */
		case 0xbf: /* movsx r, r/m16 */
			in.sext = true;
			break;
		default:
			return -EINVAL;
		}
		in.msize = op & 1 ? 2 : 1;
		in.dsize = osize;
		break;
	default:
		return -EINVAL;
	}

	ret = skip_modrm(&c, &modrm);
	if (ret)
		return ret;
	if (is_imm) {
		/* C6/C7 are mov only with /0 in the reg field */
		if ((modrm >> 3) & 7)
			return -EINVAL;
		ret = next_le(&c, in.msize == 8 ? 4 : in.msize, &imm);
		if (ret)
			return ret;
		if (in.msize == 8) /* imm32 sign-extended, the only 64-bit form */
			imm = (uint64_t)(int64_t)(int32_t)(uint32_t)imm;
		in.imm = imm;
		in.reg = -1;
	} else {
		in.reg = (int8_t)(((modrm >> 3) & 7) | (rex & REX_R ? 8 : 0));
		/* With any REX, even 0x40, 4..7 are spl, bpl, sil, dil instead. */
		in.high8 = byte_reg && !rex && in.reg >= 4;
	}
	/* x86 rule: a 32-bit destination clears bits 63:32 of the register */
	if (!in.write && in.dsize == 4)
		in.zext = true;
	in.len = (uint8_t)c.pos;
	*out = in;
	return 0;
}
