// SPDX-License-Identifier: MIT
/*
 * Agent channel hook: bytes both ways. Guest -> host: descriptors on the tx
 * ring, handed to the VM's agent session (agent.c) or to a raw callback.
 * Host -> guest: the session's output or hv_agent_send() is queued; it fills
 * the empty buffers the guest posts on the rx ring, whenever both exist (on
 * each agent doorbell and on each wake-up of the I/O thread).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vm.h"

#define AGENT_QUEUE_MAX (1u << 20)

static uint32_t agent_tx_desc(struct hv_vm *vm, struct pv_desc *d, uint8_t *buf)
{
	if (d->op != PV_OP_WRITE)
		return PV_ST_BAD_OP;
	if (vm->pv.agent_rx)
		vm->pv.agent_rx(vm->pv.agent_opaque, buf, d->len);
	else
		hv_agent_feed(vm, buf, d->len);
	d->done = d->len;
	HV_STAT_ADD(vm->stats.hooks[PV_HOOK_AGENT].bytes, d->len);
	return PV_ST_OK;
}

void hv_pv_agent_deliver(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;
	struct hv_ring *r = &pv->rings[PV_RING_AGENT_RX];
	int64_t n;

	if (!r->valid || !(pv->negotiated & PV_F(PV_HOOK_AGENT)))
		return;
	n = hv_ring_pending(vm, PV_HOOK_AGENT, r);
	for (; n > 0 && pv->agent_qlen; n--) {
		struct pv_desc *slot = hv_ring_desc(vm, r, r->cons);
		struct pv_desc d;
		uint8_t *buf = NULL;
		uint32_t st, take = 0;

		memcpy(&d, slot, sizeof(d));
		st = hv_desc_buf(vm, &d, &buf);
		if (st == PV_ST_OK && d.op != PV_OP_READ)
			st = PV_ST_BAD_OP;
		if (st == PV_ST_OK) {
			take = d.len < pv->agent_qlen ? d.len : (uint32_t)pv->agent_qlen;
			memcpy(buf, pv->agent_q, take);
			memmove(pv->agent_q, pv->agent_q + take, pv->agent_qlen - take);
			pv->agent_qlen -= take;
			HV_STAT_ADD(vm->stats.hooks[PV_HOOK_AGENT].bytes, take);
		}
		hv_ring_complete(vm, PV_HOOK_AGENT, r, slot, st, take);
	}
}

void hv_pv_agent_serve(struct hv_vm *vm)
{
	hv_ring_serve(vm, PV_HOOK_AGENT, PV_RING_AGENT_TX, agent_tx_desc);
	hv_agent_pump(vm);
}

void hv_agent_set_rx(struct hv_vm *vm, hv_agent_rx_fn fn, void *opaque)
{
	pthread_mutex_lock(&vm->pv.lock);
	vm->pv.agent_rx = fn;
	vm->pv.agent_opaque = opaque;
	pthread_mutex_unlock(&vm->pv.lock);
}

int hv_pv_agent_queue(struct hv_vm *vm, const void *buf, size_t len)
{
	struct hv_pv *pv = &vm->pv;

	if (len > AGENT_QUEUE_MAX - pv->agent_qlen)
		return -ENOBUFS;
	if (pv->agent_qlen + len > pv->agent_qcap) {
		size_t cap = pv->agent_qcap ? pv->agent_qcap : 4096;
		uint8_t *q;

		while (cap < pv->agent_qlen + len)
			cap *= 2;
		q = realloc(pv->agent_q, cap);
		if (!q)
			return -ENOMEM;
		pv->agent_q = q;
		pv->agent_qcap = cap;
	}
	memcpy(pv->agent_q + pv->agent_qlen, buf, len);
	pv->agent_qlen += len;
	return 0;
}

int hv_agent_send(struct hv_vm *vm, const void *buf, size_t len)
{
	int ret;

	pthread_mutex_lock(&vm->pv.lock);
	ret = hv_pv_agent_queue(vm, buf, len);
	pthread_mutex_unlock(&vm->pv.lock);
	if (ret)
		return ret;
	hv_pv_wake(vm);
	return 0;
}
