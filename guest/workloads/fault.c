// SPDX-License-Identifier: MIT
/* fault: crashes on purpose (kind=ud|pf|gp) to check the VMM's fault report;
 * kind=forge pretends to be the VMM's fault stub, which must not work. */
#include "guest/guest.h"

int guest_main(void)
{
	char kind[8] = "ud";
	uint64_t addr = 0x10, v;

	guest_arg("kind", kind, sizeof(kind));
	if (kind[0] == 'p') {
		/* page 0 is never mapped */
		__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
		return (int)v;
	}
	if (kind[0] == 'g')
		__asm__ volatile("hlt");
	if (kind[0] == 'f') {
		/* a forged fault report from CPL3 is ignored; then power off cleanly */
		guest_outl(PV_PORT_FAULT, 13);
		return 0;
	}
	__asm__ volatile("ud2");
	return 0;
}
