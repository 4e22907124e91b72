// SPDX-License-Identifier: MIT
/* The agent channel: bytes out on the tx ring, posted buffers in on the rx ring. */
#include "guest/guest.h"

#define AGENT_BUF 1024u

static uint8_t tx_buf[AGENT_BUF] __attribute__((aligned(64)));
static uint8_t rx_buf[8][AGENT_BUF] __attribute__((aligned(64)));
static uint32_t rx_posted, rx_taken;
static uint32_t rx_off;

static bool agent_on(void)
{
	return guest_hp && (guest_hp->negotiated & PV_F(PV_HOOK_AGENT));
}

int guest_agent_send(const void *buf, size_t len)
{
	struct guest_ring *r = guest_ring(PV_RING_AGENT_TX);
	const uint8_t *p = buf;

	if (!agent_on())
		return -1;
	while (len) {
		uint32_t n = len > AGENT_BUF ? AGENT_BUF : (uint32_t)len;

		memcpy(tx_buf, p, n);
		guest_ring_post(r, (uint64_t)(uintptr_t)tx_buf, n, PV_OP_WRITE, 0);
		guest_pv_kick(PV_HOOK_AGENT);
		guest_ring_wait(r);
		p += n;
		len -= n;
	}
	return 0;
}

/* Keeps every rx slot posted; the host fills them in order as bytes arrive. */
size_t guest_agent_recv(void *buf, size_t n)
{
	struct guest_ring *r = guest_ring(PV_RING_AGENT_RX);
	size_t got = 0;
	bool posted = false;

	if (!agent_on())
		return 0;
	while (rx_posted - rx_taken < r->size && rx_posted - rx_taken < 8) {
		guest_ring_post(r, (uint64_t)(uintptr_t)rx_buf[rx_posted % 8], AGENT_BUF,
				PV_OP_READ, 0);
		rx_posted++;
		posted = true;
	}
	if (posted)
		guest_pv_kick(PV_HOOK_AGENT);
	while (got < n && rx_taken != r->hdr->cons) {
		volatile struct pv_desc *d = &r->desc[rx_taken & (r->size - 1)];
		uint32_t avail = d->status == PV_ST_OK ? d->done - rx_off : 0;
		uint32_t take = avail < n - got ? avail : (uint32_t)(n - got);

		memcpy((uint8_t *)buf + got, rx_buf[rx_taken % 8] + rx_off, take);
		got += take;
		rx_off += take;
		if (rx_off >= (d->status == PV_ST_OK ? d->done : 0)) {
			rx_taken++;
			rx_off = 0;
		}
	}
	return got;
}
