/* SPDX-License-Identifier: MIT */
/*
 * Parsers and validators: hook lists, labels, selectors, policies, host and
 * guest specs. Every bad input gets -EINVAL (or -E2BIG) with a message that
 * names the problem, and leaves the output untouched.
 */
#include <math.h>
#include <stdlib.h>

#include "helpers.h"

START_TEST(test_hook_bits_are_the_abi)
{
	/* Shared with the VMM's hook ABI v1: these numbers must not move. */
	ck_assert_uint_eq(PV_HOOK_CONSOLE, 0);
	ck_assert_uint_eq(PV_HOOK_BLOCK, 1);
	ck_assert_uint_eq(PV_HOOK_CLOCK, 2);
	ck_assert_uint_eq(PV_HOOK_AGENT, 3);
	ck_assert_uint_eq(PV_HOOK_HALT, 4);
	ck_assert_str_eq(pv_hook_name(0), "console");
	ck_assert_str_eq(pv_hook_name(4), "halt");
	ck_assert_ptr_null(pv_hook_name(5));
}
END_TEST

START_TEST(test_hook_parse)
{
	struct pvm_err err = {0};
	uint32_t bits = 99;
	char buf[64];

	ck_assert_int_eq(sched_hook_parse("console,block", &bits, &err), 0);
	ck_assert_uint_eq(bits, 3);
	ck_assert_int_eq(sched_hook_parse("", &bits, &err), 0);
	ck_assert_uint_eq(bits, 0);
	ck_assert_int_eq(sched_hook_parse("halt,agent,clock,block,console", &bits, &err), 0);
	ck_assert_uint_eq(bits, SCHED_HOOKS_ALL);
	ck_assert_int_eq(sched_hook_format(bits, buf, sizeof(buf)), 30);
	ck_assert_str_eq(buf, "console,block,clock,agent,halt");
	ck_assert_int_eq(sched_hook_format(0x41, buf, sizeof(buf)), 12);
	ck_assert_str_eq(buf, "console,bit6");
	/* Truncation is reported as snprintf does. */
	ck_assert_int_eq(sched_hook_format(3, buf, 4), 13);
	ck_assert_str_eq(buf, "con");
}
END_TEST

static const char *const bad_hooks[] = {
    "serial",	       "console,", ",console",	    "console,,block",
    "console,console", "Console",  "console block", "memory",
};

START_TEST(test_hook_parse_bad)
{
	struct pvm_err err = {0};
	uint32_t bits = 77;

	ck_assert_int_eq(sched_hook_parse(bad_hooks[_i], &bits, &err), -EINVAL);
	ck_assert_uint_eq(bits, 77);
	ck_assert_msg(err.msg[0], "no message for %s", bad_hooks[_i]);
}
END_TEST

START_TEST(test_names)
{
	enum sched_host_state s;
	enum sched_kind k;

	ck_assert_int_eq(sched_host_state_parse("unreachable", &s), 0);
	ck_assert_int_eq(s, SCHED_HOST_UNREACHABLE);
	ck_assert_int_eq(sched_host_state_parse("Ready", &s), -EINVAL);
	ck_assert_int_eq(sched_kind_parse("libvirt", &k), 0);
	ck_assert_int_eq(k, SCHED_KIND_LIBVIRT);
	ck_assert_int_eq(sched_kind_parse("windows", &k), -EINVAL);
	ck_assert_str_eq(sched_kind_name(SCHED_KIND_MICROGUEST), "microguest");
	ck_assert_ptr_null(sched_kind_name(SCHED_KIND_COUNT));
	ck_assert_str_eq(sched_filter_name(SCHED_FILTER_ANTI_AFFINITY), "anti_affinity");
	ck_assert_str_eq(sched_scorer_name(SCHED_SCORER_EXIT_PRESSURE), "exit_pressure");
	ck_assert_ptr_null(sched_filter_name(SCHED_FILTER_COUNT));
	ck_assert_ptr_null(sched_scorer_name(SCHED_SCORER_COUNT));
}
END_TEST

