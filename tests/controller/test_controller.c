/* SPDX-License-Identifier: MIT */
/*
 * The controller without HTTP: a real store on a temporary SQLite file,
 * written to directly (as the API would) and through a second connection
 * (struct store) to the same file (as another controller or process would),
 * and the controller stepped by hand (controller_step), so every assertion
 * is about one known state.
 */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "schedulers/sched.h"
#include "store/store.h"
#include "tests/store/helpers.h"

static struct tdir td;
static struct store *st;

static void setup(void)
{
	tdir_make(&td);
	st = tdir_open(&td);
}

static void teardown(void)
{
	store_close(st);
	tdir_remove(&td);
}

static struct controller *open_ctl(struct store *s, const char *replica, unsigned hb)
{
	struct controller_config cc = {.store = s, .heartbeat_s = hb, .replica = replica};
	struct pvm_err err = {0};
	struct controller *c = NULL;

	ck_assert_msg(controller_open(&cc, &c, &err) == 0, "%s", err.msg);
	return c;
}

/* A ready host that heartbeats now. */
static void ready_host(struct store *s, const char *name, int64_t cpus, int64_t mem,
		       struct store_host *h)
{
	struct pvm_err err = {0};

	make_host(s, name, cpus, mem, 100, h);
	ck_assert_msg(store_host_heartbeat(s, h->id, NULL, NULL, &err) == 0, "%s", err.msg);
}

static int step(struct controller *c)
{
	struct pvm_err err = {0};
	int ret = controller_step(c, &err);

	ck_assert_msg(ret >= 0, "step: %d %s", ret, err.msg);
	return ret;
}

static void bound_to(const char *guest, const char *host)
{
	struct store_guest g;

	ck_assert_int_eq(store_guest_get(st, guest, &g, NULL), 0);
	ck_assert_str_eq(g.host_id, host);
	store_guest_free(&g);
}

/* How many events of a type about a subject the log holds. */
static int count_events(const char *type, const char *subject)
{
	struct store_event_list l;
	int n = 0;

	ck_assert_int_eq(store_events_since(st, 0, 1000, &l, NULL), 0);
	for (size_t i = 0; i < l.n; i++)
		n += strcmp(l.items[i].type, type) == 0 && strcmp(l.items[i].subject, subject) == 0;
	store_event_list_free(&l);
	return n;
}

START_TEST(places_a_new_guest_and_follows_the_bind)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_host h;
	struct store_guest g;
	char where[STORE_ID_MAX];

	ready_host(st, "h1", 4, 4096, &h);
	make_guest(st, "g1", 1, 512, 1, &g);
	ck_assert_int_eq(step(c), 1);
	bound_to(g.id, h.id);
	controller_guest_host(c, g.id, where, sizeof(where));
	ck_assert_str_eq(where, h.id);
	ck_assert_uint_eq(controller_nguests(c), 1);
	ck_assert_int_eq(count_events(STORE_EV_GUEST_BOUND, g.id), 1);
	ck_assert_int_eq(controller_role(c), CONTROLLER_LEADER);
	controller_close(c);
	store_host_free(&h);
}
END_TEST

/* A ready host running Linux guests under the accelerator accel, as its
 * heartbeat reports it. */
static void linux_host(const char *name, int64_t mem, const char *accel, struct store_host *h)
{
	char caps[128];
	struct pvm_err err = {0};

	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->address, sizeof(h->address), "10.0.0.1:7070");
	snprintf(caps, sizeof(caps), "{\"kinds\":[\"libvirt\",\"linux\"],\"linux_accel\":\"%s\"}",
		 accel);
	h->capabilities = caps;
	h->state = STORE_HOST_READY;
	h->cpus = 4;
	h->memory_mib = mem;
	h->disk_gib = 100;
	ck_assert_msg(store_host_create(st, h, &err) == 0, "%s", err.msg);
	h->capabilities = NULL; /* not owned */
	ck_assert_msg(store_host_heartbeat(st, h->id, NULL, NULL, &err) == 0, "%s", err.msg);
}

/* The host's linux_accel reaches the scheduler: a Linux guest goes to the
 * host with VMX/SVM although packing alone prefers the smaller TCG one. */
