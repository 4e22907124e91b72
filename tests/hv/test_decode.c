// SPDX-License-Identifier: MIT
/*
 * The process platform's instruction decoder. Every vector's bytes are what GNU as emits for the
 * text beside it (checked with as and objdump -d); hand-made bytes say so. Each is decoded from
 * a heap buffer of exactly the bytes given, so ASan catches any read past avail.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/decode.h"

/* The bytes of a vector and their count. */
#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

struct io_vec {
	const char *text;
	uint8_t b[16];
	size_t n;
	bool out, string, rep, imm_port;
	uint16_t port;
	uint8_t size;
};

static const struct io_vec io_vecs[] = {
    {"in $0x12,%al", B(0xe4, 0x12), .imm_port = true, .port = 0x12, .size = 1},
    {"data16 in $0x12,%al", B(0x66, 0xe4, 0x12), .imm_port = true, .port = 0x12, .size = 1},
    {"repz in $0x12,%al", B(0xf3, 0xe4, 0x12), .imm_port = true, .port = 0x12, .size = 1},
    {"data16 repz in $0x12,%al", B(0x66, 0xf3, 0xe4, 0x12), .imm_port = true, .port = 0x12,
     .size = 1},
    {"in $0x34,%eax", B(0xe5, 0x34), .imm_port = true, .port = 0x34, .size = 4},
    {"in $0x34,%ax", B(0x66, 0xe5, 0x34), .imm_port = true, .port = 0x34, .size = 2},
    {"repz in $0xf0,%eax", B(0xf3, 0xe5, 0xf0), .imm_port = true, .port = 0xf0, .size = 4},
    {"repz in $0xff,%ax", B(0x66, 0xf3, 0xe5, 0xff), .imm_port = true, .port = 0xff, .size = 2},
    {"out %al,$0x80", B(0xe6, 0x80), .out = true, .imm_port = true, .port = 0x80, .size = 1},
    {"data16 out %al,$0x80", B(0x66, 0xe6, 0x80), .out = true, .imm_port = true, .port = 0x80,
     .size = 1},
    {"repz out %al,$0x80", B(0xf3, 0xe6, 0x80), .out = true, .imm_port = true, .port = 0x80,
     .size = 1},
    {"data16 repz out %al,$0x00", B(0x66, 0xf3, 0xe6, 0x00), .out = true, .imm_port = true,
     .size = 1},
    {"out %eax,$0x80", B(0xe7, 0x80), .out = true, .imm_port = true, .port = 0x80, .size = 4},
    {"out %ax,$0x80", B(0x66, 0xe7, 0x80), .out = true, .imm_port = true, .port = 0x80, .size = 2},
    {"repz out %eax,$0x70", B(0xf3, 0xe7, 0x70), .out = true, .imm_port = true, .port = 0x70,
     .size = 4},
    {"repz out %ax,$0x71", B(0x66, 0xf3, 0xe7, 0x71), .out = true, .imm_port = true, .port = 0x71,
     .size = 2},
    {"in (%dx),%al", B(0xec), .size = 1},
    {"data16 in (%dx),%al", B(0x66, 0xec), .size = 1},
    {"repz in (%dx),%al", B(0xf3, 0xec), .size = 1},
    {"data16 repz in (%dx),%al", B(0x66, 0xf3, 0xec), .size = 1},
    {"in (%dx),%eax", B(0xed), .size = 4},
    {"in (%dx),%ax", B(0x66, 0xed), .size = 2},
    {"repz in (%dx),%eax", B(0xf3, 0xed), .size = 4},
    {"repz in (%dx),%ax", B(0x66, 0xf3, 0xed), .size = 2},
    {"out %al,(%dx)", B(0xee), .out = true, .size = 1},
    {"data16 out %al,(%dx)", B(0x66, 0xee), .out = true, .size = 1},
    {"repz out %al,(%dx)", B(0xf3, 0xee), .out = true, .size = 1},
    {"data16 repz out %al,(%dx)", B(0x66, 0xf3, 0xee), .out = true, .size = 1},
    {"out %eax,(%dx)", B(0xef), .out = true, .size = 4},
    {"out %ax,(%dx)", B(0x66, 0xef), .out = true, .size = 2},
    {"repz out %eax,(%dx)", B(0xf3, 0xef), .out = true, .size = 4},
    {"repz out %ax,(%dx)", B(0x66, 0xf3, 0xef), .out = true, .size = 2},
    {"insb", B(0x6c), .string = true, .size = 1},
    {"data16 insb", B(0x66, 0x6c), .string = true, .size = 1},
    {"rep insb", B(0xf3, 0x6c), .string = true, .rep = true, .size = 1},
    {"data16 rep insb", B(0x66, 0xf3, 0x6c), .string = true, .rep = true, .size = 1},
    {"insl", B(0x6d), .string = true, .size = 4},
    {"insw", B(0x66, 0x6d), .string = true, .size = 2},
    {"rep insl", B(0xf3, 0x6d), .string = true, .rep = true, .size = 4},
    {"rep insw", B(0x66, 0xf3, 0x6d), .string = true, .rep = true, .size = 2},
    {"outsb", B(0x6e), .out = true, .string = true, .size = 1},
    {"data16 outsb", B(0x66, 0x6e), .out = true, .string = true, .size = 1},
    {"rep outsb", B(0xf3, 0x6e), .out = true, .string = true, .rep = true, .size = 1},
    {"data16 rep outsb", B(0x66, 0xf3, 0x6e), .out = true, .string = true, .rep = true, .size = 1},
    {"outsl", B(0x6f), .out = true, .string = true, .size = 4},
    {"outsw", B(0x66, 0x6f), .out = true, .string = true, .size = 2},
    {"rep outsl", B(0xf3, 0x6f), .out = true, .string = true, .rep = true, .size = 4},
    {"rep outsw", B(0x66, 0xf3, 0x6f), .out = true, .string = true, .rep = true, .size = 2},
    /* hand-made: prefix order, REX ignored, the longest accepted form */
    {"rep insw (f3 first)", B(0xf3, 0x66, 0x6d), .string = true, .rep = true, .size = 2},
    {"rex.W in (%dx),%eax", B(0x48, 0xed), .size = 4},
    {"rex.B in $0x70,%al", B(0x41, 0xe4, 0x70), .imm_port = true, .port = 0x70, .size = 1},
    {"data16 rep rex.W outsl (REX.W cancels 0x66)", B(0x66, 0xf3, 0x48, 0x6f), .out = true,
     .string = true, .rep = true, .size = 4},
    {"data16 rex.W in (%dx),%eax", B(0x66, 0x48, 0xed), .size = 4},
    {"data16 rex.R in (%dx),%ax", B(0x66, 0x44, 0xed), .size = 2},
    {"14 x data16, in (%dx),%ax (objdump stops honouring prefixes earlier)",
     B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0xed),
     .size = 2},
};

