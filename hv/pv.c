// SPDX-License-Identifier: MIT
/*
 * The pv hook ABI v1, host side: negotiation (PV_PORT_NEGOTIATE, served on
 * the vCPU thread because the guest waits for the answer), the doorbell port
 * (an eventfd per asynchronous hook, signalled by the platform without a
 * synchronous exit and served by the I/O thread; anything
 * else exits to user space and is served on the vCPU thread) and the
 * descriptor-ring walker every ring hook uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hv/vm.h"

/* Hooks whose doorbells need no synchronous answer: served by the I/O thread. */
static const bool hook_async[PV_HOOK_COUNT] = {
    [PV_HOOK_CONSOLE] = true,
    [PV_HOOK_BLOCK] = true,
    [PV_HOOK_AGENT] = true,
};

/*
 * Buffer bytes one pass over a ring may move. A longer batch (a ring of
 * descriptors each as large as RAM) is served in slices, the pv lock let go
 * between them, so it cannot hold negotiation, halts and stats for minutes.
 * The SDK's largest batch (64 block descriptors of 1 MiB) is one slice.
 */
#define HV_RING_PASS_BYTES (64ull << 20)

static struct pv_hook_page *hook_page(struct hv_vm *vm)
{
	return vm->pv.hook_page ? hv_gpa(vm, vm->pv.hook_page, sizeof(struct pv_hook_page)) : NULL;
}

void hv_pv_set_hook_error(struct hv_vm *vm, unsigned int hook, uint32_t st)
{
	struct pv_hook_page *hp = hook_page(vm);

	HV_STAT_ADD(vm->stats.hooks[hook].errors, 1);
	if (hp)
		__atomic_store_n(&hp->hook_error[hook], st, __ATOMIC_RELEASE);
}

uint32_t hv_desc_buf(struct hv_vm *vm, const struct pv_desc *d, uint8_t **buf)
{
	if (d->len == 0)
		return PV_ST_BAD_LEN;
	/* the system area below PV_IMAGE_MIN (page tables, IDT) is off limits */
	if (d->addr < PV_IMAGE_MIN)
		return PV_ST_BAD_ADDR;
	*buf = hv_gpa(vm, d->addr, d->len);
	return *buf ? PV_ST_OK : PV_ST_BAD_ADDR;
}

static struct pv_ring_hdr *ring_hdr(struct hv_vm *vm, struct hv_ring *r)
{
	return hv_gpa(vm, r->gpa, sizeof(struct pv_ring_hdr));
}

struct pv_desc *hv_ring_desc(struct hv_vm *vm, struct hv_ring *r, uint32_t idx)
{
	return hv_gpa(vm,
		      r->gpa + sizeof(struct pv_ring_hdr) +
			  (uint64_t)(idx & (r->size - 1)) * sizeof(struct pv_desc),
		      sizeof(struct pv_desc));
}

/* prod from the guest, checked against the host's cons; -1 on a bad index. */
int64_t hv_ring_pending(struct hv_vm *vm, unsigned int hook, struct hv_ring *r)
{
	struct pv_ring_hdr *hdr = ring_hdr(vm, r);
	uint32_t prod = __atomic_load_n(&hdr->prod, __ATOMIC_ACQUIRE);

	if (prod - r->cons > r->size) {
		hv_pv_set_hook_error(vm, hook, PV_ST_BAD_INDEX);
		return -1;
	}
	return prod - r->cons;
}

void hv_ring_complete(struct hv_vm *vm, unsigned int hook, struct hv_ring *r, struct pv_desc *slot,
		      uint32_t st, uint32_t done)
{
	__atomic_store_n(&slot->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&slot->status, (uint16_t)st, __ATOMIC_RELAXED);
	if (st != PV_ST_OK)
		hv_pv_set_hook_error(vm, hook, st);
	else
		HV_STAT_ADD(vm->stats.hooks[hook].calls, 1);
	r->cons++;
	__atomic_store_n(&ring_hdr(vm, r)->cons, r->cons, __ATOMIC_RELEASE);
}

