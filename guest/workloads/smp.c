// SPDX-License-Identifier: MIT
/* smp: every vCPU checks in through shared memory; vCPU 0 reports them. */
#include "guest/guest.h"

static volatile uint32_t checked_in[64];

void guest_secondary(unsigned int vcpu)
{
	if (vcpu < 64)
		__atomic_store_n(&checked_in[vcpu], 1, __ATOMIC_RELEASE);
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP))
		guest_pause();
}

int guest_main(void)
{
	uint32_t n = guest_boot->vcpus, seen = 1;

	checked_in[0] = 1;
	for (uint32_t v = 1; v < n && v < 64; v++) {
		while (!__atomic_load_n(&checked_in[v], __ATOMIC_ACQUIRE))
			guest_pause();
		seen++;
	}
	guest_printf("smp: %u of %u vcpus ran\n", seen, n);
	return seen == n ? 0 : 7;
}