struct mmio_vec {
	const char *text;
	uint8_t b[16];
	size_t n;
	bool write;
	uint8_t msize;
	int8_t reg;
	bool high8;
	uint64_t imm;
	uint8_t dsize;
	bool zext, sext;
};

static const struct mmio_vec mmio_vecs[] = {
    /* what gcc emits for volatile accesses through a pointer in rdi */
    {"mov %al,(%rdi)", B(0x88, 0x07), .write = true, .msize = 1},
    {"mov %ax,(%rdi)", B(0x66, 0x89, 0x07), .write = true, .msize = 2},
    {"mov %eax,(%rdi)", B(0x89, 0x07), .write = true, .msize = 4},
    {"mov %rax,(%rdi)", B(0x48, 0x89, 0x07), .write = true, .msize = 8},
    {"movzbq (%rdi),%rax", B(0x48, 0x0f, 0xb6, 0x07), .msize = 1, .dsize = 8, .zext = true},
    {"movzwq (%rdi),%rax", B(0x48, 0x0f, 0xb7, 0x07), .msize = 2, .dsize = 8, .zext = true},
    {"mov (%rdi),%eax", B(0x8b, 0x07), .msize = 4, .dsize = 4, .zext = true},
    {"mov (%rdi),%rax", B(0x48, 0x8b, 0x07), .msize = 8, .dsize = 8},
    {"mov (%rdi),%al", B(0x8a, 0x07), .msize = 1, .dsize = 1},
    {"mov (%rdi),%ax", B(0x66, 0x8b, 0x07), .msize = 2, .dsize = 2},
    {"movzbl (%rdi),%eax", B(0x0f, 0xb6, 0x07), .msize = 1, .dsize = 4, .zext = true},
    {"movzwl (%rdi),%eax", B(0x0f, 0xb7, 0x07), .msize = 2, .dsize = 4, .zext = true},
    {"movzbw (%rdi),%ax", B(0x66, 0x0f, 0xb6, 0x07), .msize = 1, .dsize = 2, .zext = true},
    {"movsbl (%rdi),%eax", B(0x0f, 0xbe, 0x07), .msize = 1, .dsize = 4, .zext = true, .sext = true},
    {"movswl (%rdi),%eax", B(0x0f, 0xbf, 0x07), .msize = 2, .dsize = 4, .zext = true, .sext = true},
    {"movsbq (%rdi),%rax", B(0x48, 0x0f, 0xbe, 0x07), .msize = 1, .dsize = 8, .sext = true},
    {"movswq (%rdi),%rax", B(0x48, 0x0f, 0xbf, 0x07), .msize = 2, .dsize = 8, .sext = true},
    {"movslq (%rdi),%rax", B(0x48, 0x63, 0x07), .msize = 4, .dsize = 8, .sext = true},
    /* r8..r15 through REX.R; REX.B/X only change the address */
    {"mov %r8,(%rdi)", B(0x4c, 0x89, 0x07), .write = true, .msize = 8, .reg = 8},
    {"mov (%rdi),%r15d", B(0x44, 0x8b, 0x3f), .msize = 4, .reg = 15, .dsize = 4, .zext = true},
    {"mov %r9b,(%rdi)", B(0x44, 0x88, 0x0f), .write = true, .msize = 1, .reg = 9},
    {"mov %r10w,(%rdi)", B(0x66, 0x44, 0x89, 0x17), .write = true, .msize = 2, .reg = 10},
    {"mov %r12,0x0(%r13)", B(0x4d, 0x89, 0x65, 0x00), .write = true, .msize = 8, .reg = 12},
    {"mov (%r12),%rax", B(0x49, 0x8b, 0x04, 0x24), .msize = 8, .dsize = 8},
    {"mov (%rsi),%r11", B(0x4c, 0x8b, 0x1e), .msize = 8, .reg = 11, .dsize = 8},
    {"movzbl (%rdi),%r14d", B(0x44, 0x0f, 0xb6, 0x37), .msize = 1, .reg = 14, .dsize = 4,
     .zext = true},
    {"mov %r13b,(%r14)", B(0x45, 0x88, 0x2e), .write = true, .msize = 1, .reg = 13},
    /* byte registers 4..7: ah..bh without REX, spl..dil with any REX */
    {"mov %ah,(%rdi)", B(0x88, 0x27), .write = true, .msize = 1, .reg = 4, .high8 = true},
    {"mov (%rdi),%ch", B(0x8a, 0x2f), .msize = 1, .reg = 5, .high8 = true, .dsize = 1},
    {"mov %dh,(%rdx)", B(0x88, 0x32), .write = true, .msize = 1, .reg = 6, .high8 = true},
    {"mov (%rbx),%bh", B(0x8a, 0x3b), .msize = 1, .reg = 7, .high8 = true, .dsize = 1},
    {"mov %spl,(%rdi)", B(0x40, 0x88, 0x27), .write = true, .msize = 1, .reg = 4},
    {"mov (%rdi),%sil", B(0x40, 0x8a, 0x37), .msize = 1, .reg = 6, .dsize = 1},
    {"rex.W mov %al,(%rdi)", B(0x48, 0x88, 0x07), .write = true, .msize = 1},
    /* addressing forms: SIB, disp8, disp32, no base, RIP-relative */
    {"mov %eax,0x10(%rdi,%rcx,4)", B(0x89, 0x44, 0x8f, 0x10), .write = true, .msize = 4},
    {"mov %eax,0x12345678(%rdi,%rcx,4)", B(0x89, 0x84, 0x8f, 0x78, 0x56, 0x34, 0x12), .write = true,
     .msize = 4},
    {"mov %eax,-0x80(%rsp)", B(0x89, 0x44, 0x24, 0x80), .write = true, .msize = 4},
    {"mov %eax,0x1000(,%rcx,4)", B(0x89, 0x04, 0x8d, 0x00, 0x10, 0x00, 0x00), .write = true,
     .msize = 4},
    {"mov %rax,0x1000(,%r9,8)", B(0x4a, 0x89, 0x04, 0xcd, 0x00, 0x10, 0x00, 0x00), .write = true,
     .msize = 8},
    {"mov 0x0(%r13,%rax,1),%edx", B(0x41, 0x8b, 0x54, 0x05, 0x00), .msize = 4, .reg = 2, .dsize = 4,
     .zext = true},
    {"mov -0x1000(%rbp),%ecx", B(0x8b, 0x8d, 0x00, 0xf0, 0xff, 0xff), .msize = 4, .reg = 1,
     .dsize = 4, .zext = true},
    {"mov %eax,0x100(%rip)", B(0x89, 0x05, 0x00, 0x01, 0x00, 0x00), .write = true, .msize = 4},
    {"mov -0x10(%rip),%rdx", B(0x48, 0x8b, 0x15, 0xf0, 0xff, 0xff, 0xff), .msize = 8, .reg = 2,
     .dsize = 8},
    /* immediate stores */
    {"movl $0x12345678,(%rax)", B(0xc7, 0x00, 0x78, 0x56, 0x34, 0x12), .write = true, .msize = 4,
     .reg = -1, .imm = 0x12345678},
    {"movq $0xffffffffffffffff,(%rax)", B(0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff), .write = true,
     .msize = 8, .reg = -1, .imm = UINT64_MAX},
    {"movq $0x7fffffff,(%rax)", B(0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f), .write = true,
     .msize = 8, .reg = -1, .imm = 0x7fffffff},
    {"movb $0x12,(%rax)", B(0xc6, 0x00, 0x12), .write = true, .msize = 1, .reg = -1, .imm = 0x12},
    {"movw $0x1234,(%rax)", B(0x66, 0xc7, 0x00, 0x34, 0x12), .write = true, .msize = 2, .reg = -1,
     .imm = 0x1234},
    {"movw $0xfffe,(%rax)", B(0x66, 0xc7, 0x00, 0xfe, 0xff), .write = true, .msize = 2, .reg = -1,
     .imm = 0xfffe},
    {"movl $0xdeadbeef,0x200(%rip)", B(0xc7, 0x05, 0x00, 0x02, 0x00, 0x00, 0xef, 0xbe, 0xad, 0xde),
     .write = true, .msize = 4, .reg = -1, .imm = 0xdeadbeef},
    {"movq $0xfffffffffffffffe,0x8(%rax,%rbx,2)",
     B(0x48, 0xc7, 0x44, 0x58, 0x08, 0xfe, 0xff, 0xff, 0xff), .write = true, .msize = 8, .reg = -1,
     .imm = 0xfffffffffffffffe},
    {"movb $0xff,0x40(%r8)", B(0x41, 0xc6, 0x40, 0x40, 0xff), .write = true, .msize = 1, .reg = -1,
     .imm = 0xff},
    /* hand-made: REX.W wins over 0x66; the longest accepted form */
    {"data16 mov %rax,(%rdi)", B(0x66, 0x48, 0x89, 0x07), .write = true, .msize = 8},
    {"data16 movq $0xfffffffffffffffe,(%rax)", B(0x66, 0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff),
     .write = true, .msize = 8, .reg = -1, .imm = 0xfffffffffffffffe},
    {"3 x data16, movq $0xffffffffffffffff,0x12345678(%rdi,%rcx,4)",
     B(0x66, 0x66, 0x66, 0x48, 0xc7, 0x84, 0x8f, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff),
     .write = true, .msize = 8, .reg = -1, .imm = UINT64_MAX},
};