START_TEST(linux_guests_avoid_tcg_hosts)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_host tcg, kvm;
	struct store_guest g = {0};
	struct pvm_err err = {0};

	linux_host("tcg", 4096, "tcg", &tcg);
	linux_host("kvm", 16384, "kvm", &kvm);
	snprintf(g.name, sizeof(g.name), "lx");
	g.spec = "{\"image\":\"debian\",\"kind\":\"linux\","
		 "\"vcpus\":1,\"memory_mib\":512,\"disk_gib\":1}";
	g.kind = STORE_GUEST_LINUX;
	g.vcpus = 1;
	g.memory_mib = 512;
	g.disk_gib = 1;
	ck_assert_msg(store_guest_create(st, &g, &err) == 0, "%s", err.msg);
	g.spec = NULL; /* not owned */
	ck_assert_int_eq(step(c), 1);
	bound_to(g.id, kvm.id);
	controller_close(c);
	store_host_free(&tcg);
	store_host_free(&kvm);
}
END_TEST

/* The first decision on a guest no host can take is recorded once, with an
 * event a waiting create hears; later passes retry without recording. */
START_TEST(unschedulable_is_recorded_once)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_placement_list pl;
	struct store_list_opts o = {0};
	struct store_guest g, w;
	struct store_host h;
	struct pvm_err err = {0};
	int64_t since;

	ready_host(st, "small", 1, 512, &h);
	ck_assert_int_eq(store_events_last_seq(st, &since, NULL), 0);
	make_guest(st, "huge", 64, 65536, 1, &g);
	step(c);
	step(c);
	ck_assert_int_eq(count_events(CONTROLLER_EV_UNSCHEDULABLE, g.id), 1);
	o.guest_id = g.id;
	ck_assert_int_eq(store_placement_list(st, &o, &pl, NULL), 0);
	ck_assert_uint_eq(pl.n, 1);
	ck_assert_str_eq(pl.items[0].decision, "unschedulable");
	store_placement_list_free(&pl);
	/* A create waiting for this guest hears the decision. */
	ck_assert_int_eq(
	    controller_wait_decision(c, g.id, since, pvm_now_ns() + 1000000000ull, &w, &err), 0);
	ck_assert_str_eq(w.host_id, "");
	store_guest_free(&w);
	controller_close(c);
	store_host_free(&h);
}
END_TEST

/* Without a decision, the wait ends at its deadline with the guest as it is. */
START_TEST(wait_without_decision_times_out)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_guest g, w;
	struct pvm_err err = {0};
	uint64_t t0 = pvm_now_ns();
	int64_t since;

	ck_assert_int_eq(store_events_last_seq(st, &since, NULL), 0);
	make_guest(st, "g", 1, 128, 1, &g);
	ck_assert_int_eq(controller_wait_decision(c, g.id, since, t0 + 200000000ull, &w, &err),
			 -ETIMEDOUT);
	ck_assert_uint_ge(pvm_now_ns() - t0, 200000000ull);
	ck_assert_str_eq(w.id, g.id);
	store_guest_free(&w);
	controller_close(c);
}
END_TEST

/* Changes committed through another connection (another process) reach the
 * fleet through the event log alone. */
START_TEST(fleet_follows_other_writers)
{
	struct store *other = tdir_open(&td);
	struct controller *c = open_ctl(st, "a", 10);
	struct store_host h1, h2;
	struct store_guest g;
	char where[STORE_ID_MAX];
	struct pvm_err err = {0};

	ready_host(other, "h1", 4, 4096, &h1);
	ready_host(other, "h2", 4, 4096, &h2);
	make_guest(other, "g", 1, 256, 1, &g);
	ck_assert_int_eq(store_guest_bind(other, g.id, 0, h2.id, NULL, NULL, &err), 0);
	step(c);
	controller_guest_host(c, g.id, where, sizeof(where));
	ck_assert_str_eq(where, h2.id);
	ck_assert_int_eq(store_guest_delete(other, g.id, 0, &err), 0);
	step(c);
	controller_guest_host(c, g.id, where, sizeof(where));
	ck_assert_str_eq(where, "");
	ck_assert_uint_eq(controller_nguests(c), 0);
	controller_close(c);
	store_close(other);
	store_host_free(&h1);
	store_host_free(&h2);
}
END_TEST

/* A host silent for three heartbeats becomes unreachable; its guests stay
 * while its lease (CONTROLLER_LEASE_BEATS) holds, then move to a host that
 * can take them. */
