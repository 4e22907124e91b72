// SPDX-License-Identifier: MIT
/*
 * bare: the cost floor. exits=N writes to a port nobody serves (one KVM
 * round trip each); doorbells=M empty console doorbells (pv mode), the first
 * of which marks "guest up" for boot-time measurement.
 */
#include "guest/guest.h"

#define PORT_NOBODY 0x510

int guest_main(void)
{
	uint64_t exits = guest_arg_u64("exits", 0), doorbells = guest_arg_u64("doorbells", 1);

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE)))
		return 1;
	for (uint64_t i = 0; guest_pv && i < doorbells; i++)
		guest_pv_kick(PV_HOOK_CONSOLE);
	for (uint64_t i = 0; i < exits; i++)
		guest_outl(PORT_NOBODY, 0);
	return 0;
}