struct bad_vec {
	const char *text;
	uint8_t b[16];
	size_t n;
};

static const struct bad_vec io_bad[] = {
    {"insb (%dx),%es:(%edi)", B(0x67, 0x6c)},
    {"rep outsw %ds:(%esi),(%dx)", B(0x66, 0xf3, 0x67, 0x6f)},
    {"addr32 in (%dx),%al", B(0x67, 0xec)},
    {"cs outsb (objdump drops cs, ignored in 64-bit mode)", B(0x2e, 0x6e)},
    {"outsb %fs:(%rsi),(%dx)", B(0x64, 0x6e)},
    {"es insb", B(0x26, 0x6c)},
    {"gs in (%dx),%al", B(0x65, 0xec)},
    {"lock in (%dx),%al", B(0xf0, 0xec)},
    {"repnz insb", B(0xf2, 0x6c)},
    {"rex.W ; in (%dx),%ax (REX not last)", B(0x48, 0x66, 0xed)},
    {"rex.W ; rex.W in (%dx),%eax", B(0x48, 0x48, 0xed)},
    {"ud2", B(0x0f, 0x0b)},
    {"nop", B(0x90)},
    {"hlt", B(0xf4)},
    {"int $0x80", B(0xcd, 0x80)},
    {"mov %eax,(%rdi)", B(0x89, 0x07)},
    {"15 x data16 (no room for the opcode)",
     B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66)},
    {"15 x data16, in (%dx),%ax", B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				    0x66, 0x66, 0x66, 0x66, 0x66, 0xed)},
    {"14 x data16, in $0x12,%ax", B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				    0x66, 0x66, 0x66, 0x66, 0xe5, 0x12)},
};

