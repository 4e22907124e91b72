/* SPDX-License-Identifier: MIT */
/*
 * Scorer "binpack": most allocated first (kube-scheduler's MostAllocated):
 * the mean of the host's vCPU and memory use once the guest is on it. Filling
 * the fullest host that still fits is best-fit packing, which keeps the
 * number of hosts in use low.
 */
#include "schedulers/internal.h"

double sched_alloc_after(const struct sched_ctx *c, uint32_t hi)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	double cpu =
	    (double)(h->used_vcpus + c->g->vcpus) / ((double)h->cpus * c->p->cpu_overcommit);
	double mem = (double)(h->used_memory_mib + c->g->memory_mib) / (double)h->memory_mib;

	if (cpu > 1)
		cpu = 1;
	if (mem > 1)
		mem = 1;
	return (cpu + mem) / 2;
}

static double binpack_score(const struct sched_ctx *c, uint32_t hi)
{
	return sched_alloc_after(c, hi);
}

/* The fullest a host of the span can be: vCPUs at the span's most used,
 * memory at its least free. */
static double binpack_bound(const struct sched_ctx *c, const struct sched_span *s)
{
	double cpu =
	    (double)(s->max_used_vcpus + c->g->vcpus) / ((double)s->cpus * c->p->cpu_overcommit);
	double mem =
	    (double)(s->memory_mib - s->free_lo + c->g->memory_mib) / (double)s->memory_mib;

	return ((cpu > 1 ? 1 : cpu) + (mem > 1 ? 1 : mem)) / 2;
}

const struct sched_scorer_plugin sched_scorer_binpack = {
    .name = "binpack",
    .score = binpack_score,
    .bound = binpack_bound,
};
