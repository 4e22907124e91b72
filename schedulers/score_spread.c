/* SPDX-License-Identifier: MIT */
/* Scorer "spread": least allocated first, the mirror of binpack. */
#include "schedulers/internal.h"

static double spread_score(const struct sched_ctx *c, uint32_t hi)
{
	return 1 - sched_alloc_after(c, hi);
}

/* The emptiest a host of the span can be: no vCPU used yet, memory at the
 * span's most free. */
static double spread_bound(const struct sched_ctx *c, const struct sched_span *s)
{
	double cpu = (double)c->g->vcpus / ((double)s->cpus * c->p->cpu_overcommit);
	double mem =
	    s->free_hi >= s->memory_mib
		? (double)c->g->memory_mib / (double)s->memory_mib
		: (double)(s->memory_mib - s->free_hi + c->g->memory_mib) / (double)s->memory_mib;

	return 1 - ((cpu > 1 ? 1 : cpu) + (mem > 1 ? 1 : mem)) / 2;
}

const struct sched_scorer_plugin sched_scorer_spread = {
    .name = "spread",
    .score = spread_score,
    .bound = spread_bound,
};