static const struct bad_vec mmio_bad[] = {
    {"mov %eax,%ebx (mod 3)", B(0x89, 0xc3)},
    {"mov %ah,%al (mod 3)", B(0x8a, 0xc4)},
    {"movzbl %al,%eax (mod 3)", B(0x0f, 0xb6, 0xc0)},
    {"movq $0x1,%rax (mod 3)", B(0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00)},
    {"lock mov %eax,(%rdi)", B(0xf0, 0x89, 0x07)},
    {"xrelease mov %eax,(%rdi)", B(0xf3, 0x89, 0x07)},
    {"repnz mov (%rdi),%eax", B(0xf2, 0x8b, 0x07)},
    {"mov %fs:(%rax),%eax", B(0x64, 0x8b, 0x00)},
    {"mov %gs:(%rax),%eax", B(0x65, 0x8b, 0x00)},
    {"cs mov (%rax),%eax", B(0x2e, 0x8b, 0x00)},
    {"mov (%edi),%eax", B(0x67, 0x8b, 0x07)},
    {"rex.W ; mov %ax,(%rdi) (REX not last)", B(0x48, 0x66, 0x89, 0x07)},
    {"rex.W ; mov %rax,(%rdi) (two REX)", B(0x48, 0x48, 0x89, 0x07)},
    {"movsxd (%rdi),%eax (no REX.W)", B(0x63, 0x07)},
    {"c7 /1", B(0xc7, 0x08, 0x00, 0x00, 0x00, 0x00)},
    {"c6 /7", B(0xc6, 0x38, 0x00)},
    {"add %eax,(%rdi)", B(0x01, 0x07)},
    {"imul (%rdi),%eax", B(0x0f, 0xaf, 0x07)},
    {"ud2", B(0x0f, 0x0b)},
    {"movnti %eax,(%rdi)", B(0x0f, 0xc3, 0x07)},
    {"out %al,(%dx)", B(0xee)},
    {"4 x data16, movq $0xffffffffffffffff,0x12345678(%rdi,%rcx,4) (16 bytes)",
     B(0x66, 0x66, 0x66, 0x66, 0x48, 0xc7, 0x84, 0x8f, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff,
       0xff)},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Decodes from a heap copy of exactly avail bytes so that ASan sees any over-read. */
static int decode(int (*fn)(const uint8_t *, size_t, struct hv_insn *), const uint8_t *b,
		  size_t avail, struct hv_insn *out)
{
	uint8_t *copy = malloc(avail);
	int ret;

	ck_assert(copy || !avail);
	if (avail)
		memcpy(copy, b, avail);
	ret = fn(copy, avail, out);
	free(copy);
	return ret;
}

/* A prefilled *out shows whether a failed decode left it alone. */
static void poison(struct hv_insn *in)
{
	memset(in, 0xa5, sizeof(*in));
}

static void assert_untouched(const struct hv_insn *in, const char *text)
{
	const uint8_t *p = (const uint8_t *)in;

	for (size_t i = 0; i < sizeof(*in); i++)
		ck_assert_msg(p[i] == 0xa5, "%s: *out written on failure", text);
}

START_TEST(io_decodes)
{
	const struct io_vec *v = &io_vecs[_i];
	uint8_t padded[32];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_io, v->b, v->n, &in) == 0, "%s: refused", v->text);
	ck_assert_int_eq(in.kind, HV_INSN_IO);
	ck_assert_msg(in.len == v->n, "%s: len %u", v->text, in.len);
	ck_assert_msg(in.out == v->out, "%s: out", v->text);
	ck_assert_msg(in.string == v->string, "%s: string", v->text);
	ck_assert_msg(in.rep == v->rep, "%s: rep", v->text);
	ck_assert_msg(in.imm_port == v->imm_port, "%s: imm_port", v->text);
	ck_assert_msg(in.port == v->port, "%s: port %u", v->text, in.port);
	ck_assert_msg(in.size == v->size, "%s: size %u", v->text, in.size);

	/* bytes after the instruction change nothing */
	memset(padded, 0x90, sizeof(padded));
	memcpy(padded, v->b, v->n);
	ck_assert_int_eq(decode(hv_decode_io, padded, sizeof(padded), &in), 0);
	ck_assert_uint_eq(in.len, v->n);
}
END_TEST

