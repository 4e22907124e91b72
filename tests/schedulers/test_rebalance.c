/* SPDX-License-Identifier: MIT */
/*
 * The rebalancer, scenario by scenario: the cluster score worked out by
 * hand, then which moves it proposes (draining hosts emptied, exit overload
 * relieved, preferred hooks found) and which it must not (any that breaks a
 * filter, any that does not lower the score).
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void emulated(struct sched_guest *g, const char *id, double exits)
{
	base_guest(g, id);
	g->needs_emulated = true;
	g->abi_version = 0;
	g->stats.known = true;
	g->stats.exits_per_s = exits;
}

static unsigned int rebalance(struct sched_fleet *f, const char *policy, unsigned int max,
			      struct sched_move *moves)
{
	struct sched_policy p = *sched_fleet_policy(f);
	struct pvm_err err = {0};
	unsigned int n = 99;
	double before, after;

	if (policy)
		ck_assert_msg(sched_policy_parse(policy, &p, &err) == 0, "%s", err.msg);
	ck_assert_msg(sched_fleet_rebalance(f, &p, max, true, moves, &n, &before, &after, &err) ==
			  0,
		      "%s", err.msg);
	ck_assert(n == 0 ? after == before : after < before);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_double_lt(moves[i].plan ? moves[i].plan_delta : moves[i].delta, 0);
	return n;
}

START_TEST(test_cluster_score_by_hand)
{
	struct sched_fleet *f = new_fleet("scorers=spread:1");
	struct sched_host h;
	struct sched_guest g;

	ck_assert_double_eq(sched_fleet_cluster_score(f, NULL), 0);
	base_host(&h, "a");
	add_host(f, &h);
	base_host(&h, "b");
	add_host(f, &h);
	ck_assert_double_eq(sched_fleet_cluster_score(f, NULL), 0);
	base_guest(&g, "g");
	g.memory_mib = 4096;
	g.vcpus = 2;
	bind(f, &g, "a");
	/* memory use 0.5 and 0: sd 0.25; vCPU use 2/16 and 0: sd 0.0625 */
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), 0.3125, 1e-12);

	/* Exit overload: 120,000 exits/s on 4 CPUs x 20,000 = load 1.5, mean
	 * over 2 hosts of 0.5 = 0.25, times 4. */
	g.stats.known = true;
	g.stats.exits_per_s = 120000;
	ck_assert_int_eq(sched_fleet_guest_update(f, &g, NULL), 0);
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), 0.3125 + 4 * 0.25, 1e-12);

	/* Mismatch: prefers block (no stats for it: weight 1), host lacks it. */
	g.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_BLOCK) | SCHED_HOOK_BIT(PV_HOOK_CLOCK);
	ck_assert_int_eq(sched_fleet_guest_update(f, &g, NULL), 0);
	h = *sched_fleet_host(f, "a");
	h.hooks = SCHED_HOOK_BIT(PV_HOOK_CLOCK);
	ck_assert_int_eq(sched_fleet_host_update(f, &h, NULL), 0);
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), 0.3125 + 4 * 0.25 + 0.5, 1e-12);

	/* Draining: the host leaves the balance population and its guest is
	 * misplaced (10 per guest share). */
	h.draining = true;
	ck_assert_int_eq(sched_fleet_host_update(f, &h, NULL), 0);
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), 0 + 4 * 0.25 + 0.5 + 10, 1e-12);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_draining_host_is_emptied)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_move mv[4];

	base_host(&h, "old");
	add_host(f, &h);
	base_host(&h, "new");
	add_host(f, &h);
	base_guest(&g, "g1");
	bind(f, &g, "old");
	base_guest(&g, "g2");
	bind(f, &g, "old");
	h = *sched_fleet_host(f, "old");
	h.draining = true;
	ck_assert_int_eq(sched_fleet_host_update(f, &h, NULL), 0);
	ck_assert_uint_eq(rebalance(f, NULL, 4, mv), 2);
	ck_assert_str_eq(mv[0].from, "old");
	ck_assert_str_eq(mv[0].to, "new");
	ck_assert_str_eq(mv[1].from, "old");
	ck_assert_str_eq(sched_fleet_guest_host(f, "g1"), "new");
	ck_assert_str_eq(sched_fleet_guest_host(f, "g2"), "new");
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_overload_is_relieved)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_move mv[4];

	base_host(&h, "a");
	add_host(f, &h);
	base_host(&h, "b");
	add_host(f, &h);
	emulated(&g, "e1", 60000);
	bind(f, &g, "a");
	emulated(&g, "e2", 60000);
	bind(f, &g, "a");
	/* Only the overload counts: balance alone would also split them. */
	ck_assert_uint_eq(rebalance(f, "rebalance=imbalance:0,overload:1,mismatch:0", 4, mv), 1);
	ck_assert_str_eq(mv[0].from, "a");
	ck_assert_str_eq(mv[0].to, "b");
	/* 120,000 exits/s on a (load 1.5) -> 60,000 on each: mean overload
	 * (0.5 + 0) / 2 -> 0. */
	ck_assert_double_eq_tol(mv[0].delta, -0.25, 1e-12);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_preferred_hook_is_found)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_move mv[4];

	base_host(&h, "plain");
	h.hooks = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	add_host(f, &h);
	base_host(&h, "full");
	add_host(f, &h);
	base_guest(&g, "g");
	g.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_BLOCK);
	bind(f, &g, "plain");
	ck_assert_uint_eq(rebalance(f, "rebalance=imbalance:0,overload:0,mismatch:1", 4, mv), 1);
	ck_assert_str_eq(mv[0].to, "full");
	/* Mismatch 1 -> 1 - 0.3: full also offers clock, agent and halt, which
	 * plain lacks, half the fleet each: 3 * (1/2) / 5 spent on a guest that
	 * does not want them. */
	ck_assert_double_eq_tol(mv[0].delta, -0.7, 1e-12);
	/* Once there, nothing lowers the score further. */
	ck_assert_uint_eq(rebalance(f, "rebalance=imbalance:0,overload:0,mismatch:1", 4, mv), 0);
	sched_fleet_free(f);
}
END_TEST

