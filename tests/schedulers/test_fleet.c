/* SPDX-License-Identifier: MIT */
/*
 * The fleet's bookkeeping: hosts and guests come and go, per-host sums follow
 * incrementally and always equal a recount; errors leave the fleet as it was.
 */
#include <stdlib.h>

#include "helpers.h"

static void usage(struct sched_fleet *f, const char *host, struct sched_usage *u)
{
	ck_assert_int_eq(sched_fleet_host_usage(f, host, u), 0);
}

START_TEST(test_host_lifecycle)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_usage u;
	struct pvm_err err = {0};

	base_host(&h, "a");
	add_host(f, &h);
	ck_assert_int_eq(sched_fleet_host_add(f, &h, &err), -EEXIST);
	ck_assert_str_eq(err.field, "/id");
	base_host(&h, "b");
	add_host(f, &h);
	base_host(&h, "c");
	add_host(f, &h);
	ck_assert_uint_eq(sched_fleet_nhosts(f), 3);
	base_guest(&g, "g1");
	bind(f, &g, "c");
	base_guest(&g, "g2");
	g.memory_mib = 2048;
	bind(f, &g, "c");

	ck_assert_int_eq(sched_fleet_host_remove(f, "nope", &err), -ENOENT);
	ck_assert_int_eq(sched_fleet_host_remove(f, "c", &err), -EBUSY);
	ck_assert_msg(strstr(err.msg, "2 guests"), "%s", err.msg);
	/* Removing "a" moves "c" into its place; c's guests follow it. */
	ck_assert_int_eq(sched_fleet_host_remove(f, "a", &err), 0);
	ck_assert_ptr_null(sched_fleet_host(f, "a"));
	ck_assert_uint_eq(sched_fleet_nhosts(f), 2);
	ck_assert_str_eq(sched_fleet_host_at(f, 0)->id, "c");
	ck_assert_str_eq(sched_fleet_host_at(f, 1)->id, "b");
	ck_assert_ptr_null(sched_fleet_host_at(f, 2));
	ck_assert_str_eq(sched_fleet_guest_host(f, "g1"), "c");
	usage(f, "c", &u);
	ck_assert_uint_eq(u.guests, 2);
	ck_assert_uint_eq(u.memory_mib, 3072);
	ck_assert_uint_eq(u.vcpus, 2);
	ck_assert_uint_eq(u.disk_gib, 20);
	ck_assert_int_eq(sched_fleet_host_usage(f, "a", &u), -ENOENT);

	ck_assert_int_eq(sched_fleet_host_evict(f, "nope"), -ENOENT);
	ck_assert_int_eq(sched_fleet_host_evict(f, "c"), 2);
	ck_assert_uint_eq(sched_fleet_nguests(f), 0);
	ck_assert_ptr_null(sched_fleet_guest_host(f, "g1"));
	usage(f, "c", &u);
	ck_assert_uint_eq(u.guests, 0);
	ck_assert_uint_eq(u.memory_mib, 0);
	ck_assert_int_eq(sched_fleet_host_remove(f, "c", &err), 0);
	ck_assert_int_eq(sched_fleet_host_remove(f, "b", &err), 0);
	ck_assert_uint_eq(sched_fleet_nhosts(f), 0);
	/* The id is free again. */
	add_host(f, &h);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_host_update)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_usage u;
	struct pvm_err err = {0};

	base_host(&h, "a");
	add_host(f, &h);
	base_guest(&g, "g1");
	g.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_BLOCK);
	g.stats.known = true;
	g.stats.exits_per_s = 100;
	g.stats.calls_per_s[PV_HOOK_BLOCK] = 500;
	g.stats.exits_avoided_per_s[PV_HOOK_BLOCK] = 4000;
	bind(f, &g, "a");
	usage(f, "a", &u);
	ck_assert_double_eq_tol(u.exits_per_s, 100, 1e-9);
	ck_assert_double_eq_tol(u.exit_load, 100.0 / 80000, 1e-12);

	/* The host loses the block hook and shrinks below its use: the guest
	 * stays, now costing the exits the hook saved. */
	h.hooks = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	h.memory_mib = 512;
	h.cordoned = true;
	ck_assert_int_eq(sched_fleet_host_update(f, &h, &err), 0);
	usage(f, "a", &u);
	ck_assert_uint_eq(u.guests, 1);
	ck_assert_double_eq_tol(u.exits_per_s, 4100, 1e-9);
	ck_assert(sched_fleet_host(f, "a")->cordoned);
	ck_assert_uint_eq(sched_fleet_host(f, "a")->memory_mib, 512);

	base_host(&h, "zzz");
	ck_assert_int_eq(sched_fleet_host_update(f, &h, &err), -ENOENT);
	h.cpus = 0;
	ck_assert_int_eq(sched_fleet_host_update(f, &h, &err), -EINVAL);
	ck_assert_uint_eq(sched_fleet_nhosts(f), 1);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_bind_errors)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_placement pl;
	struct pvm_err err = {0};

	base_host(&h, "a");
	add_host(f, &h);
	base_guest(&g, "g1");
	ck_assert_int_eq(sched_fleet_bind(f, &g, "nope", &err), -ENOENT);
	ck_assert_int_eq(sched_fleet_bind(f, &g, NULL, &err), -ENOENT);
	ck_assert_uint_eq(sched_fleet_nguests(f), 0);
	bind(f, &g, "a");
	ck_assert_int_eq(sched_fleet_bind(f, &g, "a", &err), -EEXIST);
	ck_assert_int_eq(sched_fleet_place(f, &g, NULL, &pl, &err), -EEXIST);
	ck_assert_int_eq(sched_fleet_unbind(f, "nope"), -ENOENT);
	ck_assert_int_eq(sched_fleet_unbind(f, "g1"), 0);
	ck_assert_int_eq(sched_fleet_unbind(f, "g1"), -ENOENT);
	ck_assert_int_eq(sched_fleet_guest_update(f, &g, &err), -ENOENT);
	ck_assert_uint_eq(sched_fleet_nguests(f), 0);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_guest_update_follows_stats)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_usage u;
	struct pvm_err err = {0};

	base_host(&h, "a");
	add_host(f, &h);
	base_guest(&g, "g1");
	snprintf(g.anti_affinity, sizeof(g.anti_affinity), "web");
	bind(f, &g, "a");
	usage(f, "a", &u);
	ck_assert_double_eq(u.exits_per_s, 0);
	g.stats.known = true;
	g.stats.exits_per_s = 12345.5;
	g.memory_mib = 2048;
	ck_assert_int_eq(sched_fleet_guest_update(f, &g, &err), 0);
	usage(f, "a", &u);
	ck_assert_double_eq_tol(u.exits_per_s, 12345.5, 1e-9);
	ck_assert_uint_eq(u.memory_mib, 2048);
	ck_assert_str_eq(sched_fleet_guest_host(f, "g1"), "a");
	g.vcpus = 0;
	ck_assert_int_eq(sched_fleet_guest_update(f, &g, &err), -EINVAL);
	usage(f, "a", &u);
	ck_assert_uint_eq(u.memory_mib, 2048);
	sched_fleet_free(f);
}
END_TEST