START_TEST(io_truncated)
{
	const struct io_vec *v = &io_vecs[_i];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_io, v->b, v->n - 1, &in) == -EFAULT, "%s", v->text);
	for (size_t avail = 0; avail < v->n; avail++)
		ck_assert_msg(decode(hv_decode_io, v->b, avail, &in) == -EFAULT, "%s: avail %zu",
			      v->text, avail);
	assert_untouched(&in, v->text);
}
END_TEST

START_TEST(io_refused)
{
	const struct bad_vec *v = &io_bad[_i];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_io, v->b, v->n, &in) == -EINVAL, "%s: not refused", v->text);
	assert_untouched(&in, v->text);
}
END_TEST

START_TEST(mmio_decodes)
{
	const struct mmio_vec *v = &mmio_vecs[_i];
	uint8_t padded[32];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_mmio, v->b, v->n, &in) == 0, "%s: refused", v->text);
	ck_assert_int_eq(in.kind, HV_INSN_MMIO);
	ck_assert_msg(in.len == v->n, "%s: len %u", v->text, in.len);
	ck_assert_msg(in.write == v->write, "%s: write", v->text);
	ck_assert_msg(in.msize == v->msize, "%s: msize %u", v->text, in.msize);
	ck_assert_msg(in.reg == v->reg, "%s: reg %d", v->text, in.reg);
	ck_assert_msg(in.high8 == v->high8, "%s: high8", v->text);
	ck_assert_msg(in.imm == v->imm, "%s: imm %#llx", v->text, (unsigned long long)in.imm);
	ck_assert_msg(in.dsize == v->dsize, "%s: dsize %u", v->text, in.dsize);
	ck_assert_msg(in.zext == v->zext, "%s: zext", v->text);
	ck_assert_msg(in.sext == v->sext, "%s: sext", v->text);

	memset(padded, 0xcc, sizeof(padded));
	memcpy(padded, v->b, v->n);
	ck_assert_int_eq(decode(hv_decode_mmio, padded, sizeof(padded), &in), 0);
	ck_assert_uint_eq(in.len, v->n);
}
END_TEST

