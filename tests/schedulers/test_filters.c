/* SPDX-License-Identifier: MIT */
/*
 * Every filter, table-driven: one host and one guest per row, changed from
 * a plain base by a setup function; the row's filter alone decides, and
 * explain's verdict, its reason, and place() must all agree with the row.
 */
#include <stdlib.h>

#include "helpers.h"

struct filter_case {
	const char *name;
	enum sched_filter_id filter;
	void (*setup)(struct sched_host *h, struct sched_guest *g);
	unsigned int prebound; /* 1 GiB, 1 vCPU, 10 GiB guests already on the host */
	const char *prebound_group;
	bool pass;
	const char *reason; /* substring of explain's reason */
};

static void nothing(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	(void)g;
}

/* capacity */
static void mem_exact(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->memory_mib = 8192;
}
static void mem_over(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->memory_mib = 8193;
}
static void vcpu_overcommit_fits(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->vcpus = 16; /* 4 CPUs x 4 */
}
static void vcpu_over(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->vcpus = 17;
}
static void disk_over(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->disk_gib = 101;
}
static void mem_after_prebound(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->memory_mib = 6 * 1024 + 1; /* 2 GiB used by two guests */
}
/* state */
static void unreachable(struct sched_host *h, struct sched_guest *g)
{
	(void)g;
	h->state = SCHED_HOST_UNREACHABLE;
}
static void down(struct sched_host *h, struct sched_guest *g)
{
	(void)g;
	h->state = SCHED_HOST_DOWN;
}
static void cordoned(struct sched_host *h, struct sched_guest *g)
{
	(void)g;
	h->cordoned = true;
}
static void draining(struct sched_host *h, struct sched_guest *g)
{
	(void)g;
	h->draining = true;
}
/* pv */
static void needs_block_offered(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->hooks_required = SCHED_HOOK_BIT(PV_HOOK_BLOCK) | SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
}
static void needs_block_missing(struct sched_host *h, struct sched_guest *g)
{
	h->hooks = SCHED_HOOK_BIT(PV_HOOK_CONSOLE) | SCHED_HOOK_BIT(PV_HOOK_CLOCK);
	g->hooks_required = SCHED_HOOK_BIT(PV_HOOK_BLOCK) | SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
}
static void abi_mismatch(struct sched_host *h, struct sched_guest *g)
{
	h->abi_versions = 1u << 2;
	g->hooks_required = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
}
static void abi_one_of_many(struct sched_host *h, struct sched_guest *g)
{
	h->abi_versions = (1u << 1) | (1u << 2) | (1u << 3);
	g->abi_version = 2;
	g->hooks_required = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
}
static void preferred_missing_is_fine(struct sched_host *h, struct sched_guest *g)
{
	h->hooks = 0;
	h->abi_versions = 0;
	g->hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_CLOCK);
}
static void emulated_needed_absent(struct sched_host *h, struct sched_guest *g)
{
	h->emulated_devices = false;
	g->needs_emulated = true;
}
static void emulated_needed_present(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	g->needs_emulated = true;
	g->abi_version = 0;
}
static void linux_features_ok(struct sched_host *h, struct sched_guest *g)
{
	h->kvm_features = (1u << 3) | (1u << 5) | (1u << 6);
	g->kind = SCHED_KIND_LINUX;
	g->kvm_features_required = (1u << 3) | (1u << 5);
}
static void linux_features_missing(struct sched_host *h, struct sched_guest *g)
{
	h->kvm_features = (1u << 3);
	g->kind = SCHED_KIND_LINUX;
	g->kvm_features_required = (1u << 3) | (1u << 5);
}
static void kind_not_run(struct sched_host *h, struct sched_guest *g)
{
	h->kinds = SCHED_KIND_BIT(SCHED_KIND_MICROGUEST);
	g->kind = SCHED_KIND_LIBVIRT;
}
static void kind_run(struct sched_host *h, struct sched_guest *g)
{
	h->kinds = SCHED_KIND_BIT(SCHED_KIND_LIBVIRT);
	g->kind = SCHED_KIND_LIBVIRT;
}
static void platform_offered(struct sched_host *h, struct sched_guest *g)
{
	h->platforms = PVM_PLATFORMS_ALL;
	g->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_PROCESS);
}
static void platform_missing(struct sched_host *h, struct sched_guest *g)
{
	h->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_KVM);
	g->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_PROCESS);
}
static void platform_not_reported(struct sched_host *h, struct sched_guest *g)
{
	h->platforms = 0;
	g->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_KVM);
}
static void platform_any(struct sched_host *h, struct sched_guest *g)
{
	h->platforms = PVM_PLATFORM_BIT(PVM_PLATFORM_PROCESS);
	g->platforms = 0;
}
/* labels */
static void sel(struct sched_guest *g, const char *s)
{
	struct pvm_err err = {0};

	ck_assert_msg(
	    sched_selector_parse(s, g->selector, SCHED_SELECTOR_MAX, &g->nselector, &err) == 0,
	    "%s", err.msg);
}
static void sel_eq_ok(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "zone=a,disk=ssd");
}
static void sel_eq_other(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "zone=b");
}
static void sel_eq_absent(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "gpu=yes");
}
static void sel_ne_ok(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "disk!=hdd,gpu!=yes");
}
static void sel_ne_bad(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "disk!=ssd");
}
static void sel_exists(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "zone");
}
static void sel_absent_bad(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "!zone");
}
static void sel_absent_ok(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	sel(g, "!spot");
}
/* anti_affinity */
static void group_web(struct sched_host *h, struct sched_guest *g)
{
	(void)h;
	snprintf(g->anti_affinity, sizeof(g->anti_affinity), "web");
}
/* max_guests */
static void max_two(struct sched_host *h, struct sched_guest *g)
{
	(void)g;
	h->max_guests = 2;
}

