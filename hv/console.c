// SPDX-License-Identifier: MIT
/*
 * The console sink shared by the UART and the console hook. A host may cap
 * what one guest writes (--console-limit): past the cap bytes are counted and
 * dropped, so a guest cannot fill the host's disk through its console log.
 */
#include <errno.h>
#include <unistd.h>

#include "hv/vm.h"

void hv_console_write(struct hv_vm *vm, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	uint64_t limit = vm->cfg.console_limit;

	if (limit) {
		uint64_t before =
		    __atomic_fetch_add(&vm->stats.console_written, n, __ATOMIC_RELAXED);
		uint64_t room = before >= limit ? 0 : limit - before;

		if (n > room) {
			HV_STAT_ADD(vm->stats.console_dropped, n - room);
			n = (size_t)room;
		}
	}
	while (n) {
		ssize_t w = write(vm->cfg.console_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a closed console loses output, not the guest */
		p += w;
		n -= (size_t)w;
	}
}