START_TEST(test_labels_and_selectors)
{
	struct sched_label l[4];
	struct sched_selector_term t[4];
	struct pvm_err err = {0};
	unsigned int n = 0;

	ck_assert_int_eq(sched_labels_parse("zone=eu-1,disk=,rack/row=a.b_c", l, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[0].key, "zone");
	ck_assert_str_eq(l[0].value, "eu-1");
	ck_assert_str_eq(l[1].value, "");
	ck_assert_str_eq(l[2].key, "rack/row");
	ck_assert_int_eq(sched_labels_parse("", l, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(sched_selector_parse("zone=a,disk!=hdd,gpu,!spot", t, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(t[0].op, SCHED_SEL_EQ);
	ck_assert_int_eq(t[1].op, SCHED_SEL_NE);
	ck_assert_str_eq(t[1].key, "disk");
	ck_assert_str_eq(t[1].value, "hdd");
	ck_assert_int_eq(t[2].op, SCHED_SEL_EXISTS);
	ck_assert_int_eq(t[3].op, SCHED_SEL_ABSENT);
	ck_assert_str_eq(t[3].key, "spot");
}
END_TEST

static const char *const bad_labels[] = {
    "zone",		   /* not key=value */
    "=a",		   /* empty key */
    "zone=a,zone=b",	   /* twice */
    "zone=a b",		   /* space */
    "zo\"ne=a",		   /* quote */
    "a=1,b=2,c=3,d=4,e=5", /* more than 4 */
    "zone=a,",		   /* empty item */
    "k=0123456789012345678901234567890123456789012345678901234567890123456789",
};

START_TEST(test_labels_bad)
{
	struct sched_label l[4];
	struct pvm_err err = {0};
	unsigned int n = 42;

	ck_assert_int_lt(sched_labels_parse(bad_labels[_i], l, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 42);
	ck_assert_msg(err.msg[0], "no message for %s", bad_labels[_i]);
}
END_TEST

static const char *const bad_selectors[] = {
    "!", "!=a", "zone=a,,b", "zone==a", "!zone=a", "zone=a=b", "zone=a;b",
};

START_TEST(test_selectors_bad)
{
	struct sched_selector_term t[4];
	struct pvm_err err = {0};
	unsigned int n = 42;

	ck_assert_msg(sched_selector_parse(bad_selectors[_i], t, 4, &n, &err) < 0, "accepted %s",
		      bad_selectors[_i]);
	ck_assert_uint_eq(n, 42);
	ck_assert_msg(err.msg[0], "no message for %s", bad_selectors[_i]);
}
END_TEST

START_TEST(test_policy_default_and_round_trip)
{
	struct sched_policy p, q;
	struct pvm_err err = {0};
	char buf[512];

	sched_policy_default(&p);
	ck_assert_int_eq(sched_policy_format(&p, buf, sizeof(buf)) > 0, 1);
	ck_assert_str_eq(buf, "filters=capacity,state,pv,labels,anti_affinity,max_guests;"
			      "scorers=binpack:1,pv_affinity:2,exit_pressure:3;cpu_overcommit=4;"
			      "exits_per_core=20000;limit=all;"
			      "rebalance=imbalance:1,overload:4,mismatch:1");
	memset(&q, 0xff, sizeof(q));
	q.nfilters = 0;
	sched_policy_default(&q);
	ck_assert_int_eq(sched_policy_parse(buf, &q, &err), 0);
	ck_assert_int_eq(memcmp(&p, &q, sizeof(p)), 0);

	/* An override changes only what it names. */
	ck_assert_int_eq(sched_policy_parse("scorers=spread:1.5;limit=all", &q, &err), 0);
	ck_assert_uint_eq(q.nfilters, 6);
	ck_assert_uint_eq(q.nscorers, 1);
	ck_assert_int_eq(q.scorers[0].scorer, SCHED_SCORER_SPREAD);
	ck_assert_double_eq(q.scorers[0].weight, 1.5);
	ck_assert_uint_eq(q.limit, SCHED_LIMIT_ALL);
	ck_assert_double_eq(q.cpu_overcommit, 4);
	ck_assert_int_eq(sched_policy_parse("limit=250;cpu_overcommit=1;exits_per_core=1e5;"
					    "rebalance=overload:0;filters=",
					    &q, &err),
			 0);
	ck_assert_uint_eq(q.limit, 250);
	ck_assert_double_eq(q.cpu_overcommit, 1);
	ck_assert_double_eq(q.exits_per_core, 1e5);
	ck_assert_double_eq(q.w_overload, 0);
	ck_assert_double_eq(q.w_imbalance, 1);
	ck_assert_uint_eq(q.nfilters, 0);
	/* Numbers format back exactly. */
	ck_assert_int_eq(sched_policy_parse("scorers=binpack:0.123456789012,spread:3e-7;"
					    "exits_per_core=12345.678901",
					    &q, &err),
			 0);
	sched_policy_format(&q, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "scorers=binpack:0.123456789012,spread:3e-07;"), "%s", buf);
	sched_policy_default(&p);
	ck_assert_int_eq(sched_policy_parse(buf, &p, &err), 0);
	ck_assert_int_eq(memcmp(&p, &q, sizeof(p)), 0);
	/* Scorer weight defaults to 1; empty items between ';' are ignored. */
	ck_assert_int_eq(sched_policy_parse(";scorers=binpack;;", &q, &err), 0);
	ck_assert_double_eq(q.scorers[0].weight, 1);
}
END_TEST

static const struct {
	const char *policy;
	const char *msg;
} bad_policies[] = {
    {"filters=capacity,gpu", "unknown filter \"gpu\""},
    {"filters=capacity,capacity", "named twice"},
    {"filters=capacity,", "empty name"},
    {"scorers=", "at least one scorer"},
    {"scorers=binpack:0", "weight of \"binpack\""},
    {"scorers=binpack:-1", "weight of \"binpack\""},
    {"scorers=binpack:nan", "weight of \"binpack\""},
    {"scorers=binpack:inf", "weight of \"binpack\""},
    {"scorers=binpack:1001", "weight of \"binpack\""},
    {"scorers=binpack:1x", "weight of \"binpack\""},
    {"scorers=binpack:", "weight of \"binpack\""},
    {"scorers=binpack,binpack:2", "named twice"},
    {"scorers=fastest:1", "unknown scorer"},
    {"cpu_overcommit=0.5", "cpu_overcommit"},
    {"cpu_overcommit=", "cpu_overcommit"},
    {"cpu_overcommit= 2", "cpu_overcommit"},
    {"exits_per_core=0", "exits_per_core"},
    {"exits_per_core=-5", "exits_per_core"},
    {"limit=0", "limit"},
    {"limit=some", "limit"},
    {"limit=-1", "limit"},
    {"limit=99999999999", "limit"},
    {"rebalance=imbalance", "rebalance"},
    {"rebalance=skew:1", "rebalance"},
    {"rebalance=overload:-1", "rebalance"},
    {"binpack", "not key=value"},
    {"speed=fast", "unknown policy key \"speed\""},
    {"Filters=capacity", "unknown policy key"},
};

START_TEST(test_policy_bad)
{
	struct sched_policy p, before;
	struct pvm_err err = {0};

	sched_policy_default(&p);
	p.limit = 7;
	before = p;
	ck_assert_msg(sched_policy_parse(bad_policies[_i].policy, &p, &err) == -EINVAL,
		      "accepted %s", bad_policies[_i].policy);
	ck_assert_msg(strstr(err.msg, bad_policies[_i].msg), "%s: message \"%s\"",
		      bad_policies[_i].policy, err.msg);
	ck_assert_int_eq(memcmp(&p, &before, sizeof(p)), 0);
}
END_TEST

START_TEST(test_policy_validate_struct)
{
	struct sched_policy p;
	struct sched_fleet *f = NULL;
	struct pvm_err err = {0};

	sched_policy_default(&p);
	p.filters[1] = p.filters[0];
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
	ck_assert_int_eq(sched_fleet_new(&p, &f, &err), -EINVAL);
	ck_assert_ptr_null(f);
	sched_policy_default(&p);
	p.scorers[0].scorer = (enum sched_scorer_id)42;
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
	sched_policy_default(&p);
	p.scorers[0].weight = NAN;
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
	sched_policy_default(&p);
	p.nscorers = 0;
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
	sched_policy_default(&p);
	p.nfilters = SCHED_PLUGINS_MAX + 1;
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
	sched_policy_default(&p);
	p.cpu_overcommit = 0;
	ck_assert_int_eq(sched_policy_validate(&p, &err), -EINVAL);
}
END_TEST

/* Host specs: each row breaks one field; the error names it. */
static void h_noid(struct sched_host *h)
{
	h->id[0] = '\0';
}
static void h_space(struct sched_host *h)
{
	strcpy(h->id, "a b");
}
static void h_longid(struct sched_host *h)
{
	memset(h->id, 'x', sizeof(h->id));
}
static void h_cpus0(struct sched_host *h)
{
	h->cpus = 0;
}
static void h_cpus_huge(struct sched_host *h)
{
	h->cpus = 1u << 30;
}
static void h_mem0(struct sched_host *h)
{
	h->memory_mib = 0;
}
static void h_mem_huge(struct sched_host *h)
{
	h->memory_mib = UINT64_MAX;
}
static void h_disk_huge(struct sched_host *h)
{
	h->disk_gib = UINT64_MAX / 2;
}
static void h_state(struct sched_host *h)
{
	h->state = (enum sched_host_state)9;
}
static void h_hooks(struct sched_host *h)
{
	h->hooks = 1u << 7;
}
static void h_abi0(struct sched_host *h)
{
	h->abi_versions = 1;
}
static void h_noabi(struct sched_host *h)
{
	h->abi_versions = 0;
}
static void h_kinds(struct sched_host *h)
{
	h->kinds = 1u << 5;
}
static void h_platforms(struct sched_host *h)
{
	h->platforms = 1u << 7;
}
static void h_nlabels(struct sched_host *h)
{
	h->nlabels = SCHED_LABELS_MAX + 1;
}
static void h_labelkey(struct sched_host *h)
{
	strcpy(h->labels[1].key, "bad key");
}
static void h_labeldup(struct sched_host *h)
{
	strcpy(h->labels[1].key, "zone");
}
static void h_labelval(struct sched_host *h)
{
	strcpy(h->labels[0].value, "a,b");
}

static const struct {
	void (*breaks)(struct sched_host *h);
	const char *field;
} bad_hosts[] = {
    {h_noid, "/id"},
    {h_space, "/id"},
    {h_longid, "/id"},
    {h_cpus0, "/cpus"},
    {h_cpus_huge, "/cpus"},
    {h_mem0, "/memory_mib"},
    {h_mem_huge, "/memory_mib"},
    {h_disk_huge, "/disk_gib"},
    {h_state, "/state"},
    {h_hooks, "/hooks"},
    {h_abi0, "/abi_versions"},
    {h_noabi, "/abi_versions"},
    {h_kinds, "/kinds"},
    {h_platforms, "/platforms"},
    {h_nlabels, "/labels"},
    {h_labelkey, "/labels/1/key"},
    {h_labeldup, "/labels/1/key"},
    {h_labelval, "/labels/0/value"},
};

START_TEST(test_host_bad)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct pvm_err err = {0};

	base_host(&h, "h1");
	ck_assert_int_eq(sched_host_validate(&h, &err), 0);
	bad_hosts[_i].breaks(&h);
	ck_assert_int_lt(sched_host_validate(&h, &err), 0);
	ck_assert_str_eq(err.field, bad_hosts[_i].field);
	ck_assert_int_lt(sched_fleet_host_add(f, &h, &err), 0);
	ck_assert_uint_eq(sched_fleet_nhosts(f), 0);
	sched_fleet_free(f);
}
END_TEST

static void g_noid(struct sched_guest *g)
{
	g->id[0] = '\0';
}
static void g_ctl(struct sched_guest *g)
{
	strcpy(g->id, "a\nb");
}
static void g_vcpus0(struct sched_guest *g)
{
	g->vcpus = 0;
}
static void g_mem0(struct sched_guest *g)
{
	g->memory_mib = 0;
}
static void g_mem_huge(struct sched_guest *g)
{
	g->memory_mib = 1ull << 50;
}
static void g_disk_huge(struct sched_guest *g)
{
	g->disk_gib = 1ull << 50;
}
static void g_kind(struct sched_guest *g)
{
	g->kind = (enum sched_kind)7;
}
static void g_platforms(struct sched_guest *g)
{
	g->platforms = PVM_PLATFORMS_ALL + 1;
}
static void g_req(struct sched_guest *g)
{
	g->hooks_required = 1u << 9;
}
static void g_pref(struct sched_guest *g)
{
	g->hooks_preferred = 1u << 31;
}
static void g_abi(struct sched_guest *g)
{
	g->abi_version = 32;
}
static void g_noabi(struct sched_guest *g)
{
	g->abi_version = 0;
	g->hooks_preferred = 1;
}
static void g_nsel(struct sched_guest *g)
{
	g->nselector = SCHED_SELECTOR_MAX + 1;
}
static void g_selop(struct sched_guest *g)
{
	g->nselector = 1;
	strcpy(g->selector[0].key, "zone");
	g->selector[0].op = (enum sched_selector_op)12;
}
static void g_selkey(struct sched_guest *g)
{
	g->nselector = 1;
	g->selector[0].key[0] = '\0';
}
static void g_group(struct sched_guest *g)
{
	strcpy(g->anti_affinity, "web tier");
}
static void g_rate_nan(struct sched_guest *g)
{
	g->stats.calls_per_s[2] = NAN;
}
static void g_rate_neg(struct sched_guest *g)
{
	g->stats.exits_avoided_per_s[0] = -1;
}
static void g_rate_inf(struct sched_guest *g)
{
	g->stats.exits_per_s = INFINITY;
}
static void g_rate_huge(struct sched_guest *g)
{
	g->stats.exits_per_s = 1e13;
}

static const struct {
	void (*breaks)(struct sched_guest *g);
	const char *field;
} bad_guests[] = {
    {g_noid, "/id"},
    {g_ctl, "/id"},
    {g_vcpus0, "/vcpus"},
    {g_mem0, "/memory_mib"},
    {g_mem_huge, "/memory_mib"},
    {g_disk_huge, "/disk_gib"},
    {g_kind, "/kind"},
    {g_platforms, "/platforms"},
    {g_req, "/hooks_required"},
    {g_pref, "/hooks_preferred"},
    {g_abi, "/abi_version"},
    {g_noabi, "/abi_version"},
    {g_nsel, "/selector"},
    {g_selop, "/selector/0/op"},
    {g_selkey, "/selector/0/key"},
    {g_group, "/anti_affinity"},
    {g_rate_nan, "/stats/calls_per_s/clock"},
    {g_rate_neg, "/stats/exits_avoided_per_s/console"},
    {g_rate_inf, "/stats/exits_per_s"},
    {g_rate_huge, "/stats/exits_per_s"},
};

START_TEST(test_guest_bad)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_placement pl;
	struct sched_explain *e = NULL;
	struct pvm_err err = {0};

	base_host(&h, "h1");
	add_host(f, &h);
	base_guest(&g, "g1");
	ck_assert_int_eq(sched_guest_validate(&g, &err), 0);
	bad_guests[_i].breaks(&g);
	ck_assert_int_lt(sched_guest_validate(&g, &err), 0);
	ck_assert_str_eq(err.field, bad_guests[_i].field);
	/* Every entry point refuses it, and nothing is bound. */
	ck_assert_int_lt(sched_fleet_place(f, &g, NULL, &pl, &err), 0);
	ck_assert_str_eq(pl.host_id, "");
	ck_assert_int_lt(sched_fleet_place_bind(f, &g, NULL, &pl, &err), 0);
	ck_assert_int_lt(sched_fleet_bind(f, &g, "h1", &err), 0);
	ck_assert_int_lt(sched_fleet_explain(f, &g, NULL, &e, &err), 0);
	ck_assert_ptr_null(e);
	ck_assert_uint_eq(sched_fleet_nguests(f), 0);
	sched_fleet_free(f);
}
END_TEST

/* Random bytes into every parser: an answer (0 or a negative errno) and a
 * message, never a crash (this suite also runs under ASan and UBSan); a
 * policy that parses formats back to itself. */
START_TEST(test_parsers_random_input)
{
	static const char alphabet[] = "=,;:!-.abcdefghilmnoprstuvwxyz_0123456789 \t\xff";
	uint64_t seed = 42;

	for (int round = 0; round < 20000; round++) {
		char in[48], buf[1024];
		size_t len;
		struct sched_policy p, q;
		struct sched_label l[4];
		struct sched_selector_term t[4];
		struct pvm_err err = {0};
		unsigned int n;
		uint32_t bits;
		int rc;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		len = (seed >> 58) % sizeof(in);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			in[i] = alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];
		}
		in[len] = '\0';
		sched_policy_default(&p);
		rc = sched_policy_parse(in, &p, &err);
		if (rc) {
			if (rc > 0 || !err.msg[0])
				ck_abort_msg("policy \"%s\": rc %d, no message", in, rc);
		} else {
			sched_policy_format(&p, buf, sizeof(buf));
			sched_policy_default(&q);
			if (sched_policy_parse(buf, &q, &err) || memcmp(&p, &q, sizeof(p)))
				ck_abort_msg("policy \"%s\" does not round-trip as \"%s\"", in,
					     buf);
		}
		rc = sched_labels_parse(in, l, 4, &n, &err);
		if (rc > 0 || (!rc && n > 4))
			ck_abort_msg("labels \"%s\": rc %d", in, rc);
		rc = sched_selector_parse(in, t, 4, &n, &err);
		if (rc > 0 || (!rc && n > 4))
			ck_abort_msg("selector \"%s\": rc %d", in, rc);
		rc = sched_hook_parse(in, &bits, &err);
		if (rc > 0 || (!rc && bits & ~SCHED_HOOKS_ALL))
			ck_abort_msg("hooks \"%s\": rc %d", in, rc);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_parse");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_hook_bits_are_the_abi);
	tcase_add_test(tc, test_hook_parse);
	tcase_add_loop_test(tc, test_hook_parse_bad, 0, (int)PVM_ARRAY_SIZE(bad_hooks));
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_labels_and_selectors);
	tcase_add_loop_test(tc, test_labels_bad, 0, (int)PVM_ARRAY_SIZE(bad_labels));
	tcase_add_loop_test(tc, test_selectors_bad, 0, (int)PVM_ARRAY_SIZE(bad_selectors));
	tcase_add_test(tc, test_policy_default_and_round_trip);
	tcase_add_loop_test(tc, test_policy_bad, 0, (int)PVM_ARRAY_SIZE(bad_policies));
	tcase_add_test(tc, test_policy_validate_struct);
	tcase_add_loop_test(tc, test_host_bad, 0, (int)PVM_ARRAY_SIZE(bad_hosts));
	tcase_add_loop_test(tc, test_guest_bad, 0, (int)PVM_ARRAY_SIZE(bad_guests));
	tcase_add_test(tc, test_parsers_random_input);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