uint64_t hv_ring_serve(struct hv_vm *vm, unsigned int hook, unsigned int ring, hv_desc_fn fn)
{
	struct hv_ring *r = &vm->pv.rings[ring];
	int64_t n;
	uint64_t served = 0, bytes = 0;

	if (!r->valid)
		return 0;
	n = hv_ring_pending(vm, hook, r);
	for (; n > 0; n--, served++) {
		struct pv_desc *slot = hv_ring_desc(vm, r, r->cons);
		struct pv_desc d;
		uint8_t *buf = NULL;
		uint32_t st;

		if (bytes >= HV_RING_PASS_BYTES) {
			/* the I/O thread comes back for the rest (io_thread) */
			__atomic_fetch_or(&vm->pv.backlog, PV_F(hook), __ATOMIC_RELAXED);
			break;
		}
		/* one snapshot: the guest may rewrite the slot while we work */
		memcpy(&d, slot, sizeof(d));
		d.done = 0;
		st = hv_desc_buf(vm, &d, &buf);
		if (st == PV_ST_OK) {
			st = fn(vm, &d, buf);
			bytes += d.len;
		}
		hv_ring_complete(vm, hook, r, slot, st, st == PV_ST_OK ? d.done : 0);
	}
	return served;
}

static void stats_hist(struct hv_hook_stats *s, uint64_t ns)
{
	unsigned int b = ns ? 63 - (unsigned int)__builtin_clzll(ns) : 0;

	if (b >= HV_HIST_BUCKETS)
		b = HV_HIST_BUCKETS - 1;
	HV_STAT_ADD(s->hist[b], 1);
	HV_STAT_ADD(s->service_ns, ns);
}

