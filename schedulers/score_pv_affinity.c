/* SPDX-License-Identifier: MIT */
/*
 * Scorer "pv_affinity": the share of the guest's preferred hooks the host
 * offers (at the guest's ABI version), each weighted by the guest's reported
 * call rate, so the hooks it really uses count most, times what it keeps of
 * the scarce hooks the host would spend on it (sched_hooks_kept).
 * Precomputed per hook set in the placement context. A Linux guest has no
 * affinity for a host that runs Linux under TCG: its kernel runs there many
 * times slower than on VMX/SVM, so any host with hardware virtualization
 * that fits comes first.
 */
#include "schedulers/internal.h"

static double pv_affinity_score(const struct sched_ctx *c, uint32_t hi)
{
	const struct sched_host_hot *h = &c->f->hot[hi];

	if (c->g->kind == SCHED_KIND_LINUX && h->linux_tcg)
		return 0;
	return sched_ctx_affinity(c, h);
}

const struct sched_scorer_plugin sched_scorer_pv_affinity = {
    .name = "pv_affinity",
    .per_class = true,
    .score = pv_affinity_score,
};
