/* SPDX-License-Identifier: MIT */
/*
 * Properties over random fleets from the simulator, with labels, selectors,
 * anti-affinity groups, guest limits and unready hosts added so that every
 * filter has work:
 *  - no placement ever breaks a filter (checked here, independently of the
 *    filters' code, against the final fleet);
 *  - binpack never uses more hosts than spread on the same input;
 *  - a rebalancer move never raises the cluster score, nor breaks a filter;
 *  - the same seed gives the same placements; explain chooses as place does;
 *  - an exact placement through the index chooses what a walk over every
 *    host chooses, while guests come and go and hosts change;
 *  - right after a packed placement the rebalancer under the packing policy
 *    makes no move that uses another host (it consolidates), and under
 *    spread it evens use out.
 */
#include <math.h>
#include <stdlib.h>

#include "helpers.h"
#include "schedulers/sim.h"

#define SEEDS 12

/* Check writes a mark for every assertion that passes; in the inner loops
 * that is millions of writes, so these only call into Check on failure. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

/* Makes the simulator's fleet exercise every filter. */
static void decorate(struct sched_sim *s, uint64_t seed)
{
	struct sched_sim_rng r = {.s = seed * 7919};

	for (uint32_t i = 0; i < s->nhosts; i++) {
		struct sched_host *h = &s->hosts[i];
		double u = sched_sim_uniform(&r);

		if (u < 0.05)
			h->state = SCHED_HOST_UNREACHABLE;
		else if (u < 0.10)
			h->cordoned = true;
		else if (u < 0.15)
			h->draining = true;
		if (sched_sim_uniform(&r) < 0.3)
			h->max_guests = 1 + (uint32_t)(sched_sim_next(&r) % 6);
		if (sched_sim_uniform(&r) < 0.5) {
			snprintf(h->labels[h->nlabels].key, SCHED_ID_MAX, "disk");
			snprintf(h->labels[h->nlabels].value, SCHED_ID_MAX, "ssd");
			h->nlabels++;
		}
	}
	for (uint32_t i = 0; i < s->nguests; i++) {
		struct sched_guest *g = &s->guests[i].spec;
		double u = sched_sim_uniform(&r);

		if (u < 0.15) {
			g->nselector = 1;
			g->selector[0].op = SCHED_SEL_EQ;
			snprintf(g->selector[0].key, SCHED_ID_MAX, "zone");
			snprintf(g->selector[0].value, SCHED_ID_MAX, "z%u",
				 (unsigned int)(sched_sim_next(&r) % 3));
		} else if (u < 0.25) {
			g->nselector = 1;
			g->selector[0].op = SCHED_SEL_ABSENT;
			snprintf(g->selector[0].key, SCHED_ID_MAX, "disk");
		}
		if (sched_sim_uniform(&r) < 0.3)
			snprintf(g->anti_affinity, SCHED_ID_MAX, "grp%u",
				 (unsigned int)(sched_sim_next(&r) % 15));
	}
}

static const struct sched_label *label(const struct sched_host *h, const char *key)
{
	for (unsigned int i = 0; i < h->nlabels; i++)
		if (!strcmp(h->labels[i].key, key))
			return &h->labels[i];
	return NULL;
}

/* Every filter, written out again from the words, over the fleet as
 * it stands (after any rebalancing). */
