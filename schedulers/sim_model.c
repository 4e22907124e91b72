/* SPDX-License-Identifier: MIT */
/*
 * The overload model. Each second, each guest's activity is its mean times a
 * bursty factor (a log-normal AR(1): x' = 0.8 x + 0.35 e, mean 1), and it
 * wants, on its vCPU threads, its compute (vCPUs x busy share) plus 50 us of
 * host CPU per exit (the measured cost of a user-space exit on PVM-style
 * hosts, 42-62 us: ../shared/PVM-HOSTS.md; the scheduler's default
 * exits_per_core = 20,000 is the same figure), never more than its vCPUs.
 * Its exits are the true ones on its host: base exits plus, for every hook
 * it wants that the host lacks, the exits of the emulated twin. A host-second
 * is overloaded when its guests want more CPU time than it has CPUs.
 *
 * The scheduler never sees this truth: it sees noisy reported statistics
 * (or none), and nothing of compute demand or bursts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/sim.h"

#define EXIT_COST_S 50e-6
#define AR_RHO	    0.8
#define AR_SIGMA    0.35

double sched_sim_true_exits(const struct sched_sim_guest *g, const struct sched_host *h)
{
	uint32_t usable = 0;
	uint32_t wanted = g->spec.hooks_required | g->spec.hooks_preferred;
	double exits = g->truth.exits_per_s;

	if (g->spec.abi_version && (h->abi_versions >> g->spec.abi_version) & 1u)
		usable = h->hooks;
	for (unsigned int k = 0; k < PV_HOOK_COUNT; k++)
		if ((wanted & ~usable) & (1u << k))
			exits += g->truth.exits_avoided_per_s[k];
	return exits;
}

int sched_sim_overload(const struct sched_sim *s, const int32_t *placement, uint32_t seconds,
		       uint64_t seed, struct sched_sim_load *out)
{
	struct sched_sim_rng r = {.s = seed ^ UINT64_C(0x5eed0f10ad)};
	double *x = calloc(s->nguests ? s->nguests : 1, sizeof(*x));
	double *mean = calloc(s->nguests ? s->nguests : 1, sizeof(*mean));
	double *exit_part = calloc(s->nguests ? s->nguests : 1, sizeof(*exit_part));
	double *demand = calloc(s->nhosts ? s->nhosts : 1, sizeof(*demand));
	/* Stationary variance of x, so that E[exp(x - var/2)] = 1. */
	const double var = AR_SIGMA * AR_SIGMA / (1 - AR_RHO * AR_RHO);
	double exit_time = 0, all_time = 0;
	uint32_t used = 0;
	bool *in_use = calloc(s->nhosts ? s->nhosts : 1, sizeof(*in_use));
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!x || !mean || !exit_part || !demand || !in_use) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->nguests; i++) {
		const struct sched_sim_guest *g = &s->guests[i];
		double exits;

		if (placement[i] < 0)
			continue;
		in_use[placement[i]] = true;
		exits = sched_sim_true_exits(g, &s->hosts[placement[i]]);
		exit_part[i] = exits * EXIT_COST_S;
		mean[i] = g->busy * g->spec.vcpus + exit_part[i];
		x[i] = sqrt(var) * sched_sim_normal(&r);
	}
	for (uint32_t h = 0; h < s->nhosts; h++)
		used += in_use[h];
	for (uint32_t t = 0; t < seconds; t++) {
		memset(demand, 0, s->nhosts * sizeof(*demand));
		for (uint32_t i = 0; i < s->nguests; i++) {
			double a, want;

			if (placement[i] < 0)
				continue;
			x[i] = AR_RHO * x[i] + AR_SIGMA * sched_sim_normal(&r);
			a = exp(x[i] - var / 2);
			want = a * mean[i];
			if (want > s->guests[i].spec.vcpus)
				want = s->guests[i].spec.vcpus;
			demand[placement[i]] += want;
			all_time += want;
			exit_time += want * (mean[i] > 0 ? exit_part[i] / mean[i] : 0);
		}
		for (uint32_t h = 0; h < s->nhosts; h++)
			if (in_use[h] && demand[h] > s->hosts[h].cpus)
				out->overloaded_seconds++;
	}
	out->host_seconds = (uint64_t)used * seconds;
	out->exit_share = all_time > 0 ? exit_time / all_time : 0;
out:
	free(x);
	free(mean);
	free(exit_part);
	free(demand);
	free(in_use);
	return rc;
}