/* The one better host refuses the guest: the rebalancer must not move it
 * (and does, in the first row, where nothing forbids it). */
struct forbidden_case {
	const char *name;
	void (*forbid)(struct sched_host *better, struct sched_guest *g, struct sched_fleet *f);
	bool moves;
};

static void allow(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)b;
	(void)g;
	(void)f;
}

static void cordon(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)g;
	(void)f;
	b->cordoned = true;
}

static void unreachable(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)g;
	(void)f;
	b->state = SCHED_HOST_UNREACHABLE;
}

static void too_small(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)f;
	b->memory_mib = g->memory_mib - 1;
}

static void no_emulation(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)g;
	(void)f;
	b->emulated_devices = false;
}

/* The guest record keeps the platform its spec requires. */
static void wrong_platform(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	(void)f;
	b->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_KVM);
	g->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_PROCESS);
}

static void group_there(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	struct sched_guest other;

	(void)b;
	snprintf(g->anti_affinity, sizeof(g->anti_affinity), "db");
	base_guest(&other, "db-2");
	other.memory_mib = 1;
	snprintf(other.anti_affinity, sizeof(other.anti_affinity), "db");
	bind(f, &other, "better");
}

static void full_of_guests(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	struct sched_guest other;

	(void)g;
	b->max_guests = 1;
	base_guest(&other, "tiny");
	other.memory_mib = 1;
	/* it uses the block hook too: better is where it belongs */
	other.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_BLOCK);
	bind(f, &other, "better");
}

static void selector(struct sched_host *b, struct sched_guest *g, struct sched_fleet *f)
{
	struct pvm_err err = {0};

	(void)f;
	snprintf(b->labels[0].value, SCHED_ID_MAX, "b");
	ck_assert_int_eq(
	    sched_selector_parse("zone=a", g->selector, SCHED_SELECTOR_MAX, &g->nselector, &err),
	    0);
}

static const struct forbidden_case forbidden[] = {
    {"nothing forbids it", allow, true},
    {"cordoned", cordon, false},
    {"unreachable", unreachable, false},
    {"capacity", too_small, false},
    {"pv: no emulated devices", no_emulation, false},
    {"pv: platform not offered", wrong_platform, false},
    {"anti-affinity", group_there, false},
    {"max guests", full_of_guests, false},
    {"labels", selector, false},
};

