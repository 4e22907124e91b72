// SPDX-License-Identifier: MIT
/* console: writes bytes=N bytes of numbered text lines, identical in both modes. */
#include "guest/guest.h"

GUEST_AGENT("console");

int guest_main(void)
{
	uint64_t bytes = guest_arg_u64("bytes", 4096);
	char line[64];
	uint64_t n = 0, t0;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	t0 = guest_stopwatch_ns();
	for (uint64_t i = 0; n < bytes; i++) {
		int len = guest_snprintf(line, sizeof(line),
					 "line %08lu abcdefghijklmnopqrstuvwxyz\n", i);

		if ((uint64_t)len > bytes - n) {
			len = (int)(bytes - n);
			line[len - 1] = '\n';
		}
		guest_console_write(line, (size_t)len);
		n += (uint64_t)len;
	}
	guest_console_flush();
	guest_work_report(guest_stopwatch_ns() - t0);
	return 0;
}