void hv_stats_doorbell(struct hv_vm *vm, unsigned int hook, uint64_t n)
{
	uint64_t zero = 0;

	if (hook < PV_HOOK_COUNT)
		HV_STAT_ADD(vm->stats.hooks[hook].doorbells, n);
	__atomic_compare_exchange_n(&vm->stats.first_doorbell_ns, &zero, pvm_now_ns(), false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void hv_pv_serve(struct hv_vm *vm, unsigned int hook)
{
	struct pv_hook_page *hp;
	uint64_t t0 = pvm_now_ns();

	__atomic_fetch_and(&vm->pv.backlog, ~PV_F(hook), __ATOMIC_RELAXED);
	if (!(vm->pv.negotiated & PV_F(hook))) {
		hv_pv_set_hook_error(vm, hook, PV_ST_NOT_NEGOTIATED);
	} else {
		switch (hook) {
		case PV_HOOK_CONSOLE:
			hv_pv_console_serve(vm);
			break;
		case PV_HOOK_BLOCK:
			hv_pv_block_serve(vm);
			break;
		case PV_HOOK_AGENT:
			hv_pv_agent_serve(vm);
			break;
		case PV_HOOK_HALT:
			hv_pv_halt(vm);
			break;
		default: /* the clock hook has no doorbell */
			hv_pv_set_hook_error(vm, hook, PV_ST_BAD_OP);
			break;
		}
	}
	hp = hook_page(vm);
	/* served[] tells the guest its batch is done, not that a slice is */
	if (hp && !(vm->pv.backlog & PV_F(hook)))
		__atomic_fetch_add(&hp->served[hook], 1, __ATOMIC_RELEASE);
	stats_hist(&vm->stats.hooks[hook], pvm_now_ns() - t0);
}

/* ---- negotiation ------------------------------------------------------ */

static uint32_t check_ring(struct hv_vm *vm, const struct pv_ring_reg *reg, struct hv_ring *out)
{
	uint64_t bytes;

	if (reg->size == 0 || reg->size > PV_RING_MAX_SIZE || (reg->size & (reg->size - 1)) ||
	    reg->gpa % 64 || reg->gpa < PV_IMAGE_MIN)
		return PV_REASON_BAD_RING;
	bytes = sizeof(struct pv_ring_hdr) + (uint64_t)reg->size * sizeof(struct pv_desc);
	if (!hv_gpa(vm, reg->gpa, bytes))
		return PV_REASON_BAD_RING;
	*out = (struct hv_ring){.gpa = reg->gpa, .size = reg->size, .valid = true};
	return PV_REASON_OK;
}

static uint32_t negotiate(struct hv_vm *vm, uint64_t gpa, struct pv_hook_page *hp)
{
	struct hv_pv *pv = &vm->pv;
	struct pv_hook_page req;
	struct hv_ring rings[PV_RING_COUNT] = {0};
	uint32_t reason = PV_REASON_OK;
	int ret;

	memcpy(&req, hp, sizeof(req));
	if (pv->hook_page)
		return PV_REASON_ALREADY;
	if (req.magic != PV_HOOK_MAGIC)
		return PV_REASON_BAD_MAGIC;
	if (req.abi_version < PV_ABI_VERSION_MIN)
		return PV_REASON_VERSION_OLD;
	if (req.abi_version > PV_ABI_VERSION)
		return PV_REASON_VERSION_NEW;
	if (req.accepted & ~vm->cfg.offered)
		return PV_REASON_FEATURES;
	if (req.accepted & PV_F(PV_HOOK_CONSOLE))
		reason = check_ring(vm, &req.rings[PV_RING_CONSOLE], &rings[PV_RING_CONSOLE]);
	if (!reason && (req.accepted & PV_F(PV_HOOK_BLOCK)))
		reason = check_ring(vm, &req.rings[PV_RING_BLOCK], &rings[PV_RING_BLOCK]);
	if (!reason && (req.accepted & PV_F(PV_HOOK_AGENT)))
		reason = check_ring(vm, &req.rings[PV_RING_AGENT_TX], &rings[PV_RING_AGENT_TX]);
	if (!reason && (req.accepted & PV_F(PV_HOOK_AGENT)))
		reason = check_ring(vm, &req.rings[PV_RING_AGENT_RX], &rings[PV_RING_AGENT_RX]);
	if (reason)
		return reason;
	if (req.accepted & PV_F(PV_HOOK_CLOCK)) {
		if (req.clock_gpa % PV_PAGE_SIZE || req.clock_gpa < PV_IMAGE_MIN ||
		    !hv_gpa(vm, req.clock_gpa, PV_PAGE_SIZE) ||
		    (req.clock_gpa < gpa + PV_PAGE_SIZE && gpa < req.clock_gpa + PV_PAGE_SIZE))
			return PV_REASON_BAD_CLOCK;
		ret = hv_pv_clock_setup(vm, req.clock_gpa);
		if (ret)
			return PV_REASON_BAD_CLOCK;
	}
	for (unsigned int i = 0; i < PV_RING_COUNT; i++) {
		pv->rings[i] = rings[i];
		if (rings[i].valid)
			__atomic_store_n(&ring_hdr(vm, &rings[i])->cons, 0, __ATOMIC_RELEASE);
	}
	pv->hook_page = gpa;
	pv->negotiated = req.accepted;
	pv->guest_version = req.abi_version;
	pv->clock_gpa = req.clock_gpa;
	return PV_REASON_OK;
}

static void pv_reset(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;

	pv->hook_page = 0;
	pv->negotiated = 0;
	pv->guest_version = 0;
	pv->clock_gpa = 0;
	memset(pv->rings, 0, sizeof(pv->rings));
	__atomic_store_n(&pv->backlog, 0, __ATOMIC_RELAXED);
	pv->last_reason = PV_REASON_NONE;
	HV_STAT_ADD(vm->stats.neg_resets, 1);
}

static void negotiate_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
			 uint32_t size, uint32_t count)
{
	struct hv_pv *pv = &vm->pv;
	struct pv_hook_page *hp;
	uint32_t pfn, reason;
	uint64_t gpa;

	(void)dev;
	(void)port;
	pthread_mutex_lock(&pv->lock);
	if (!out) {
		memset(data, 0xff, (size_t)size * count);
		if (size == 4 && count == 1)
			memcpy(data, &pv->last_reason, 4);
		goto out;
	}
	if (size != 4 || count != 1) {
		pv->last_reason = PV_REASON_BAD_PAGE;
		HV_STAT_ADD(vm->stats.neg_refused, 1);
		goto out;
	}
	memcpy(&pfn, data, 4);
	if (pfn == 0) {
		pv_reset(vm);
		goto out;
	}
	gpa = (uint64_t)pfn << 12;
	hp = gpa >= PV_IMAGE_MIN ? hv_gpa(vm, gpa, PV_PAGE_SIZE) : NULL;
	reason = hp ? negotiate(vm, gpa, hp) : PV_REASON_BAD_PAGE;
	pv->last_reason = reason;
	if (reason == PV_REASON_OK)
		HV_STAT_ADD(vm->stats.neg_accepted, 1);
	else
		HV_STAT_ADD(vm->stats.neg_refused, 1);
	if (hp) {
		hp->reason = reason;
		hp->negotiated = reason == PV_REASON_OK ? pv->negotiated : 0;
		__atomic_store_n(&hp->status,
				 reason == PV_REASON_OK ? PV_NEG_ACCEPTED : PV_NEG_REFUSED,
				 __ATOMIC_RELEASE);
	}
	pvm_log_debug("pv: negotiation at 0x%llx: reason %u, hooks 0x%llx", (unsigned long long)gpa,
		      reason, (unsigned long long)pv->negotiated);
out:
	pthread_mutex_unlock(&pv->lock);
}

/* ---- doorbells -------------------------------------------------------- */

static void doorbell_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
			uint32_t size, uint32_t count)
{
	uint32_t hook;

	(void)dev;
	(void)port;
	if (!out || size != 4 || count != 1) {
		HV_STAT_ADD(vm->stats.bad_doorbell, 1);
		if (!out)
			memset(data, 0xff, (size_t)size * count);
		return;
	}
	memcpy(&hook, data, 4);
	if (hook >= PV_HOOK_COUNT) {
		HV_STAT_ADD(vm->stats.unknown_hook, 1);
		hv_stats_doorbell(vm, hook, 1);
		return;
	}
	hv_stats_doorbell(vm, hook, 1);
	pthread_mutex_lock(&vm->pv.lock);
	hv_pv_serve(vm, hook);
	pthread_mutex_unlock(&vm->pv.lock);
}

