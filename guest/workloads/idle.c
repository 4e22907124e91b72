// SPDX-License-Identifier: MIT
/*
 * idle: waits for the host's graceful stop (or the agent's shutdown request).
 * In pv mode it idles through the halt hint between polls of its agent,
 * which the host's agent bytes wake up.
 */
#include "guest/guest.h"

GUEST_AGENT("idle");

int guest_main(void)
{
	uint64_t polls = 0;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT)))
		return 1;
	guest_printf("idle: up\n");
	guest_console_flush();
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP)) {
		if (guest_pv) {
			guest_agent_counter("idle_polls", ++polls);
			guest_agent_poll();
			guest_halt(100000);
		} else {
			guest_pause();
		}
	}
	guest_printf("idle: stopping on request\n");
	return 0;
}