/* Explain of a bound guest sees the fleet without it, and changes nothing. */
START_TEST(test_explain_bound_guest)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g, other;
	struct sched_usage u;
	struct sched_explain *e = NULL;
	struct pvm_err err = {0};

	base_host(&h, "a");
	add_host(f, &h);
	base_guest(&g, "g1");
	g.memory_mib = 8192;
	snprintf(g.anti_affinity, sizeof(g.anti_affinity), "solo");
	bind(f, &g, "a");
	ck_assert_int_eq(sched_fleet_explain(f, &g, NULL, &e, &err), 0);
	ck_assert(e->hosts[0].feasible);
	ck_assert_str_eq(e->chosen, "a");
	sched_explain_free(e);
	usage(f, "a", &u);
	ck_assert_uint_eq(u.memory_mib, 8192);
	ck_assert_uint_eq(u.guests, 1);
	ck_assert_str_eq(sched_fleet_guest_host(f, "g1"), "a");
	/* Its group still keeps others away. */
	base_guest(&other, "g2");
	other.memory_mib = 1;
	snprintf(other.anti_affinity, sizeof(other.anti_affinity), "solo");
	ck_assert_int_eq(sched_fleet_explain(f, &other, NULL, &e, &err), 0);
	ck_assert(!e->hosts[0].filters[4].pass);
	ck_assert_str_eq(e->chosen, "");
	sched_explain_free(e);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_explain_json)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_explain *e = NULL;
	struct pvm_err err = {0};
	json_object *j = NULL, *hosts, *host, *v;

	base_host(&h, "a");
	add_host(f, &h);
	base_host(&h, "b");
	h.hooks = 0;
	add_host(f, &h);
	base_guest(&g, "g1");
	g.hooks_required = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	ck_assert_int_eq(sched_fleet_explain(f, &g, NULL, &e, &err), 0);
	ck_assert_int_eq(sched_explain_json(e, &j), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(j, "chosen")), "a");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(j, "guest")), "g1");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(j, "hosts_total")), 2);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(j, "hosts_feasible")), 1);
	v = json_object_object_get(j, "rejected");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(v, "pv")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(v, "capacity")), 0);
	hosts = json_object_object_get(j, "hosts");
	ck_assert_int_eq((int)json_object_array_length(hosts), 2);
	host = json_object_array_get_idx(hosts, 1);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(host, "host")), "b");
	ck_assert(!json_object_get_boolean(json_object_object_get(host, "feasible")));
	v = json_object_array_get_idx(json_object_object_get(host, "filters"), 2);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(v, "name")), "pv");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(v, "reason")),
			 "missing required hooks: console");
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(host, "scores")), 0);
	host = json_object_array_get_idx(hosts, 0);
	v = json_object_array_get_idx(json_object_object_get(host, "scores"), 2);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(v, "name")),
			 "exit_pressure");
	ck_assert_double_eq(json_object_get_double(json_object_object_get(v, "weight")), 3);
	ck_assert_double_eq(json_object_get_double(json_object_object_get(v, "weighted")), 3);
	json_object_put(j);
	sched_explain_free(e);

	/* No host: "chosen" is null. */
	g.memory_mib = 1 << 20;
	ck_assert_int_eq(sched_fleet_explain(f, &g, NULL, &e, &err), 0);
	ck_assert_int_eq(sched_explain_json(e, &j), 0);
	ck_assert(json_object_object_get_ex(j, "chosen", &v));
	ck_assert_ptr_null(v);
	json_object_put(j);
	sched_explain_free(e);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_limit)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_policy p = *sched_fleet_policy(f);
	struct sched_guest g;
	struct sched_placement pl;
	struct pvm_err err = {0};

	for (int i = 0; i < 300; i++) {
		struct sched_host h;
		char id[16];

		snprintf(id, sizeof(id), "h%03d", i);
		base_host(&h, id);
		h.cordoned = i % 3 == 0;
		add_host(f, &h);
	}
	base_guest(&g, "g");
	ck_assert_int_eq(sched_policy_parse("limit=10", &p, &err), 0);
	ck_assert_int_eq(sched_fleet_place(f, &g, &p, &pl, &err), 0);
	ck_assert_uint_eq(pl.hosts_feasible, 10);
	ck_assert_uint_ge(pl.hosts_examined, 10);
	ck_assert_uint_le(pl.hosts_examined, 16);
	ck_assert_uint_eq(pl.hosts_examined, pl.hosts_feasible + pl.rejected[1]);
	/* auto: 300 hosts -> 50 - 300/125 = 48% -> 144 feasible */
	ck_assert_int_eq(sched_policy_parse("limit=auto", &p, &err), 0);
	ck_assert_int_eq(sched_fleet_place(f, &g, &p, &pl, &err), 0);
	ck_assert_uint_eq(pl.hosts_feasible, 144);
	ck_assert_int_eq(sched_policy_parse("limit=all", &p, &err), 0);
	ck_assert_int_eq(sched_fleet_place(f, &g, &p, &pl, &err), 0);
	ck_assert_uint_eq(pl.hosts_examined, 300);
	ck_assert_uint_eq(pl.hosts_feasible, 200);
	ck_assert_uint_eq(pl.rejected[1], 100);
	/* A bad per-request policy is refused. */
	p.cpu_overcommit = -1;
	ck_assert_int_eq(sched_fleet_place(f, &g, &p, &pl, &err), -EINVAL);
	sched_fleet_free(f);
}
END_TEST