static const struct filter_case cases[] = {
    {"capacity: fits", SCHED_FILTER_CAPACITY, nothing, 0, NULL, true, "fits"},
    {"capacity: memory exactly full", SCHED_FILTER_CAPACITY, mem_exact, 0, NULL, true, "fits"},
    {"capacity: memory one MiB over", SCHED_FILTER_CAPACITY, mem_over, 0, NULL, false,
     "memory: 8193 MiB wanted, 8192 of 8192 MiB free"},
    {"capacity: vCPUs with overcommit", SCHED_FILTER_CAPACITY, vcpu_overcommit_fits, 0, NULL, true,
     "fits"},
    {"capacity: vCPUs over overcommit", SCHED_FILTER_CAPACITY, vcpu_over, 0, NULL, false,
     "vcpus: 17 wanted, 16 of 16 free"},
    {"capacity: disk", SCHED_FILTER_CAPACITY, disk_over, 0, NULL, false, "disk: 101 GiB"},
    {"capacity: counts bound guests", SCHED_FILTER_CAPACITY, mem_after_prebound, 2, NULL, false,
     "6144 of 8192 MiB free"},
    {"state: ready", SCHED_FILTER_STATE, nothing, 0, NULL, true, "ready"},
    {"state: unreachable", SCHED_FILTER_STATE, unreachable, 0, NULL, false, "unreachable"},
    {"state: down", SCHED_FILTER_STATE, down, 0, NULL, false, "down"},
    {"state: cordoned", SCHED_FILTER_STATE, cordoned, 0, NULL, false, "cordoned"},
    {"state: draining", SCHED_FILTER_STATE, draining, 0, NULL, false, "draining"},
    {"pv: required hooks offered", SCHED_FILTER_PV, needs_block_offered, 0, NULL, true,
     "hooks usable: console,block"},
    {"pv: required hook missing", SCHED_FILTER_PV, needs_block_missing, 0, NULL, false,
     "missing required hooks: block"},
    {"pv: ABI version not offered", SCHED_FILTER_PV, abi_mismatch, 0, NULL, false,
     "hook ABI version 1 not offered"},
    {"pv: ABI version among several", SCHED_FILTER_PV, abi_one_of_many, 0, NULL, true,
     "compatible"},
    {"pv: preferred hooks are not required", SCHED_FILTER_PV, preferred_missing_is_fine, 0, NULL,
     true, "hooks usable: none"},
    {"pv: needs emulated devices, none", SCHED_FILTER_PV, emulated_needed_absent, 0, NULL, false,
     "no emulated devices"},
    {"pv: needs emulated devices, offered", SCHED_FILTER_PV, emulated_needed_present, 0, NULL, true,
     "compatible"},
    {"pv: Linux guest, KVM pv features present", SCHED_FILTER_PV, linux_features_ok, 0, NULL, true,
     "compatible"},
    {"pv: Linux guest, KVM pv feature missing", SCHED_FILTER_PV, linux_features_missing, 0, NULL,
     false, "missing KVM pv features 0x20"},
    {"pv: kind not run by host", SCHED_FILTER_PV, kind_not_run, 0, NULL, false,
     "does not run libvirt guests"},
    {"pv: kind run by host", SCHED_FILTER_PV, kind_run, 0, NULL, true, "compatible"},
    {"pv: required platform offered", SCHED_FILTER_PV, platform_offered, 0, NULL, true,
     "compatible"},
    {"pv: required platform not offered", SCHED_FILTER_PV, platform_missing, 0, NULL, false,
     "does not offer platform process (offers: kvm)"},
    {"pv: platform required, none reported", SCHED_FILTER_PV, platform_not_reported, 0, NULL, false,
     "does not offer platform kvm (offers: none reported)"},
    {"pv: no platform required", SCHED_FILTER_PV, platform_any, 0, NULL, true, "compatible"},
    {"labels: no selector", SCHED_FILTER_LABELS, nothing, 0, NULL, true, "no selector"},
    {"labels: key=value match", SCHED_FILTER_LABELS, sel_eq_ok, 0, NULL, true, "2 selector"},
    {"labels: key=value other value", SCHED_FILTER_LABELS, sel_eq_other, 0, NULL, false,
     "label zone=a, wanted b"},
    {"labels: key=value key absent", SCHED_FILTER_LABELS, sel_eq_absent, 0, NULL, false,
     "no label gpu"},
    {"labels: key!=value holds", SCHED_FILTER_LABELS, sel_ne_ok, 0, NULL, true, "match"},
    {"labels: key!=value fails", SCHED_FILTER_LABELS, sel_ne_bad, 0, NULL, false, "wanted not ssd"},
    {"labels: key exists", SCHED_FILTER_LABELS, sel_exists, 0, NULL, true, "match"},
    {"labels: !key, key present", SCHED_FILTER_LABELS, sel_absent_bad, 0, NULL, false,
     "has label zone"},
    {"labels: !key, key absent", SCHED_FILTER_LABELS, sel_absent_ok, 0, NULL, true, "match"},
    {"anti_affinity: no group", SCHED_FILTER_ANTI_AFFINITY, nothing, 1, "web", true, "no group"},
    {"anti_affinity: group member here", SCHED_FILTER_ANTI_AFFINITY, group_web, 1, "web", false,
     "a guest of group web runs here"},
    {"anti_affinity: other group here", SCHED_FILTER_ANTI_AFFINITY, group_web, 1, "db", true,
     "no guest of group web"},
    {"max_guests: no limit", SCHED_FILTER_MAX_GUESTS, nothing, 3, NULL, true, "no limit"},
    {"max_guests: below", SCHED_FILTER_MAX_GUESTS, max_two, 1, NULL, true, "1 of at most 2"},
    {"max_guests: at limit", SCHED_FILTER_MAX_GUESTS, max_two, 2, NULL, false, "2 of at most 2"},
};

