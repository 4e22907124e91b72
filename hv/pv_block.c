// SPDX-License-Identifier: MIT
/* Block hook: each descriptor reads or writes up to 1 MiB at a sector. */
#include <errno.h>
#include <unistd.h>

#include "hv/vm.h"

static uint32_t block_desc(struct hv_vm *vm, struct pv_desc *d, uint8_t *buf)
{
	struct hv_blkdev *b = &vm->blk;
	uint64_t nsec = d->len / PV_SECTOR_SIZE;
	uint32_t left = d->len;
	off_t off;

	if (d->op != PV_OP_READ && d->op != PV_OP_WRITE)
		return PV_ST_BAD_OP;
	if (d->len % PV_SECTOR_SIZE || d->len > PV_BLOCK_MAX_LEN)
		return PV_ST_BAD_LEN;
	if (d->sector >= b->sectors || nsec > b->sectors - d->sector)
		return PV_ST_BAD_SECTOR;
	off = (off_t)(d->sector * PV_SECTOR_SIZE);
	while (left) {
		ssize_t n = d->op == PV_OP_WRITE ? pwrite(b->fd, buf, left, off)
						 : pread(b->fd, buf, left, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PV_ST_IO;
		buf += n;
		off += n;
		left -= (uint32_t)n;
	}
	d->done = d->len;
	HV_STAT_ADD(vm->stats.hooks[PV_HOOK_BLOCK].bytes, d->len);
	return PV_ST_OK;
}

void hv_pv_block_serve(struct hv_vm *vm)
{
	hv_ring_serve(vm, PV_HOOK_BLOCK, PV_RING_BLOCK, block_desc);
}
