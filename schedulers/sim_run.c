/* SPDX-License-Identifier: MIT */
/* One policy over one simulated fleet: place every guest, time each decision. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedulers/sim.h"

/* Wall clock, as a caller waiting for the decision sees it. */
static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int sched_sim_run(const struct sched_sim *s, const struct sched_policy *p,
		  struct sched_sim_result *r, struct pvm_err *err)
{
	uint64_t *ns = NULL, total_ns = 0;
	double served = 0, wanted = 0, mem = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->placement = malloc((s->nguests ? s->nguests : 1) * sizeof(*r->placement));
	ns = malloc((s->nguests ? s->nguests : 1) * sizeof(*ns));
	if (!r->placement || !ns) {
		rc = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = sched_fleet_new(p, &r->fleet, err);
	if (rc)
		goto fail;
	for (uint32_t i = 0; i < s->nhosts; i++) {
		rc = sched_fleet_host_add(r->fleet, &s->hosts[i], err);
		if (rc)
			goto fail;
	}
	for (uint32_t i = 0; i < s->nguests; i++) {
		struct sched_placement pl;
		uint64_t t0 = wall_ns(), t1;

		rc = sched_fleet_place_bind(r->fleet, &s->guests[i].spec, NULL, &pl, err);
		t1 = wall_ns();
		ns[i] = t1 - t0;
		total_ns += ns[i];
		r->placement[i] = -1;
		if (rc == SCHED_ENOHOST) {
			r->failed++;
			continue;
		}
		if (rc)
			goto fail;
		r->placed++;
		/* Hosts are added in order, so the fleet index is the sim's. */
		r->placement[i] =
		    (int32_t)(strtoul(pl.host_id + strcspn(pl.host_id, "0123456789"), NULL, 10));
	}
	rc = 0;
	pvm_err_clear(err);
	for (uint32_t h = 0; h < s->nhosts; h++) {
		struct sched_usage u;

		sched_fleet_host_usage(r->fleet, s->hosts[h].id, &u);
		if (!u.guests)
			continue;
		r->hosts_used++;
		mem += (double)u.memory_mib / (double)s->hosts[h].memory_mib;
	}
	r->memory_use = r->hosts_used ? mem / r->hosts_used : 0;
	for (uint32_t i = 0; i < s->nguests; i++) {
		const struct sched_sim_guest *g = &s->guests[i];

		if (r->placement[i] < 0)
			continue;
		if (!sched_sim_compatible(&s->hosts[r->placement[i]], &g->spec))
			r->incompatible++;
		for (unsigned int k = 0; k < PV_HOOK_COUNT; k++) {
			const struct sched_host *h = &s->hosts[r->placement[i]];

			if (!(g->spec.hooks_preferred & (1u << k)))
				continue;
			wanted += g->truth.calls_per_s[k];
			if (h->hooks & (1u << k) && h->abi_versions & (1u << g->spec.abi_version))
				served += g->truth.calls_per_s[k];
		}
	}
	r->hook_served = wanted > 0 ? served / wanted : 1;
	if (s->nguests) {
		r->decisions_per_s = total_ns ? s->nguests * 1e9 / (double)total_ns : 0;
		qsort(ns, s->nguests, sizeof(*ns), cmp_u64);
		r->p50_us = ns[s->nguests / 2] / 1e3;
		r->p99_us = ns[(uint64_t)s->nguests * 99 / 100] / 1e3;
		r->max_us = ns[s->nguests - 1] / 1e3;
	}
	free(ns);
	return 0;
fail:
	free(ns);
	sched_sim_result_free(r);
	return rc;
}

void sched_sim_result_free(struct sched_sim_result *r)
{
	free(r->placement);
	sched_fleet_free(r->fleet);
	memset(r, 0, sizeof(*r));
}