/* A vCPU idling in a halt hint wakes up for agent bytes and served rings. */
static void wake_halted(struct hv_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_fetch_add(&vm->halt_wakes, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static void drain_hook(struct hv_vm *vm, unsigned int hook)
{
	uint64_t n;

	if (read(vm->pv.efd[hook], &n, sizeof(n)) != sizeof(n))
		return;
	HV_STAT_ADD(vm->stats.exits[HV_EXITK_DOORBELL_KERNEL], n);
	hv_stats_doorbell(vm, hook, n);
	pthread_mutex_lock(&vm->pv.lock);
	hv_pv_serve(vm, hook);
	pthread_mutex_unlock(&vm->pv.lock);
	/* a guest waiting for this ring may be in a halt hint (guest_pv_relax) */
	wake_halted(vm);
}

static void *io_thread(void *arg)
{
	struct hv_vm *vm = arg;
	struct epoll_event ev[8];
	int ret = vm->cfg.confine ? hv_confine_thread(HV_THREAD_IO) : 0;

	if (ret) {
		hv_vm_end(vm, HV_EXIT_INTERNAL, "pv I/O thread: seccomp: %s", strerror(-ret));
		return NULL;
	}
	for (;;) {
		/* a batch cut at the pass budget goes on after a millisecond in
		 * which vCPUs and the control thread can take the pv lock: a
		 * mutex released and retaken at once is rarely handed over */
		bool backlog = __atomic_load_n(&vm->pv.backlog, __ATOMIC_RELAXED);
		int n = epoll_wait(vm->pv.epfd, ev, 8, backlog ? 1 : hv_agent_timeout_ms(vm));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) { /* a cut batch, or the agent session's deadline (SYNC retry) */
			pthread_mutex_lock(&vm->pv.lock);
			for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
				if (vm->pv.backlog & PV_F(h))
					hv_pv_serve(vm, h);
			hv_agent_pump(vm);
			pthread_mutex_unlock(&vm->pv.lock);
			wake_halted(vm);
		}
		for (int i = 0; i < n; i++) {
			unsigned int tag = ev[i].data.u32;
			uint64_t v;

			if (tag < PV_HOOK_COUNT) {
				drain_hook(vm, tag);
				continue;
			}
			if (read(vm->pv.wake_fd, &v, sizeof(v)) != sizeof(v))
				continue;
			if (__atomic_load_n(&vm->done, __ATOMIC_ACQUIRE))
				return NULL;
			pthread_mutex_lock(&vm->pv.lock);
			hv_agent_pump(vm);
			pthread_mutex_unlock(&vm->pv.lock);
			wake_halted(vm);
		}
	}
	return NULL;
}

int hv_pv_init(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;

	pthread_mutex_init(&pv->lock, NULL);
	pv->last_reason = PV_REASON_NONE;
	pv->wake_fd = pv->epfd = -1;
	for (unsigned int i = 0; i < PV_HOOK_COUNT; i++)
		pv->efd[i] = -1;
	pv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pv->wake_fd < 0 || pv->epfd < 0)
		return -errno;
	return 0;
}