START_TEST(reaps_and_evacuates)
{
	struct controller *c = open_ctl(st, "a", 1);
	struct store_heartbeat old = {.cpus = -1, .memory_mib = -1, .disk_gib = -1};
	struct store_host h1, h2, now;
	struct store_guest g;
	struct pvm_err err = {0};

	ready_host(st, "h1", 4, 4096, &h1);
	make_guest(st, "g", 1, 256, 1, &g);
	step(c);
	bound_to(g.id, h1.id);
	ready_host(st, "h2", 4, 4096, &h2);
	/* heard from 5 s ago (1 s beats): unreachable, in its lease */
	old.now_ms = (int64_t)(pvm_wall_ns() / 1000000) -
		     (CONTROLLER_UNREACHABLE_BEATS + CONTROLLER_LEASE_BEATS) / 2 * 1000;
	ck_assert_int_eq(store_host_heartbeat(st, h1.id, &old, NULL, &err), 0);
	step(c);
	ck_assert_int_eq(store_host_get(st, h1.id, &now, NULL), 0);
	ck_assert_int_eq(now.state, STORE_HOST_UNREACHABLE);
	store_host_free(&now);
	bound_to(g.id, h1.id);
	/* and once the lease has run out */
	old.now_ms = (int64_t)(pvm_wall_ns() / 1000000) - (CONTROLLER_LEASE_BEATS + 2) * 1000;
	ck_assert_int_eq(store_host_heartbeat(st, h1.id, &old, NULL, &err), 0);
	step(c);
	bound_to(g.id, h2.id);
	controller_close(c);
	store_host_free(&h1);
	store_host_free(&h2);
}
END_TEST

/*
 * Two replicas on one store: one leads, the other follows and places
 * nothing; when the leader stops renewing, the other takes over within the
 * lease (1.5 heartbeats) and the old one, back, follows.
 */
START_TEST(one_leader_and_takeover)
{
	struct store *other = tdir_open(&td);
	struct controller *a = open_ctl(st, "a", 1), *b = open_ctl(other, "b", 1);
	struct sched_move moves[4];
	unsigned n, applied;
	double before, after;
	struct store_host h;
	struct store_guest g;
	struct pvm_err err = {0};
	char leader[STORE_NAME_MAX];
	uint64_t t0;

	ready_host(st, "h", 4, 4096, &h);
	ck_assert_int_eq(step(a), 1);
	ck_assert_int_eq(step(b), 0);
	ck_assert_int_eq(controller_role(b), CONTROLLER_FOLLOWER);
	controller_leader(b, leader, sizeof(leader));
	ck_assert_str_eq(leader, "a");
	ck_assert_int_eq(
	    controller_rebalance(b, 4, true, moves, &n, &applied, &before, &after, &err), -EAGAIN);
	make_guest(st, "g", 1, 256, 1, &g);
	step(b);
	bound_to(g.id, "");
	/* a stops renewing (as if it died): b leads once the lease runs out. */
	t0 = pvm_now_ns();
	while (step(b) != 1) {
		ck_assert_uint_lt(pvm_now_ns() - t0, 3000000000ull);
		pvm_sleep_ns(50000000ull);
	}
	ck_assert_uint_ge(pvm_now_ns() - t0, 1000000000ull);
	bound_to(g.id, h.id);
	ck_assert_int_eq(store_host_heartbeat(st, h.id, NULL, NULL, &err), 0);
	/* a is back: its own lease ran out, so it follows b. */
	pvm_sleep_ns(300000000ull);
	ck_assert_int_eq(step(a), 0);
	controller_leader(a, leader, sizeof(leader));
	ck_assert_str_eq(leader, "b");
	/* b hands the lease on when it closes: a takes it at its next tick (a
	 * quarter heartbeat), not after the lease would have run out. */
	controller_close(b);
	t0 = pvm_now_ns();
	while (step(a) != 1) {
		ck_assert_uint_lt(pvm_now_ns() - t0, 600000000ull);
		pvm_sleep_ns(20000000ull);
	}
	controller_close(a);
	store_close(other);
	store_host_free(&h);
}
END_TEST

/* Reported counters become the scheduler's rates without any request
 * handler: the guest's host scores worse on exit pressure. */