static void check_fleet(const struct sched_sim *s, const struct sched_fleet *f,
			const struct sched_policy *p)
{
	int32_t *host_of = malloc(s->nguests * sizeof(*host_of));

	ck_assert_ptr_nonnull(host_of);
	for (uint32_t gi = 0; gi < s->nguests; gi++) {
		const char *on = sched_fleet_guest_host(f, s->guests[gi].spec.id);

		/* The simulator names host i "host-%05u". */
		host_of[gi] = on ? atoi(on + 5) : -1;
		if (on)
			REQUIRE(!strcmp(s->hosts[host_of[gi]].id, on), "host %s", on);
	}
	for (uint32_t hi = 0; hi < s->nhosts; hi++) {
		const struct sched_host *h = &s->hosts[hi];
		uint64_t mem = 0, vcpus = 0, disk = 0;
		uint32_t n = 0;

		for (uint32_t gi = 0; gi < s->nguests; gi++) {
			const struct sched_guest *g = &s->guests[gi].spec;

			if (host_of[gi] != (int32_t)hi)
				continue;
			n++;
			mem += g->memory_mib;
			vcpus += g->vcpus;
			disk += g->disk_gib;
			REQUIRE(h->state == SCHED_HOST_READY && !h->cordoned && !h->draining,
				"%s on unready host %s", g->id, h->id);
			REQUIRE(sched_sim_compatible(h, g), "%s incompatible with %s", g->id,
				h->id);
			for (unsigned int t = 0; t < g->nselector; t++) {
				const struct sched_selector_term *term = &g->selector[t];
				const struct sched_label *l = label(h, term->key);

				if (term->op == SCHED_SEL_EQ)
					REQUIRE(l && !strcmp(l->value, term->value), "%s: %s=%s",
						g->id, term->key, term->value);
				else
					REQUIRE(l == NULL, "%s: !%s", g->id, term->key);
			}
			for (uint32_t o = gi + 1; g->anti_affinity[0] && o < s->nguests; o++) {
				const struct sched_guest *og = &s->guests[o].spec;

				REQUIRE(host_of[o] != (int32_t)hi ||
					    strcmp(og->anti_affinity, g->anti_affinity),
					"%s and %s of group %s share %s", g->id, og->id,
					g->anti_affinity, h->id);
			}
		}
		ck_assert_uint_le(mem, h->memory_mib);
		ck_assert_uint_le(disk, h->disk_gib);
		ck_assert(vcpus <= (uint64_t)(h->cpus * p->cpu_overcommit));
		if (h->max_guests)
			ck_assert_uint_le(n, h->max_guests);
	}
	free(host_of);
}

static struct sched_policy policy(const char *s)
{
	struct sched_policy p;
	struct pvm_err err = {0};

	sched_policy_default(&p);
	ck_assert_msg(sched_policy_parse(s, &p, &err) == 0, "%s", err.msg);
	return p;
}

static void gen(uint32_t hosts, uint32_t guests, uint64_t seed, struct sched_sim *s)
{
	struct pvm_err err = {0};

	ck_assert_msg(sched_sim_generate(hosts, guests, seed, NULL, s, &err) == 0, "%s", err.msg);
	decorate(s, seed);
}

static void run(const struct sched_sim *s, const struct sched_policy *p, struct sched_sim_result *r)
{
	struct pvm_err err = {0};

	ck_assert_msg(sched_sim_run(s, p, r, &err) == 0, "%s", err.msg);
}

START_TEST(test_no_placement_breaks_a_filter)
{
	static const char *const policies[] = {
	    "",
	    "scorers=spread:1",
	    "scorers=binpack:1;limit=all",
	    "limit=5",
	    "scorers=exit_pressure:1,pv_affinity:1;cpu_overcommit=1",
	};
	struct sched_sim s;

	gen(30, 800, (uint64_t)_i + 1, &s);
	for (unsigned int k = 0; k < PVM_ARRAY_SIZE(policies); k++) {
		struct sched_policy p = policy(policies[k]);
		struct sched_sim_result r;

		run(&s, &p, &r);
		/* The fleet is full enough that filters bite. */
		ck_assert_uint_gt(r.placed, 0);
		ck_assert_uint_gt(r.failed, 0);
		ck_assert_uint_eq(r.incompatible, 0);
		check_fleet(&s, r.fleet, &p);
		sched_sim_result_free(&r);
	}
	sched_sim_free(&s);
}
END_TEST

START_TEST(test_binpack_never_uses_more_hosts_than_spread)
{
	struct sched_policy bin = policy("scorers=binpack:1;limit=all");
	struct sched_policy spr = policy("scorers=spread:1;limit=all");
	/* Light and heavy loads: 40 hosts, 50 to 300 guests. */
	uint32_t guests = 50 + 25 * (uint32_t)_i;
	struct sched_sim s;
	struct sched_sim_result rb, rs;

	gen(40, guests, 100 + (uint64_t)_i, &s);
	run(&s, &bin, &rb);
	run(&s, &spr, &rs);
	ck_assert_msg(rb.hosts_used <= rs.hosts_used, "binpack %u hosts, spread %u (%u guests)",
		      rb.hosts_used, rs.hosts_used, guests);
	sched_sim_result_free(&rb);
	sched_sim_result_free(&rs);
	sched_sim_free(&s);
}
END_TEST

