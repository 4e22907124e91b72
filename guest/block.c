// SPDX-License-Identifier: MIT
/* Block I/O: descriptors on the block ring, or the port-I/O twin a sector at a time. */
#include "guest/guest.h"

static int block_pv(bool write, uint64_t sector, uint8_t *buf, size_t len)
{
	struct guest_ring *r = guest_ring(PV_RING_BLOCK);
	uint32_t first = r->hdr->prod;
	int ret = 0;

	while (len) {
		uint32_t n = len > PV_BLOCK_MAX_LEN ? PV_BLOCK_MAX_LEN : (uint32_t)len;

		if (r->hdr->prod - r->hdr->cons >= r->size)
			guest_pv_kick(PV_HOOK_BLOCK);
		guest_ring_post(r, (uint64_t)(uintptr_t)buf, n, write ? PV_OP_WRITE : PV_OP_READ,
				sector);
		buf += n;
		len -= n;
		sector += n / PV_SECTOR_SIZE;
	}
	guest_pv_kick(PV_HOOK_BLOCK);
	guest_ring_wait(r);
	for (uint32_t i = first; i != r->hdr->prod; i++)
		if (r->desc[i & (r->size - 1)].status != PV_ST_OK)
			ret = -1;
	return ret;
}

static void rep_outsl(uint16_t port, const void *buf, size_t dwords)
{
	__asm__ volatile("rep outsl" : "+S"(buf), "+c"(dwords) : "d"(port) : "memory");
}

static void rep_insl(uint16_t port, void *buf, size_t dwords)
{
	__asm__ volatile("rep insl" : "+D"(buf), "+c"(dwords) : "d"(port) : "memory");
}

static int block_emulated(bool write, uint64_t sector, uint8_t *buf, size_t len)
{
	for (; len; len -= PV_SECTOR_SIZE, buf += PV_SECTOR_SIZE, sector++) {
		guest_outl(PV_PORT_BLK_LBA, (uint32_t)sector);
		if (write) {
			rep_outsl(PV_PORT_BLK_DATA, buf, PV_SECTOR_SIZE / 4);
			guest_outl(PV_PORT_BLK_CMD, PV_BLK_CMD_WRITE);
		} else {
			guest_outl(PV_PORT_BLK_CMD, PV_BLK_CMD_READ);
			rep_insl(PV_PORT_BLK_DATA, buf, PV_SECTOR_SIZE / 4);
		}
	}
	/* The device latches the first error until this read. */
	return guest_inl(PV_PORT_BLK_CMD) == PV_BLK_ST_OK ? 0 : -1;
}

uint64_t guest_block_bytes_written, guest_block_bytes_read;

int guest_block_rw(bool write, uint64_t sector, void *buf, size_t len)
{
	uint64_t t0;
	int ret;

	if (len % PV_SECTOR_SIZE)
		return -1;
	if (!len)
		return 0;
	if (guest_hp && (guest_hp->negotiated & PV_F(PV_HOOK_BLOCK))) {
		struct guest_hook_count *c = &guest_hook_counts[PV_HOOK_BLOCK];

		t0 = guest_rdtsc();
		ret = block_pv(write, sector, buf, len);
		c->cycles += guest_rdtsc() - t0;
		c->calls++;
		c->bytes += len;
		c->errors += ret != 0;
	} else {
		ret = block_emulated(write, sector, buf, len);
	}
	*(write ? &guest_block_bytes_written : &guest_block_bytes_read) += len;
	guest_agent_tick();
	return ret;
}
