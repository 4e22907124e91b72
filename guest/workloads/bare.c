// SPDX-License-Identifier: MIT
/*
 * bare: the cost floor. exits=N writes to a port nobody serves (one
 * platform round trip each); doorbells=M empty console doorbells (pv mode),
 * the first of which marks "guest up" for boot-time measurement;
 * roundtrips=R console descriptors of 64 bytes, each rung alone and waited
 * for until the host has completed it; notifies=K console doorbells rung and
 * not waited for (an empty ring: the guest side of an asynchronous doorbell). The exits and round
 * trips are timed (guest.work_ns in the host's stats).
 */
#include "guest/guest.h"

#define PORT_NOBODY 0x510

int guest_main(void)
{
	uint64_t exits = guest_arg_u64("exits", 0), doorbells = guest_arg_u64("doorbells", 1);
	uint64_t roundtrips = guest_arg_u64("roundtrips", 0),
		 notifies = guest_arg_u64("notifies", 0);
	static const char line[64] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
	uint64_t t0;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	for (uint64_t i = 0; guest_pv && i < doorbells; i++)
		guest_pv_kick(PV_HOOK_CONSOLE);
	t0 = guest_stopwatch_ns();
	for (uint64_t i = 0; i < exits; i++)
		guest_outl(PORT_NOBODY, 0);
	for (uint64_t i = 0; guest_pv && i < notifies; i++)
		guest_pv_notify(PV_HOOK_CONSOLE);
	for (uint64_t i = 0; guest_pv && i < roundtrips; i++) {
		guest_console_write(line, sizeof(line));
		guest_console_flush();
	}
	guest_work_report(guest_stopwatch_ns() - t0);
	return 0;
}