START_TEST(test_never_breaks_a_filter)
{
	const struct forbidden_case *fc = &forbidden[_i];
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host busy, better;
	struct sched_guest g, g2;
	struct sched_move mv[4];

	/* Only e1 is better off elsewhere: it prefers the block hook, which
	 * "busy" lacks and "better" offers. */
	base_host(&busy, "busy");
	busy.hooks = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	add_host(f, &busy);
	base_host(&better, "better");
	add_host(f, &better);
	base_guest(&g, "e1");
	g.memory_mib = 2048;
	g.needs_emulated = true;
	g.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_BLOCK);
	base_guest(&g2, "e2");
	bind(f, &g2, "busy");
	fc->forbid(&better, &g, f);
	bind(f, &g, "busy");
	ck_assert_int_eq(sched_fleet_host_update(f, &better, NULL), 0);
	ck_assert_uint_eq(rebalance(f, "rebalance=imbalance:0,overload:0,mismatch:1", 4, mv),
			  fc->moves ? 1 : 0);
	ck_assert_msg(!strcmp(sched_fleet_guest_host(f, "e1"), fc->moves ? "better" : "busy"),
		      "%s: e1 on %s", fc->name, sched_fleet_guest_host(f, "e1"));
	sched_fleet_free(f);
}
END_TEST

/* Under a packing policy (the default) the imbalance term is minus the mean
 * square use: fuller hosts are better. */
START_TEST(test_packing_score_by_hand)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_move mv[4];

	ck_assert(sched_policy_packs(sched_fleet_policy(f)));
	base_host(&h, "a");
	add_host(f, &h);
	base_host(&h, "b");
	add_host(f, &h);
	ck_assert_double_eq(sched_fleet_cluster_score(f, NULL), 0);
	base_guest(&g, "g1");
	g.memory_mib = 4096;
	g.vcpus = 2;
	bind(f, &g, "a");
	/* a: memory 0.5, vCPUs 2/16; b: nothing. -(0.25 + 1/64) / (2 * 2) */
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), -(0.25 + 1.0 / 64) / 4, 1e-12);
	/* A second guest on the other host: the rebalancer puts them together. */
	base_guest(&g, "g2");
	g.memory_mib = 2048;
	bind(f, &g, "b");
	ck_assert_uint_eq(rebalance(f, NULL, 4, mv), 1);
	ck_assert_str_eq(sched_fleet_guest_host(f, "g1"), sched_fleet_guest_host(f, "g2"));
	ck_assert_uint_eq(rebalance(f, NULL, 4, mv), 0);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_balanced_fleet_stays)
{
	struct sched_fleet *f = new_fleet("scorers=spread:1");
	struct sched_host h;
	struct sched_guest g;
	struct sched_move mv[4];

	base_host(&h, "a");
	add_host(f, &h);
	base_host(&h, "b");
	add_host(f, &h);
	base_guest(&g, "g1");
	bind(f, &g, "a");
	base_guest(&g, "g2");
	bind(f, &g, "b");
	ck_assert_uint_eq(rebalance(f, NULL, 4, mv), 0);
	sched_fleet_free(f);
}
END_TEST

/*
 * Two hosts' worth of guests, exactly: a (1 vCPU, 6 GiB) and b (3, 2 GiB)
 * fill one, c, d (1, 2 GiB) and e (2, 4 GiB) the other. Placed over three
 * hosts so that h1 is out of memory and h2 out of vCPUs, e (on h3) fits on
 * neither.
 */
static const struct {
	const char *id, *host;
	uint32_t vcpus;
	uint64_t memory_mib;
} exact[] = {
    {"a", "h1", 1, 6144}, {"c", "h1", 1, 2048}, {"b", "h2", 3, 2048},
    {"d", "h2", 1, 2048}, {"e", "h3", 2, 4096},
};

static struct sched_fleet *exact_fleet(const char *cordoned)
{
	struct sched_fleet *f = new_fleet("cpu_overcommit=1");
	struct sched_host h;
	struct sched_guest g;

	for (int i = 1; i <= 4; i++) {
		char id[8];

		snprintf(id, sizeof(id), "h%d", i);
		base_host(&h, id);
		h.cordoned = cordoned && !strcmp(id, cordoned);
		add_host(f, &h);
	}
	for (size_t i = 0; i < PVM_ARRAY_SIZE(exact); i++) {
		base_guest(&g, exact[i].id);
		g.vcpus = exact[i].vcpus;
		g.memory_mib = exact[i].memory_mib;
		bind(f, &g, exact[i].host);
	}
	return f;
}

static unsigned int hosts_in_use(struct sched_fleet *f)
{
	unsigned int n = 0;

	for (int i = 1; i <= 4; i++) {
		char id[8];
		struct sched_usage u;

		snprintf(id, sizeof(id), "h%d", i);
		ck_assert_int_eq(sched_fleet_host_usage(f, id, &u), 0);
		n += u.guests > 0;
	}
	return n;
}