/* Random binds and unbinds; the incremental sums equal a recount. */
START_TEST(test_sums_match_recount)
{
	struct sched_fleet *f = new_fleet(NULL);
	enum { H = 7, G = 200 };
	bool bound[G] = {false};
	int where[G];
	struct sched_guest specs[G];
	uint64_t seed = 12345;

	for (int i = 0; i < H; i++) {
		struct sched_host h;
		char id[16];

		snprintf(id, sizeof(id), "h%d", i);
		base_host(&h, id);
		h.hooks = (uint32_t)i & SCHED_HOOKS_ALL;
		add_host(f, &h);
	}
	for (int i = 0; i < G; i++) {
		char id[16];

		snprintf(id, sizeof(id), "g%d", i);
		base_guest(&specs[i], id);
		specs[i].memory_mib = 1 + (uint64_t)(i * 37 % 500);
		specs[i].vcpus = 1 + (uint32_t)(i % 4);
		specs[i].hooks_preferred = (uint32_t)i & SCHED_HOOKS_ALL;
		specs[i].stats.known = i % 5 != 0;
		specs[i].stats.exits_per_s = i * 10.125;
		specs[i].stats.calls_per_s[PV_HOOK_CLOCK] = i * 3.5;
		specs[i].stats.exits_avoided_per_s[PV_HOOK_BLOCK] = i * 7.25;
		if (i % 3 == 0)
			snprintf(specs[i].anti_affinity, SCHED_ID_MAX, "grp%d", i % 9);
	}
	for (int step = 0; step < 5000; step++) {
		int i;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		i = (int)((seed >> 33) % G);
		if (bound[i]) {
			ck_assert_int_eq(sched_fleet_unbind(f, specs[i].id), 0);
			bound[i] = false;
		} else {
			char host[16];

			where[i] = (int)((seed >> 20) % H);
			snprintf(host, sizeof(host), "h%d", where[i]);
			bind(f, &specs[i], host);
			bound[i] = true;
		}
	}
	for (int hi = 0; hi < H; hi++) {
		uint64_t mem = 0, vcpus = 0;
		double exits = 0;
		uint32_t n = 0;
		struct sched_usage u;
		char host[16];

		snprintf(host, sizeof(host), "h%d", hi);
		for (int i = 0; i < G; i++)
			if (bound[i] && where[i] == hi) {
				n++;
				mem += specs[i].memory_mib;
				vcpus += specs[i].vcpus;
				exits += sched_guest_exits_on(&specs[i],
							      sched_fleet_host(f, host)->hooks);
				ck_assert_str_eq(sched_fleet_guest_host(f, specs[i].id), host);
			}
		usage(f, host, &u);
		ck_assert_uint_eq(u.guests, n);
		ck_assert_uint_eq(u.memory_mib, mem);
		ck_assert_uint_eq(u.vcpus, vcpus);
		ck_assert_double_eq_tol(u.exits_per_s, exits, 1e-6);
	}
	sched_fleet_free(f);
}
END_TEST

