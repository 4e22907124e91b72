/* SPDX-License-Identifier: MIT */
/*
 * Scorer "binpack": most allocated first (kube-scheduler's MostAllocated):
 * the mean of the host's vCPU and memory use once the guest is on it. Filling
 * the fullest host that still fits is best-fit packing, which keeps the
 * number of hosts in use low.
 */
#include <math.h>

#include "schedulers/internal.h"

#define ALIGN_POWER 12

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

/*
 * The cosine between what the guest asks for and what the host has free,
 * each dimension weighted by how scarce it is in the fleet: a host whose
 * free space has the guest's shape keeps its remainder usable (Panigrahy et
 * al., "Heuristics for Vector Bin Packing", 2011: dot-product greedy).
 */
static double alignment(const struct sched_ctx *c, const struct sched_host_hot *h)
{
	double cap = (double)h->cpus * c->p->cpu_overcommit;
	double dc = c->weight_cpu * (double)c->g->vcpus / cap;
	double dm = c->weight_mem * (double)c->g->memory_mib / (double)h->memory_mib;
	double rc = c->weight_cpu * (1 - (double)h->used_vcpus / cap);
	double rm = c->weight_mem * (1 - (double)h->used_memory_mib / (double)h->memory_mib);
	double n = sqrt((dc * dc + dm * dm) * (rc * rc + rm * rm));

	return n > 0 ? (dc * rc + dm * rm) / n : 1;
}

/* Best fit by fill, steered by shape: the cosine's power makes a mismatched
 * shape cost more than a few percent of fill (12, tuned on seeds 1-5 of the
 * two-dimensional packing instances, which bench/sched does not report). */
static double binpack_score(const struct sched_ctx *c, uint32_t hi)
{
	double a = alignment(c, &c->f->hot[hi]);

	return sched_alloc_after(c, hi) * pow(a > 0 ? a : 0, ALIGN_POWER);
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
