/* SPDX-License-Identifier: MIT */
/*
 * Scorer "pv_affinity": the share of the guest's preferred hooks the host
 * offers (at the guest's ABI version), each weighted by the guest's reported
 * call rate, so the hooks it really uses count most. Precomputed per hook set
 * in the placement context.
 */
#include "schedulers/internal.h"

static double pv_affinity_score(const struct sched_ctx *c, uint32_t hi)
{
	const struct sched_host_hot *h = &c->f->hot[hi];

	return c->affinity[sched_usable_hooks(h->hooks, h->abi_versions, c->g->abi_version)];
}

const struct sched_scorer_plugin sched_scorer_pv_affinity = {
    .name = "pv_affinity",
    .per_class = true,
    .score = pv_affinity_score,
};