START_TEST(reports_become_rates)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_exit_count e = {.reason = "total"};
	struct sched_explain *ex = NULL;
	struct sched_guest probe;
	struct store_host h1, h2;
	struct store_guest g;
	struct pvm_err err = {0};
	json_object *spec = json_tokener_parse("{\"vcpus\":1,\"memory_mib\":64}");
	int64_t now = (int64_t)(pvm_wall_ns() / 1000000);

	ready_host(st, "h1", 8, 8192, &h1);
	make_guest(st, "noisy", 1, 256, 1, &g);
	step(c);
	bound_to(g.id, h1.id);
	ready_host(st, "h2", 8, 8192, &h2);
	/* Two readings, each taken by a step a rates period after the last. */
	ck_assert_int_eq(store_guest_exits_put(st, g.id, &e, 1, now - 2000, &err), 0);
	pvm_sleep_ns(1100000000ull);
	step(c);
	e.count = 100000000;
	ck_assert_int_eq(store_guest_exits_put(st, g.id, &e, 1, now, &err), 0);
	pvm_sleep_ns(1100000000ull);
	step(c);
	ck_assert_int_eq(controller_sched_guest("probe", spec, &probe, &err), 0);
	ck_assert_int_eq(controller_explain(c, &probe, NULL, &ex, &err), 0);
	ck_assert_str_eq(ex->chosen, h2.id);
	sched_explain_free(ex);
	json_object_put(spec);
	controller_close(c);
	store_host_free(&h1);
	store_host_free(&h2);
}
END_TEST

/* The raw score of scorer id on host, from an explanation. */
static double raw_score(const struct sched_explain *ex, const char *host, enum sched_scorer_id id)
{
	for (unsigned int h = 0; h < ex->nhosts; h++)
		for (unsigned int k = 0; k < ex->policy.nscorers; k++)
			if (!strcmp(ex->hosts[h].host_id, host) &&
			    ex->policy.scorers[k].scorer == id)
				return ex->hosts[h].raw[k];
	ck_abort_msg("no %s score for %s", sched_scorer_name(id), host);
	return -1;
}

#define AGENT_STATE(calls, reads)                                                                  \
	"{\"state\":\"connected\",\"report\":{\"report_no\":9,\"interval_ms\":1000,\"hooks\":"     \
	"{\"console\":{\"calls\":" calls ",\"cycles\":1,\"bytes\":" calls ",\"errors\":0},"        \
	"\"clock\":{\"calls\":" reads ",\"cycles\":1,\"bytes\":0,\"errors\":0}},"                  \
	"\"counters\":{\"clock_reads\":" reads ",\"exits\":0}}}"

/*
 * A guest's agent speaks for the guest, and the scheduler must not take its
 * word. Two hosts, a guest on each with the same VMM-counted exits and hook
 * statistics at the same times; one agent tells the truth, the other claims
 * 10^12 console calls and clock reads and no exits (a guest making itself
 * look cheap). A new guest that prefers the console hook scores the two
 * hosts alike on every scorer, and the exit load is seen on both.
 */
