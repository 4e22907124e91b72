// SPDX-License-Identifier: MIT
/*
 * mmio: exercises the VMM's MMIO bus through the window at PV_MMIO_GPA. It
 * writes then reads back one register of each size (1, 2, 4, 8 bytes) at
 * dev=OFFSET into the window (a device the host registered there), then
 * reads each size at nobody=OFFSET (no device: all ones expected) and writes
 * there (dropped). Prints what it read; exits with the number of the first
 * check that failed (1..8), 0 when all held. Offsets are decimal.
 */
#include "guest/guest.h"

static void wr(uint64_t a, unsigned int size, uint64_t v)
{
	/* one instruction of exactly the given width: one MMIO exit each */
	switch (size) {
	case 1:
		__asm__ volatile("movb %b0, (%1)" : : "q"(v), "r"(a) : "memory");
		break;
	case 2:
		__asm__ volatile("movw %w0, (%1)" : : "r"(v), "r"(a) : "memory");
		break;
	case 4:
		__asm__ volatile("movl %k0, (%1)" : : "r"(v), "r"(a) : "memory");
		break;
	default:
		__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(a) : "memory");
		break;
	}
}

static uint64_t rd(uint64_t a, unsigned int size)
{
	uint64_t v = 0;

	switch (size) {
	case 1:
		__asm__ volatile("movzbq (%1), %0" : "=r"(v) : "r"(a) : "memory");
		break;
	case 2:
		__asm__ volatile("movzwq (%1), %0" : "=r"(v) : "r"(a) : "memory");
		break;
	case 4:
		__asm__ volatile("movl (%1), %k0" : "=r"(v) : "r"(a) : "memory");
		break;
	default:
		__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a) : "memory");
		break;
	}
	return v;
}

static const uint64_t values[4] = {0x11, 0x2233, 0x44556677, 0x8899aabbccddeeffull};

int guest_main(void)
{
	uint64_t dev = PV_MMIO_GPA + guest_arg_u64("dev", 0x1000);
	uint64_t nobody = PV_MMIO_GPA + guest_arg_u64("nobody", 0x100000);
	int failed = 0;

	/* register i of size 1 << i sits at offset 8 * i: naturally aligned */
	for (unsigned int i = 0; i < 4; i++)
		wr(dev + 8 * i, 1u << i, values[i]);
	for (unsigned int i = 0; i < 4; i++) {
		uint64_t v = rd(dev + 8 * i, 1u << i);

		guest_printf("mmio: dev size %u read 0x%llx\n", 1u << i, (unsigned long long)v);
		if (v != values[i] && !failed)
			failed = (int)i + 1;
	}
	for (unsigned int i = 0; i < 4; i++) {
		uint64_t ones = i == 3 ? ~0ull : (1ull << (8u << i)) - 1, v;

		wr(nobody + 8 * i, 1u << i, 0);
		v = rd(nobody + 8 * i, 1u << i);
		guest_printf("mmio: nobody size %u read 0x%llx\n", 1u << i, (unsigned long long)v);
		if (v != ones && !failed)
			failed = (int)i + 5;
	}
	return failed;
}
