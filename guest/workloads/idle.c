// SPDX-License-Identifier: MIT
/*
 * idle: waits for the host's graceful stop, serving the agent channel.
 * In pv mode it idles through the halt hint and echoes every agent line it
 * receives to the console ("agent: LINE") and back to the host ("echo: LINE").
 */
#include "guest/guest.h"

static char line[256];
static size_t llen;

static void agent_poll(void)
{
	char buf[128];
	size_t n = guest_agent_recv(buf, sizeof(buf));

	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && llen < sizeof(line) - 1) {
			line[llen++] = buf[i];
			continue;
		}
		if (buf[i] != '\n')
			continue;
		line[llen] = 0;
		guest_printf("agent: %s\n", line);
		guest_console_flush();
		char out[300];
		int len = guest_snprintf(out, sizeof(out), "echo: %s\n", line);

		guest_agent_send(out, (size_t)len);
		llen = 0;
	}
}

int guest_main(void)
{
	if (guest_pv &&
	    guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT) | PV_F(PV_HOOK_HALT)))
		return 1;
	guest_printf("idle: up\n");
	guest_console_flush();
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP)) {
		if (guest_pv) {
			agent_poll();
			guest_halt(100000);
		} else {
			guest_pause();
		}
	}
	guest_printf("idle: stopping on request\n");
	return 0;
}
