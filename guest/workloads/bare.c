// SPDX-License-Identifier: MIT
/*
 * bare: the cost floor. exits=N writes to a port nobody serves (one KVM
 * round trip each); doorbells=M empty console doorbells (pv mode), the first
 * of which marks "guest up" for boot-time measurement. The exits are timed
 * (guest.work_ns in the host's stats).
 */
#include "guest/guest.h"

#define PORT_NOBODY 0x510

int guest_main(void)
{
	uint64_t exits = guest_arg_u64("exits", 0), doorbells = guest_arg_u64("doorbells", 1);

	uint64_t t0;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	for (uint64_t i = 0; guest_pv && i < doorbells; i++)
		guest_pv_kick(PV_HOOK_CONSOLE);
	t0 = guest_stopwatch_ns();
	for (uint64_t i = 0; i < exits; i++)
		guest_outl(PORT_NOBODY, 0);
	guest_work_report(guest_stopwatch_ns() - t0);
	return 0;
}