START_TEST(test_rebalance_moves_lower_the_score)
{
	/* A fleet packed by binpack is unbalanced: the rebalancer has work. */
	struct sched_policy bin = policy("scorers=binpack:1");
	struct sched_sim s;
	struct sched_sim_result r;
	double score;
	unsigned int total = 0;

	gen(20, 120, 200 + (uint64_t)_i, &s);
	run(&s, &bin, &r);
	score = sched_fleet_cluster_score(r.fleet, NULL);
	for (int step = 0; step < 15; step++) {
		struct sched_move mv;
		struct sched_explain *e = NULL;
		struct sched_guest g;
		struct pvm_err err = {0};
		unsigned int n = 0, gi;
		double before, after, now;

		ck_assert_int_eq(
		    sched_fleet_rebalance(r.fleet, NULL, 1, true, &mv, &n, &before, &after, &err),
		    0);
		ck_assert_double_eq_tol(before, score, 1e-9);
		if (!n) {
			ck_assert_double_eq_tol(after, before, 1e-12);
			break;
		}
		total++;
		now = sched_fleet_cluster_score(r.fleet, NULL);
		ck_assert_msg(mv.delta < 0, "move %s raised the score by %g", mv.guest_id,
			      mv.delta);
		ck_assert_double_eq_tol(now, after, 1e-12);
		ck_assert_double_eq_tol(now - before, mv.delta, 1e-9);
		ck_assert_str_eq(sched_fleet_guest_host(r.fleet, mv.guest_id), mv.to);
		ck_assert_str_ne(mv.from, mv.to);
		score = now;
		/* The moved guest passes every filter where it now is. */
		for (gi = 0; strcmp(s.guests[gi].spec.id, mv.guest_id); gi++)
			;
		g = s.guests[gi].spec;
		ck_assert_int_eq(sched_fleet_explain(r.fleet, &g, NULL, &e, &err), 0);
		for (unsigned int h = 0; h < e->nhosts; h++)
			if (!strcmp(e->hosts[h].host_id, mv.to))
				ck_assert_msg(e->hosts[h].feasible,
					      "%s moved to %s, which refuses it", mv.guest_id,
					      mv.to);
		sched_explain_free(e);
	}
	ck_assert_uint_gt(total, 0);
	check_fleet(&s, r.fleet, sched_fleet_policy(r.fleet));
	sched_sim_result_free(&r);
	sched_sim_free(&s);
}
END_TEST

/* A dry run proposes the same moves as a real one and changes nothing. */
START_TEST(test_rebalance_dry_run)
{
	struct sched_policy bin = policy("scorers=binpack:1");
	struct sched_sim s;
	struct sched_sim_result r;
	struct sched_move dry[8], wet[8];
	struct pvm_err err = {0};
	unsigned int nd = 0, nw = 0;
	double b1, a1, b2, a2;
	char **where;

	gen(20, 120, 300 + (uint64_t)_i, &s);
	run(&s, &bin, &r);
	where = calloc(s.nguests, sizeof(*where));
	for (uint32_t i = 0; i < s.nguests; i++) {
		const char *h = sched_fleet_guest_host(r.fleet, s.guests[i].spec.id);

		where[i] = h ? strdup(h) : NULL;
	}
	ck_assert_int_eq(sched_fleet_rebalance(r.fleet, NULL, 8, false, dry, &nd, &b1, &a1, &err),
			 0);
	ck_assert_uint_gt(nd, 0);
	ck_assert_double_lt(a1, b1);
	for (uint32_t i = 0; i < s.nguests; i++) {
		const char *h = sched_fleet_guest_host(r.fleet, s.guests[i].spec.id);

		REQUIRE(h ? where[i] && !strcmp(h, where[i]) : !where[i], "%s moved",
			s.guests[i].spec.id);
	}
	ck_assert_double_eq(sched_fleet_cluster_score(r.fleet, NULL), b1);
	ck_assert_int_eq(sched_fleet_rebalance(r.fleet, NULL, 8, true, wet, &nw, &b2, &a2, &err),
			 0);
	ck_assert_uint_eq(nd, nw);
	for (unsigned int i = 0; i < nd; i++) {
		ck_assert_str_eq(dry[i].guest_id, wet[i].guest_id);
		ck_assert_str_eq(dry[i].to, wet[i].to);
	}
	ck_assert_double_eq_tol(a1, a2, 1e-12);
	for (uint32_t i = 0; i < s.nguests; i++)
		free(where[i]);
	free(where);
	sched_sim_result_free(&r);
	sched_sim_free(&s);
}
END_TEST

