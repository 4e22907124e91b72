/* SPDX-License-Identifier: MIT */
/*
 * pvm-sim: places a synthetic fleet's guests with the real scheduler and
 * prints placement quality and timing in a few lines.
 *
 *   pvm-sim --hosts 50 --guests 400 --seed 1 [--policy P] [--seconds 60]
 *           [--moves 10] [--profile FILE]
 *
 * The pv-aware policy (the default, or P parsed over it) runs beside a
 * pv-blind one: the same filters, including hard compatibility, but packing
 * alone (scorers=binpack:1), blind to hook affinity and exit pressure.
 * The guests are costed by a workload profile: FILE (as bench_pvaware
 * writes one), else the recorded one built in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "schedulers/sim.h"

static const struct pvm_config_key keys[] = {
    {.key = "hosts", .def = "50", .help = "hosts in the fleet"},
    {.key = "guests", .def = "400", .help = "guests to place, in order"},
    {.key = "seed", .def = "1", .help = "seed of the fleet, the guest mix and the bursts"},
    {.key = "policy", .def = "", .help = "pv-aware policy, over the default (see sched.h)"},
    {.key = "seconds", .def = "60", .help = "simulated seconds of the overload model"},
    {.key = "moves", .def = "10", .help = "rebalancer moves to propose afterwards"},
    {.key = "profile", .def = "", .help = "workload profile (default: the recorded one)"},
    {.key = "help", .def = "false", .is_flag = true, .help = "this text"},
};

static const char *const blind_policy = "filters=capacity,state,pv,labels,anti_affinity,"
					"max_guests;scorers=binpack:1";

static void usage(const struct pvm_config *cfg, FILE *fp)
{
	fprintf(fp, "usage: pvm-sim [--hosts N] [--guests M] [--seed S] [--policy P] "
		    "[--seconds T] [--moves K] [--profile FILE]\n");
	pvm_config_usage(cfg, fp);
}

static int report(const char *name, const struct sched_sim *s, const struct sched_policy *p,
		  uint32_t seconds, uint64_t seed, struct sched_sim_result *r, struct pvm_err *err)
{
	struct sched_sim_load load;
	char pol[512];
	int rc = sched_sim_run(s, p, r, err);

	if (rc)
		return rc;
	rc = sched_sim_overload(s, r->placement, seconds, seed, &load);
	if (rc)
		return pvm_err_set(err, rc, "overload model: out of memory");
	sched_policy_format(p, pol, sizeof(pol));
	printf("%-9s %s\n", name, pol);
	printf("          placed %u/%u, hosts used %u/%u (memory %.0f%% full), preferred hook "
	       "calls served %.0f%%, pv-incompatible %u\n",
	       r->placed, s->nguests, r->hosts_used, s->nhosts, 100 * r->memory_use,
	       100 * r->hook_served, r->incompatible);
	printf("          overloaded host-seconds %llu of %llu (%.1f%%), exits %.0f%% of CPU "
	       "demand\n",
	       (unsigned long long)load.overloaded_seconds, (unsigned long long)load.host_seconds,
	       load.host_seconds ? 100.0 * load.overloaded_seconds / load.host_seconds : 0,
	       100 * load.exit_share);
	printf("          %u decisions: %.0f per second, p50 %.1f us, p99 %.1f us, max %.1f us\n",
	       s->nguests, r->decisions_per_s, r->p50_us, r->p99_us, r->max_us);
	return 0;
}

int main(int argc, char **argv)
{
	struct pvm_config cfg;
	struct pvm_err err = {0};
	struct sched_policy aware, blind;
	struct sched_sim sim = {0};
	struct sched_sim_result ra = {0}, rb = {0};
	struct sched_move *moves = NULL;
	struct sched_sim_profile profile, *prof = NULL;
	const char *profile_path;
	int64_t hosts, guests, seed, seconds, nmoves;
	bool help = false;
	int nrest = 0, status = 2;

	if (pvm_config_init(&cfg, keys, PVM_ARRAY_SIZE(keys)))
		return 1;
	if (pvm_config_load_args(&cfg, argc - 1, argv + 1, &nrest, &err) ||
	    pvm_config_get_bool(&cfg, "help", &help, &err) ||
	    pvm_config_get_int(&cfg, "hosts", 1, 1000000, &hosts, &err) ||
	    pvm_config_get_int(&cfg, "guests", 0, 10000000, &guests, &err) ||
	    pvm_config_get_int(&cfg, "seed", 0, INT64_MAX, &seed, &err) ||
	    pvm_config_get_int(&cfg, "seconds", 1, 86400, &seconds, &err) ||
	    pvm_config_get_int(&cfg, "moves", 0, 10000, &nmoves, &err)) {
		fprintf(stderr, "pvm-sim: %s\n", err.msg);
		usage(&cfg, stderr);
		goto out;
	}
	if (help) {
		usage(&cfg, stdout);
		status = 0;
		goto out;
	}
	if (nrest) {
		fprintf(stderr, "pvm-sim: unexpected argument \"%s\"\n", argv[1]);
		usage(&cfg, stderr);
		goto out;
	}
	sched_policy_default(&aware);
	if (sched_policy_parse(pvm_config_get(&cfg, "policy"), &aware, &err)) {
		fprintf(stderr, "pvm-sim: --policy: %s\n", err.msg);
		goto out;
	}
	sched_policy_default(&blind);
	if (sched_policy_parse(blind_policy, &blind, &err))
		goto fail;
	blind.limit = aware.limit;
	blind.cpu_overcommit = aware.cpu_overcommit;

	status = 1;
	profile_path = pvm_config_get(&cfg, "profile");
	if (profile_path[0]) {
		if (sched_sim_profile_load(profile_path, &profile, &err))
			goto fail;
		prof = &profile;
	}
	if (sched_sim_generate((uint32_t)hosts, (uint32_t)guests, (uint64_t)seed, prof, &sim, &err))
		goto fail;
	printf("pvm-sim: %u hosts, %u guests (%u pv, %u emulated, %u linux), seed %lld, "
	       "%lld s of bursts\n",
	       sim.nhosts, sim.nguests, sim.nclass[SCHED_SIM_PV], sim.nclass[SCHED_SIM_EMULATED],
	       sim.nclass[SCHED_SIM_LINUX], (long long)seed, (long long)seconds);
	printf("pvm-sim: costed by the %s profile of %.15s (%.159s): %.2f us of host CPU an "
	       "exit\n",
	       prof ? profile_path : "built-in", sim.profile.platform, sim.profile.recorded,
	       1e6 * sim.cpu_per_exit_s);
	if (report("pv-aware", &sim, &aware, (uint32_t)seconds, (uint64_t)seed, &ra, &err) ||
	    report("pv-blind", &sim, &blind, (uint32_t)seconds, (uint64_t)seed, &rb, &err))
		goto fail;
	if (nmoves) {
		unsigned int n = 0;
		double before = 0, after = 0;

		moves = calloc((size_t)nmoves, sizeof(*moves));
		if (!moves || sched_fleet_rebalance(ra.fleet, NULL, (unsigned int)nmoves, false,
						    moves, &n, &before, &after, &err))
			goto fail;
		printf("rebalance pv-aware fleet: cluster score %.4f -> %.4f with %u of up to %lld "
		       "moves",
		       before, after, n, (long long)nmoves);
		if (n)
			printf(" (first: %s %s -> %s, %+.4f)", moves[0].guest_id, moves[0].from,
			       moves[0].to, moves[0].delta);
		printf("\n");
	}
	status = 0;
	goto out;
fail:
	fprintf(stderr, "pvm-sim: %s\n", err.msg[0] ? err.msg : "out of memory");
out:
	free(moves);
	sched_sim_result_free(&ra);
	sched_sim_result_free(&rb);
	sched_sim_free(&sim);
	pvm_config_free(&cfg);
	return status;
}