START_TEST(mmio_truncated)
{
	const struct mmio_vec *v = &mmio_vecs[_i];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_mmio, v->b, v->n - 1, &in) == -EFAULT, "%s", v->text);
	for (size_t avail = 0; avail < v->n; avail++)
		ck_assert_msg(decode(hv_decode_mmio, v->b, avail, &in) == -EFAULT, "%s: avail %zu",
			      v->text, avail);
	assert_untouched(&in, v->text);
}
END_TEST

START_TEST(mmio_refused)
{
	const struct bad_vec *v = &mmio_bad[_i];
	struct hv_insn in;

	poison(&in);

	ck_assert_msg(decode(hv_decode_mmio, v->b, v->n, &in) == -EINVAL, "%s: not refused",
		      v->text);
	assert_untouched(&in, v->text);
}
END_TEST

START_TEST(empty_input)
{
	struct hv_insn in;

	poison(&in);

	/* nothing to read, not even through a NULL pointer */
	ck_assert_int_eq(hv_decode_io(NULL, 0, &in), -EFAULT);
	ck_assert_int_eq(hv_decode_mmio(NULL, 0, &in), -EFAULT);
	assert_untouched(&in, "empty");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hv_decode");
	TCase *io = tcase_create("io");
	TCase *mmio = tcase_create("mmio");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(io, io_decodes, 0, ARRAY_SIZE(io_vecs));
	tcase_add_loop_test(io, io_truncated, 0, ARRAY_SIZE(io_vecs));
	tcase_add_loop_test(io, io_refused, 0, ARRAY_SIZE(io_bad));
	tcase_add_test(io, empty_input);
	tcase_add_loop_test(mmio, mmio_decodes, 0, ARRAY_SIZE(mmio_vecs));
	tcase_add_loop_test(mmio, mmio_truncated, 0, ARRAY_SIZE(mmio_vecs));
	tcase_add_loop_test(mmio, mmio_refused, 0, ARRAY_SIZE(mmio_bad));
	suite_add_tcase(s, io);
	suite_add_tcase(s, mmio);
	sr = srunner_create(s);
	/* pure functions over buffers: 262 forks (slow under ASan) would buy nothing */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
