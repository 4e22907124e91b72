// SPDX-License-Identifier: MIT
/* block: writes kib=N KiB of a pattern from sector=S, reads it back, verifies. */
#include "guest/guest.h"

GUEST_AGENT("block");

static uint32_t pattern(uint64_t i)
{
	return (uint32_t)(i * 2654435761u) ^ 0x5a5a5a5au;
}

int guest_main(void)
{
	uint64_t kib = guest_arg_u64("kib", 64), sector = guest_arg_u64("sector", 0);
	uint64_t len = kib * 1024;
	uint32_t *wbuf = (uint32_t *)(uintptr_t)guest_boot->free_start;
	uint32_t *rbuf = wbuf + len / 4;

	if (guest_pv &&
	    guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_BLOCK) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	if (!guest_boot->disk_sectors ||
	    (sector + len / PV_SECTOR_SIZE) > guest_boot->disk_sectors) {
		guest_printf("block: disk too small or missing\n");
		return 3;
	}
	if (guest_boot->free_start + 2 * len > guest_boot->free_end) {
		guest_printf("block: not enough memory for %lu KiB\n", kib);
		return 3;
	}
	for (uint64_t i = 0; i < len / 4; i++) {
		wbuf[i] = pattern(i + sector * 128);
		rbuf[i] = 0;
	}
	uint64_t t0 = guest_stopwatch_ns();

	if (guest_block_rw(true, sector, wbuf, len) || guest_block_rw(false, sector, rbuf, len)) {
		guest_printf("block: I/O error\n");
		return 4;
	}
	guest_work_report(guest_stopwatch_ns() - t0);
	if (memcmp(wbuf, rbuf, len)) {
		guest_printf("block: data mismatch\n");
		return 5;
	}
	guest_printf("block: %lu KiB written and verified\n", kib);
	return 0;
}