START_TEST(test_same_seed_same_placements)
{
	struct sched_policy def = policy("");
	struct sched_sim s1, s2, s3;
	struct sched_sim_result r1, r2, r3;
	uint32_t differ = 0;

	gen(25, 200, 400 + (uint64_t)_i, &s1);
	gen(25, 200, 400 + (uint64_t)_i, &s2);
	gen(25, 200, 401 + (uint64_t)_i, &s3);
	run(&s1, &def, &r1);
	run(&s2, &def, &r2);
	run(&s3, &def, &r3);
	ck_assert_int_eq(memcmp(r1.placement, r2.placement, 200 * sizeof(*r1.placement)), 0);
	ck_assert_uint_eq(r1.placed, r2.placed);
	for (uint32_t i = 0; i < 200; i++)
		differ += r1.placement[i] != r3.placement[i];
	ck_assert_uint_gt(differ, 0);
	sched_sim_result_free(&r1);
	sched_sim_result_free(&r2);
	sched_sim_result_free(&r3);
	sched_sim_free(&s1);
	sched_sim_free(&s2);
	sched_sim_free(&s3);
}
END_TEST

START_TEST(test_explain_agrees_with_place)
{
	struct sched_policy def = policy("limit=all");
	struct sched_sim s;
	struct sched_sim_result r;

	gen(30, 150, 500 + (uint64_t)_i, &s);
	run(&s, &def, &r);
	for (uint32_t i = 0; i < s.nguests; i++) {
		struct sched_guest g = s.guests[i].spec;
		struct sched_explain *e = NULL;
		struct sched_placement pl;
		struct pvm_err err = {0};
		int rc;

		snprintf(g.id, sizeof(g.id), "probe-%u", i);
		ck_assert_int_eq(sched_fleet_explain(r.fleet, &g, NULL, &e, &err), 0);
		rc = sched_fleet_place(r.fleet, &g, NULL, &pl, &err);
		if (rc == SCHED_ENOHOST) {
			ck_assert_str_eq(e->chosen, "");
		} else {
			ck_assert_int_eq(rc, 0);
			ck_assert_str_eq(e->chosen, pl.host_id);
			ck_assert_double_eq_tol(e->placement.score, pl.score, 1e-12);
		}
		/* What the index pruned, explain examined: every host is
		 * accounted for once, under the same filter. */
		{
			unsigned int unseen = e->placement.hosts_feasible - pl.hosts_feasible;

			ck_assert_uint_ge(e->placement.hosts_feasible, pl.hosts_feasible);
			for (unsigned int k = 0; k < def.nfilters; k++) {
				ck_assert_uint_ge(e->placement.rejected[k], pl.rejected[k]);
				unseen += e->placement.rejected[k] - pl.rejected[k];
			}
			ck_assert_uint_eq(unseen, pl.hosts_pruned);
			ck_assert_uint_eq(pl.hosts_examined + pl.hosts_pruned, pl.hosts_total);
		}
		sched_explain_free(e);
	}
	sched_sim_result_free(&r);
	sched_sim_free(&s);
}
END_TEST

/* The fleet index against a walk over every host (limit=4294967294 walks
 * the whole fleet in order without the index), guest by guest, with unbinds,
 * host updates (cordon, measured exit cost, state, hooks) and removals
 * between. */