/* Registers the devices and the ioeventfds and starts the I/O thread. */
int hv_pv_start(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;
	struct epoll_event ev = {.events = EPOLLIN};
	int ret;

	if (!vm->blk.sectors)
		vm->cfg.offered &= ~PV_F(PV_HOOK_BLOCK);
	vm->boot->offered = vm->cfg.offered;
	ret =
	    hv_bus_register(&vm->bus, PV_PORT_NEGOTIATE, 4, HV_IODEV_NEGOTIATE, negotiate_io, NULL);
	if (!ret)
		ret = hv_bus_register(&vm->bus, PV_PORT_DOORBELL, 4, HV_IODEV_DOORBELL, doorbell_io,
				      NULL);
	if (ret)
		return ret;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		if (!hook_async[h])
			continue;
		pv->efd[h] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (pv->efd[h] < 0)
			return -errno;
		ret = vm->plat->doorbell_async(vm, h, pv->efd[h]);
		if (ret)
			return ret;
		ev.data.u32 = h;
		if (epoll_ctl(pv->epfd, EPOLL_CTL_ADD, pv->efd[h], &ev) < 0)
			return -errno;
	}
	ev.data.u32 = 0xffff;
	if (epoll_ctl(pv->epfd, EPOLL_CTL_ADD, pv->wake_fd, &ev) < 0)
		return -errno;
	ret = pthread_create(&pv->io_thread, NULL, io_thread, vm);
	if (ret)
		return -ret;
	pv->io_started = true;
	return 0;
}

void hv_pv_wake(struct hv_vm *vm)
{
	uint64_t one = 1;

	if (write(vm->pv.wake_fd, &one, sizeof(one)) < 0)
		pvm_log_warn("pv: waking the I/O thread: %s", strerror(errno));
}

void hv_pv_stop(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;

	if (!pv->io_started)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->done = true;
	pthread_mutex_unlock(&vm->lock);
	hv_pv_wake(vm);
	pthread_join(pv->io_thread, NULL);
	pv->io_started = false;
	/* doorbells rung just before the end are still served and counted */
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		if (pv->efd[h] >= 0)
			drain_hook(vm, h);
}

void hv_pv_free(struct hv_vm *vm)
{
	struct hv_pv *pv = &vm->pv;

	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		if (pv->efd[h] >= 0)
			close(pv->efd[h]);
	if (pv->wake_fd >= 0)
		close(pv->wake_fd);
	if (pv->epfd >= 0)
		close(pv->epfd);
	free(pv->agent_q);
	hv_agent_free(vm);
	pthread_mutex_destroy(&pv->lock);
}