START_TEST(a_lying_agent_changes_no_placement)
{
	struct controller *c = open_ctl(st, "a", 10);
	struct store_exit_count e = {.reason = "total"};
	struct store_hook_stat hs = {.hook = "console", .calls = 0, .doorbells = 0};
	struct sched_explain *ex = NULL;
	struct sched_guest probe;
	struct store_host h1, h2;
	struct store_guest honest, liar;
	struct pvm_err err = {0};
	json_object *spec = json_tokener_parse(
	    "{\"vcpus\":1,\"memory_mib\":64,\"pv\":{\"hooks_preferred\":[\"console\"],"
	    "\"abi_version\":1}}");
	int64_t now = (int64_t)(pvm_wall_ns() / 1000000);
	const char *ids[2];

	ready_host(st, "h1", 8, 8192, &h1);
	ready_host(st, "h2", 8, 8192, &h2);
	make_guest(st, "honest", 1, 256, 1, &honest);
	make_guest(st, "liar", 1, 256, 1, &liar);
	ck_assert_msg(store_guest_bind(st, honest.id, 0, h1.id, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	ck_assert_msg(store_guest_bind(st, liar.id, 0, h2.id, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	ids[0] = honest.id;
	ids[1] = liar.id;
	ck_assert_int_ge(
	    store_guest_agent_put(st, honest.id, AGENT_STATE("500", "0"), false, now, &err), 0);
	ck_assert_int_ge(store_guest_agent_put(st, liar.id,
					       AGENT_STATE("1000000000000", "1000000000000"), false,
					       now, &err),
			 0);
	/* Two readings of the VMMs' counters, each taken by a step a rates period
	 * after the last: 50,000 exits/s, 250 console calls/s on both. */
	for (int r = 0; r < 2; r++) {
		e.count = r * 100000;
		hs.calls = hs.doorbells = hs.bytes = r * 500;
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(
			    store_guest_exits_put(st, ids[i], &e, 1, now - 2000 * (1 - r), &err),
			    0);
			ck_assert_int_eq(
			    store_hook_stats_put(st, ids[i], &hs, 1, now - 2000 * (1 - r), &err),
			    0);
		}
		pvm_sleep_ns(1100000000ull);
		step(c);
	}
	ck_assert_int_eq(controller_sched_guest("probe", spec, &probe, &err), 0);
	ck_assert_int_eq(controller_explain(c, &probe, NULL, &ex, &err), 0);
	ck_assert_double_lt(raw_score(ex, h1.id, SCHED_SCORER_EXIT_PRESSURE), 1);
	for (unsigned int k = 0; k < ex->policy.nscorers; k++) {
		enum sched_scorer_id id = ex->policy.scorers[k].scorer;

		ck_assert_msg(raw_score(ex, h1.id, id) == raw_score(ex, h2.id, id),
			      "%s: honest's host %g, liar's %g", sched_scorer_name(id),
			      raw_score(ex, h1.id, id), raw_score(ex, h2.id, id));
	}
	sched_explain_free(ex);
	json_object_put(spec);
	controller_close(c);
	store_guest_free(&honest);
	store_guest_free(&liar);
	store_host_free(&h1);
	store_host_free(&h2);
}
END_TEST

/* Reads right after a write see it before the loop has stepped: explain and
 * rebalance take in the event log first. */
START_TEST(reads_see_writes_before_a_step)
{
	struct controller *c = open_ctl(st, "a", 10);
	json_object *spec = json_tokener_parse("{\"vcpus\":1,\"memory_mib\":64}");
	unsigned n = 0, applied = 0;
	struct sched_explain *ex = NULL;
	struct sched_move moves[4];
	struct sched_guest probe;
	struct store_host h1, h2, h3;
	struct store_guest g1, g2;
	struct pvm_err err = {0};
	double before, after;

	ready_host(st, "h1", 4, 4096, &h1);
	make_guest(st, "g1", 2, 2048, 1, &g1);
	make_guest(st, "g2", 2, 2048, 1, &g2);
	step(c);
	bound_to(g1.id, h1.id);
	bound_to(g2.id, h1.id);
	/* A draining host's guests move whatever the policy (packing would
	 * keep two guests together otherwise): to the host that just came. */
	{
		char id[STORE_ID_MAX];

		snprintf(id, sizeof(id), "%s", h1.id);
		store_host_free(&h1);
		ck_assert_int_eq(store_host_get(st, id, &h1, &err), 0);
	}
	h1.draining = true;
	ck_assert_int_eq(store_host_update(st, &h1, &err), 0);
	step(c);
	ready_host(st, "h2", 4, 4096, &h2);
	ck_assert_int_eq(
	    controller_rebalance(c, 4, false, moves, &n, &applied, &before, &after, &err), 0);
	ck_assert_uint_ge(n, 1);
	ck_assert_str_eq(moves[0].to, h2.id);
	ready_host(st, "h3", 4, 4096, &h3);
	ck_assert_int_eq(controller_sched_guest("probe", spec, &probe, &err), 0);
	ck_assert_int_eq(controller_explain(c, &probe, NULL, &ex, &err), 0);
	ck_assert_uint_eq(ex->nhosts, 3);
	sched_explain_free(ex);
	json_object_put(spec);
	controller_close(c);
	store_host_free(&h1);
	store_host_free(&h2);
	store_host_free(&h3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("controller");
	TCase *tc = tcase_create("controller");
	SRunner *sr;
	int failed;

	if (tdir_backend() == 77)
		return 77;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, places_a_new_guest_and_follows_the_bind);
	tcase_add_test(tc, linux_guests_avoid_tcg_hosts);
	tcase_add_test(tc, unschedulable_is_recorded_once);
	tcase_add_test(tc, wait_without_decision_times_out);
	tcase_add_test(tc, fleet_follows_other_writers);
	tcase_add_test(tc, reaps_and_evacuates);
	tcase_add_test(tc, one_leader_and_takeover);
	tcase_add_test(tc, reports_become_rates);
	tcase_add_test(tc, a_lying_agent_changes_no_placement);
	tcase_add_test(tc, reads_see_writes_before_a_step);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