START_TEST(test_consolidation_empties_a_host)
{
	struct sched_fleet *f = exact_fleet(NULL);
	struct sched_move mv[32];
	struct pvm_err err = {0};
	unsigned int n, plan = 0;
	double before, after, sum = 0;

	/* A dry run proposes the plan and leaves the fleet as it was. */
	ck_assert_int_eq(sched_fleet_rebalance(f, NULL, 32, false, mv, &n, &before, &after, &err),
			 0);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(hosts_in_use(f), 3);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(exact); i++)
		ck_assert_str_eq(sched_fleet_guest_host(f, exact[i].id), exact[i].host);
	/* Replayed move by move, each passes every filter when it is made;
	 * the plan's moves gain together what their deltas add up to. */
	for (unsigned int i = 0; i < n; i++) {
		struct sched_guest g;
		size_t k = 0;

		while (strcmp(exact[k].id, mv[i].guest_id))
			k++;
		base_guest(&g, exact[k].id);
		g.vcpus = exact[k].vcpus;
		g.memory_mib = exact[k].memory_mib;
		ck_assert_str_eq(sched_fleet_guest_host(f, g.id), mv[i].from);
		ck_assert_int_eq(sched_fleet_unbind(f, g.id), 0);
		ck_assert_msg(sched_fleet_bind(f, &g, mv[i].to, &err) == 0, "move %u: %s", i,
			      err.msg);
		if (mv[i].plan) {
			plan = mv[i].plan;
			sum += mv[i].delta;
			ck_assert_double_lt(mv[i].plan_delta, 0);
		}
	}
	ck_assert_uint_eq(plan, 1);
	ck_assert_double_eq_tol(sum, mv[n - 1].plan_delta, 1e-9);
	ck_assert_uint_eq(hosts_in_use(f), 2);
	ck_assert_double_eq_tol(sched_fleet_cluster_score(f, NULL), after, 1e-9);
	ck_assert_double_lt(after, before);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_consolidation_within_bounds)
{
	struct sched_fleet *f = exact_fleet(NULL);
	struct sched_policy spread = *sched_fleet_policy(f);
	struct sched_move mv[32];
	struct pvm_err err = {0};
	unsigned int n;

	/* No room for the whole plan: none of it. */
	ck_assert_int_eq(sched_fleet_rebalance(f, NULL, 1, true, mv, &n, NULL, NULL, &err), 0);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(mv[i].plan, 0);
	ck_assert_uint_eq(hosts_in_use(f), 3);
	sched_fleet_free(f);
	/* A cordoned host keeps its guests: h2's b and d cannot pair with a
	 * and e, so no plan uses fewer hosts. */
	f = exact_fleet("h2");
	ck_assert_int_eq(sched_fleet_rebalance(f, NULL, 32, true, mv, &n, NULL, NULL, &err), 0);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(mv[i].plan, 0);
	ck_assert_str_eq(sched_fleet_guest_host(f, "b"), "h2");
	ck_assert_str_eq(sched_fleet_guest_host(f, "d"), "h2");
	/* A spreading policy never consolidates. */
	ck_assert_int_eq(sched_policy_parse("scorers=spread:1;cpu_overcommit=1", &spread, &err), 0);
	ck_assert_int_eq(sched_fleet_rebalance(f, &spread, 32, false, mv, &n, NULL, NULL, &err), 0);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(mv[i].plan, 0);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_rebalance_arguments)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_policy p = *sched_fleet_policy(f);
	struct pvm_err err = {0};
	unsigned int n = 7;

	ck_assert_int_eq(sched_fleet_rebalance(f, NULL, 0, true, NULL, &n, NULL, NULL, &err), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(sched_fleet_rebalance(f, NULL, 3, true, NULL, &n, NULL, NULL, &err),
			 -EINVAL);
	p.w_overload = -1;
	ck_assert_int_eq(sched_fleet_rebalance(f, &p, 0, true, NULL, &n, NULL, NULL, &err),
			 -EINVAL);
	sched_fleet_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_rebalance");
	TCase *tc = tcase_create("rebalance");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_cluster_score_by_hand);
	tcase_add_test(tc, test_draining_host_is_emptied);
	tcase_add_test(tc, test_overload_is_relieved);
	tcase_add_test(tc, test_preferred_hook_is_found);
	tcase_add_loop_test(tc, test_never_breaks_a_filter, 0, (int)PVM_ARRAY_SIZE(forbidden));
	tcase_add_test(tc, test_balanced_fleet_stays);
	tcase_add_test(tc, test_packing_score_by_hand);
	tcase_add_test(tc, test_consolidation_empties_a_host);
	tcase_add_test(tc, test_consolidation_within_bounds);
	tcase_add_test(tc, test_rebalance_arguments);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