START_TEST(test_index_agrees_with_full_walk)
{
	static const char *const scorers[] = {"", "scorers=binpack:1", "scorers=spread:1",
					      "scorers=spread:1,pv_affinity:2,exit_pressure:3",
					      "scorers=binpack:1,spread:1"};
	struct sched_policy exact = policy(scorers[_i % 5]), walk = exact;
	struct sched_sim_rng r = {.s = 4242 + (uint64_t)_i};
	struct sched_fleet *f;
	struct sched_sim s;
	struct pvm_err err = {0};
	uint32_t placed = 0, pruned = 0;

	exact.limit = SCHED_LIMIT_ALL;
	walk.limit = UINT32_MAX - 1;
	gen(60, 900, 900 + (uint64_t)_i, &s);
	for (uint32_t i = 0; i < s.nhosts; i++)
		if (sched_sim_uniform(&r) < 0.5)
			s.hosts[i].exit_cost_ns = 20000 + 40000 * sched_sim_uniform(&r);
	ck_assert_int_eq(sched_fleet_new(&exact, &f, &err), 0);
	for (uint32_t i = 0; i < s.nhosts; i++)
		ck_assert_int_eq(sched_fleet_host_add(f, &s.hosts[i], &err), 0);
	for (uint32_t i = 0; i < s.nguests; i++) {
		const struct sched_guest *g = &s.guests[i].spec;
		struct sched_placement a, b;
		int ra = sched_fleet_place(f, g, &exact, &a, &err);
		int rb = sched_fleet_place(f, g, &walk, &b, &err);

		ck_assert_int_eq(ra, rb);
		ck_assert_msg(!strcmp(a.host_id, b.host_id),
			      "guest %u: index %s %.15f, walk %s %.15f (pruned %u)", i, a.host_id,
			      a.score, b.host_id, b.score, a.hosts_pruned);
		if (ra == 0) {
			ck_assert_double_eq_tol(a.score, b.score, 1e-12);
			ck_assert_int_eq(sched_fleet_bind(f, g, a.host_id, &err), 0);
			placed++;
		}
		ck_assert_uint_eq(a.hosts_examined + a.hosts_pruned, a.hosts_total);
		pruned += a.hosts_pruned;
		if (i % 7 == 6) {
			const struct sched_guest *o = &s.guests[sched_sim_next(&r) % (i + 1)].spec;

			sched_fleet_unbind(f, o->id);
		}
		if (i % 13 == 12) {
			struct sched_host *h = &s.hosts[sched_sim_next(&r) % s.nhosts];

			h->cordoned = !h->cordoned;
			h->exit_cost_ns = h->exit_cost_ns > 0 ? 0 : 30000;
			/* Its guests' predicted exits change with its hooks. */
			h->hooks ^= SCHED_HOOK_BIT(PV_HOOK_CLOCK);
			h->state =
			    sched_sim_uniform(&r) < 0.2 ? SCHED_HOST_UNREACHABLE : SCHED_HOST_READY;
			if (sched_fleet_host_update(f, h, &err) == -ENOENT)
				ck_assert_int_eq(sched_fleet_host_add(f, h, &err), 0);
		}
		if (i % 29 == 28) {
			const struct sched_host *h = &s.hosts[sched_sim_next(&r) % s.nhosts];

			if (sched_fleet_host_evict(f, h->id) >= 0)
				ck_assert_int_eq(sched_fleet_host_remove(f, h->id, &err), 0);
		}
	}
	ck_assert_uint_gt(placed, s.nguests / 4);
	/* The index did prune (else this compares a walk with itself), except
	 * when binpack and spread pull both ways and no bound can. */
	if (_i % 5 != 4)
		ck_assert_uint_gt(pruned, 0);
	sched_fleet_free(f);
	sched_sim_free(&s);
}
END_TEST

static unsigned int hosts_used(const struct sched_sim *s, const struct sched_fleet *f,
			       double *mem_sd)
{
	double sum = 0, sq = 0;
	unsigned int n = 0;

	for (uint32_t h = 0; h < s->nhosts; h++) {
		struct sched_usage u;
		double m;

		ck_assert_int_eq(sched_fleet_host_usage(f, s->hosts[h].id, &u), 0);
		n += u.guests > 0;
		m = (double)u.memory_mib / (double)s->hosts[h].memory_mib;
		sum += m;
		sq += m * m;
	}
	*mem_sd = sqrt(sq / s->nhosts - (sum / s->nhosts) * (sum / s->nhosts));
	return n;
}