/* Many guests come and go: the id index keeps finding every bound guest
 * through growth and deleted slots, and freed records are reused. */
START_TEST(test_guest_churn)
{
	struct sched_fleet *f = new_fleet(NULL);
	enum { IDS = 3000 };
	static bool bound[IDS];
	struct sched_host h;
	uint64_t seed = 7;
	unsigned int n = 0;

	memset(bound, 0, sizeof(bound));
	base_host(&h, "big");
	h.memory_mib = 1ull << 30;
	h.cpus = 1u << 20;
	add_host(f, &h);
	for (int step = 0; step < 60000; step++) {
		struct sched_guest g;
		char id[16];
		int i;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		i = (int)((seed >> 33) % IDS);
		snprintf(id, sizeof(id), "churn-%d", i);
		if (bound[i]) {
			if (sched_fleet_unbind(f, id))
				ck_abort_msg("unbind %s", id);
			n--;
		} else {
			base_guest(&g, id);
			snprintf(g.anti_affinity, sizeof(g.anti_affinity), "grp%d", i % 50);
			if (sched_fleet_bind(f, &g, "big", NULL))
				ck_abort_msg("bind %s", id);
			n++;
		}
		bound[i] = !bound[i];
	}
	ck_assert_uint_eq(sched_fleet_nguests(f), n);
	for (int i = 0; i < IDS; i++) {
		char id[16];
		const char *on;

		snprintf(id, sizeof(id), "churn-%d", i);
		on = sched_fleet_guest_host(f, id);
		if (bound[i] ? !on || strcmp(on, "big") : on != NULL)
			ck_abort_msg("%s: bound %d, host %s", id, bound[i], on ? on : "none");
	}
	ck_assert_int_eq(sched_fleet_host_evict(f, "big"), (int)n);
	ck_assert_uint_eq(sched_fleet_nguests(f), 0);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_set_policy)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_policy p = *sched_fleet_policy(f);
	struct pvm_err err = {0};

	p.nscorers = 0;
	ck_assert_int_eq(sched_fleet_set_policy(f, &p, &err), -EINVAL);
	ck_assert_uint_eq(sched_fleet_policy(f)->nscorers, 3);
	ck_assert_int_eq(sched_policy_parse("scorers=spread:1", &p, &err), 0);
	ck_assert_int_eq(sched_fleet_set_policy(f, &p, &err), 0);
	ck_assert_int_eq(sched_fleet_policy(f)->scorers[0].scorer, SCHED_SCORER_SPREAD);
	sched_fleet_free(f);
	sched_fleet_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_fleet");
	TCase *tc = tcase_create("fleet");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_host_lifecycle);
	tcase_add_test(tc, test_host_update);
	tcase_add_test(tc, test_bind_errors);
	tcase_add_test(tc, test_guest_update_follows_stats);
	tcase_add_test(tc, test_explain_bound_guest);
	tcase_add_test(tc, test_explain_json);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_sums_match_recount);
	tcase_add_test(tc, test_guest_churn);
	tcase_add_test(tc, test_set_policy);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