START_TEST(test_filter_case)
{
	const struct filter_case *fc = &cases[_i];
	struct sched_host h;
	struct sched_guest g;
	struct sched_fleet *f;
	struct sched_explain *e = NULL;
	struct sched_placement pl;
	struct pvm_err err = {0};
	char policy[128];
	int rc;

	base_host(&h, "h1");
	base_guest(&g, "new");
	fc->setup(&h, &g);
	snprintf(policy, sizeof(policy), "filters=%s;scorers=binpack:1",
		 sched_filter_name(fc->filter));
	f = new_fleet(policy);
	add_host(f, &h);
	for (unsigned int i = 0; i < fc->prebound; i++) {
		struct sched_guest b;
		char id[16];

		snprintf(id, sizeof(id), "old%u", i);
		base_guest(&b, id);
		if (fc->prebound_group)
			snprintf(b.anti_affinity, sizeof(b.anti_affinity), "%s",
				 fc->prebound_group);
		bind(f, &b, "h1");
	}
	ck_assert_msg(sched_fleet_explain(f, &g, NULL, &e, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(e->nhosts, 1);
	ck_assert_msg(e->hosts[0].filters[0].pass == fc->pass, "%s: verdict %d, reason \"%s\"",
		      fc->name, e->hosts[0].filters[0].pass, e->hosts[0].filters[0].reason);
	ck_assert_msg(strstr(e->hosts[0].filters[0].reason, fc->reason), "%s: reason \"%s\"",
		      fc->name, e->hosts[0].filters[0].reason);
	ck_assert_int_eq(e->hosts[0].feasible, fc->pass);

	rc = sched_fleet_place(f, &g, NULL, &pl, &err);
	if (fc->pass) {
		ck_assert_msg(rc == 0, "%s: %s", fc->name, err.msg);
		ck_assert_str_eq(pl.host_id, "h1");
	} else {
		ck_assert_int_eq(rc, SCHED_ENOHOST);
		ck_assert_str_eq(pl.host_id, "");
		ck_assert_uint_eq(pl.rejected[0], 1);
		ck_assert_msg(strstr(err.msg, "1 excluded by filter"), "%s", err.msg);
		ck_assert_msg(strstr(err.msg, sched_filter_name(fc->filter)), "%s", err.msg);
	}
	/* The fleet is unchanged by explain and place. */
	ck_assert_uint_eq(sched_fleet_nguests(f), fc->prebound);
	sched_explain_free(e);
	sched_fleet_free(f);
}
END_TEST

/* The filters of a full policy each count the hosts they exclude, as Nomad
 * reports "N nodes excluded by filter". */
START_TEST(test_rejection_counts)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_host h;
	struct sched_guest g;
	struct sched_placement pl;
	struct pvm_err err = {0};

	base_host(&h, "small");
	h.memory_mib = 512;
	add_host(f, &h);
	base_host(&h, "small2");
	h.memory_mib = 512;
	add_host(f, &h);
	base_host(&h, "cordoned");
	h.cordoned = true;
	add_host(f, &h);
	base_host(&h, "nohooks");
	h.hooks = 0;
	add_host(f, &h);
	base_guest(&g, "web-1");
	g.hooks_required = SCHED_HOOK_BIT(PV_HOOK_BLOCK);
	ck_assert_int_eq(sched_fleet_place(f, &g, NULL, &pl, &err), SCHED_ENOHOST);
	ck_assert_uint_eq(pl.hosts_total, 4);
	ck_assert_uint_eq(pl.hosts_feasible, 0);
	ck_assert_uint_eq(pl.rejected[0], 2); /* capacity */
	ck_assert_uint_eq(pl.rejected[1], 1); /* state */
	ck_assert_uint_eq(pl.rejected[2], 1); /* pv */
	ck_assert_str_eq(err.msg, "no host can take guest \"web-1\": 4 hosts; 2 excluded by "
				  "filter capacity, 1 by filter state, 1 by filter pv");
	ck_assert_int_eq(err.code, SCHED_ENOHOST);
	sched_fleet_free(f);
}
END_TEST

START_TEST(test_empty_fleet)
{
	struct sched_fleet *f = new_fleet(NULL);
	struct sched_guest g;
	struct sched_placement pl;
	struct pvm_err err = {0};

	base_guest(&g, "g");
	ck_assert_int_eq(sched_fleet_place(f, &g, NULL, &pl, &err), SCHED_ENOHOST);
	ck_assert_str_eq(err.msg, "no host can take guest \"g\": 0 hosts");
	sched_fleet_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_filters");
	TCase *tc = tcase_create("filters");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_filter_case, 0, (int)PVM_ARRAY_SIZE(cases));
	tcase_add_test(tc, test_rejection_counts);
	tcase_add_test(tc, test_empty_fleet);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