START_TEST(test_rebalancer_follows_the_policy)
{
	struct sched_policy pack = policy("cpu_overcommit=1");
	struct sched_policy spread = policy("scorers=spread:1;cpu_overcommit=1");
	struct sched_move *mv = calloc(200, sizeof(*mv));
	struct sched_sim s;
	struct sched_sim_result r;
	struct pvm_err err = {0};
	unsigned int n, used, before, plan_start = 0;
	double sd, sd_before, plan_sum = 0;

	ck_assert_ptr_nonnull(mv);
	ck_assert_int_eq(
	    sched_sim_packing_vec(10 + 5 * (uint32_t)_i, 8, 3000 + (uint64_t)_i, &s, &err), 0);
	run(&s, &pack, &r);
	ck_assert_uint_eq(r.failed, 0);
	before = used = hosts_used(&s, r.fleet, &sd_before);
	ck_assert_uint_eq(used, r.hosts_used);
	/*
	 * Packing: replayed move by move, single moves each gain and never
	 * add a host; a consolidation plan (after them) gains as a whole and
	 * ends on fewer hosts than it started from.
	 */
	ck_assert_int_eq(
	    sched_fleet_rebalance(r.fleet, &pack, 200, false, mv, &n, NULL, NULL, &err), 0);
	for (unsigned int i = 0; i < n; i++) {
		const struct sched_guest *g = NULL;
		unsigned int now;

		for (uint32_t k = 0; !g && k < s.nguests; k++)
			if (!strcmp(s.guests[k].spec.id, mv[i].guest_id))
				g = &s.guests[k].spec;
		ck_assert_ptr_nonnull(g);
		if (mv[i].plan == 0) {
			ck_assert_double_lt(mv[i].delta, 0);
			ck_assert_uint_eq(plan_start, 0);
		} else {
			ck_assert_uint_eq(mv[i].plan, 1);
			ck_assert_double_lt(mv[i].plan_delta, 0);
			if (!plan_start) {
				plan_start = used;
				plan_sum = 0;
			}
			plan_sum += mv[i].delta;
		}
		ck_assert_int_eq(sched_fleet_unbind(r.fleet, g->id), 0);
		ck_assert_int_eq(sched_fleet_bind(r.fleet, g, mv[i].to, &err), 0);
		now = hosts_used(&s, r.fleet, &sd);
		if (mv[i].plan == 0)
			ck_assert_uint_le(now, used);
		used = now;
	}
	if (plan_start) {
		ck_assert_uint_lt(used, plan_start);
		ck_assert_double_eq_tol(plan_sum, mv[n - 1].plan_delta, 1e-9);
	}
	/* These exact-fit instances are packed onto their optimum. */
	ck_assert_uint_eq(used, 10 + 5 * (uint32_t)_i);
	ck_assert_uint_le(used, before);
	/* Spreading the same packed fleet: more hosts, use evened out. */
	ck_assert_int_eq(
	    sched_fleet_rebalance(r.fleet, &spread, 200, true, mv, &n, NULL, NULL, &err), 0);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_gt(hosts_used(&s, r.fleet, &sd), used);
	ck_assert_double_lt(sd, sd_before);
	free(mv);
	sched_sim_result_free(&r);
	sched_sim_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_properties");
	TCase *tc = tcase_create("properties");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_no_placement_breaks_a_filter, 0, SEEDS);
	tcase_add_loop_test(tc, test_binpack_never_uses_more_hosts_than_spread, 0, SEEDS);
	tcase_add_loop_test(tc, test_rebalance_moves_lower_the_score, 0, SEEDS);
	tcase_add_loop_test(tc, test_rebalance_dry_run, 0, 4);
	tcase_add_loop_test(tc, test_same_seed_same_placements, 0, 4);
	tcase_add_loop_test(tc, test_explain_agrees_with_place, 0, 4);
	tcase_add_loop_test(tc, test_index_agrees_with_full_walk, 0, 10);
	tcase_add_loop_test(tc, test_rebalancer_follows_the_policy, 0, 3);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
