/* SPDX-License-Identifier: MIT */
/*
 * The host-side session: an agent state machine and a session wired back to
 * back in memory (the agent channel without a VMM), staleness, floods,
 * garbage and the sync handshake, and the JSON document.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <json-c/json.h>

#include "tests/agent/samples.h"

#define MS (1000000ull)
#define T0 (5000 * MS)

static uint64_t console_bytes;

static void fill(void *ctx, struct agent_report *r)
{
	(void)ctx;
	r->nhooks = 1;
	r->hooks[0].hook = PV_HOOK_CONSOLE;
	r->hooks[0].calls = console_bytes / 512;
	r->hooks[0].cycles = 1234567;
	r->hooks[0].bytes = console_bytes;
	r->ncounters = 1;
	strcpy(r->counters[0].name, "console_bytes");
	r->counters[0].value = console_bytes;
}

static struct agent_sm sm;

/* Copy-out views, NULL when the session has none yet. */
static struct agent_report *report_of(struct agent_host *h)
{
	static struct agent_report r;

	return agent_host_report(h, &r) == 0 ? &r : NULL;
}

static struct agent_host_counters *counters_of(struct agent_host *h)
{
	static struct agent_host_counters c;

	agent_host_counters(h, &c);
	return &c;
}

static void agent_start(uint64_t now)
{
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_MICRO,
				      .os = "pvm-microguest",
				      .interval_ms = 1000,
				      .heartbeat_ms = 300,
				      .fill_report = fill};
	struct agent_msg neg;

	ck_assert_int_eq(agent_sm_init(&sm, &cfg, now), 0);
	sample_msg(AGENT_T_NEGOTIATION, &neg);
	ck_assert_int_eq(agent_sm_set_negotiation(&sm, &neg.u.neg), 0);
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(struct agent_host *h, uint64_t now)
{
	uint8_t buf[4 * AGENT_FRAME_MAX];
	size_t a, b;

	do {
		a = agent_sm_output(&sm, buf, sizeof(buf), now);
		agent_host_feed(h, buf, a, now);
		b = agent_host_output(h, buf, sizeof(buf), now);
		agent_sm_input(&sm, buf, b, now);
	} while (a || b);
}

static json_object *get(json_object *o, const char *path)
{
	char copy[256], *save, *key;

	strcpy(copy, path);
	for (key = strtok_r(copy, "/", &save); key && o; key = strtok_r(NULL, "/", &save))
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
	return o;
}

static int64_t get_int(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	ck_assert_msg(v != NULL, "missing %s", path);
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	ck_assert_msg(v != NULL, "missing %s", path);
	return json_object_get_string(v);
}

START_TEST(loopback_session)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	struct agent_report r;
	json_object *j;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(agent_host_report(h, &r), -ENOENT);
	j = agent_host_to_json(h, T0);
	ck_assert_str_eq(get_str(j, "state"), "waiting");
	ck_assert(json_object_is_type(get(j, "report"), json_type_null));
	json_object_put(j);

	agent_start(T0);
	pump(h, T0);
	console_bytes = 8192;
	pump(h, T0 + 1000 * MS);
	ck_assert_ptr_nonnull(report_of(h));
	ck_assert_uint_eq(report_of(h)->counters[0].value, 8192);
	{
		struct agent_hello he;
		struct agent_negotiation n;

		ck_assert_int_eq(agent_host_hello(h, &he), 0);
		ck_assert_str_eq(he.os, "pvm-microguest");
		ck_assert_int_eq(agent_host_negotiation(h, &n), 0);
		ck_assert_uint_eq(n.accepted, 0x0d);
	}

	ck_assert_int_eq(agent_host_ping(h, T0 + 1000 * MS), 0);
	pump(h, T0 + 1001 * MS);
	j = agent_host_to_json(h, T0 + 1001 * MS);
	ck_assert_str_eq(get_str(j, "state"), "connected");
	ck_assert_str_eq(get_str(j, "hello/os"), "pvm-microguest");
	ck_assert_str_eq(get_str(j, "hello/guest_kind"), "microguest");
	ck_assert_str_eq(get_str(j, "negotiation/status"), "accepted");
	ck_assert_str_eq(
	    json_object_get_string(json_object_array_get_idx(get(j, "negotiation/accepted"), 0)),
	    "console");
	ck_assert_str_eq(
	    json_object_get_string(
		get(json_object_array_get_idx(get(j, "negotiation/refused"), 0), "reason")),
	    "not_needed");
	ck_assert_str_eq(get_str(j, "negotiation/kvm/clocksource"), "kvm-clock");
	ck_assert_int_eq(get_int(j, "report/counters/console_bytes"), 8192);
	ck_assert_int_eq(get_int(j, "report/hooks/console/bytes"), 8192);
	ck_assert_int_eq(get_int(j, "report/hooks/console/calls"), 16);
	ck_assert_int_eq(get_int(j, "report/report_no"), 1);
	ck_assert(!json_object_get_boolean(get(j, "report/stale")));
	ck_assert_int_eq(get_int(j, "counters/pongs"), 1);
	ck_assert_int_eq(get_int(j, "counters/rejected"), 0);
	ck_assert_int_eq(get_int(j, "counters/syncs_answered"), 1);
	json_object_put(j);

	/* Graceful shutdown: ack, final report, bye. */
	console_bytes = 10000;
	ck_assert_int_eq(agent_host_shutdown(h, 1000, T0 + 1100 * MS), 0);
	pump(h, T0 + 1100 * MS);
	ck_assert(agent_sm_done(&sm));
	j = agent_host_to_json(h, T0 + 1100 * MS);
	ck_assert_str_eq(get_str(j, "state"), "gone");
	ck_assert_str_eq(get_str(j, "bye/reason"), "shutdown");
	ck_assert_str_eq(get_str(j, "last_ack/request"), "shutdown");
	ck_assert_int_eq(get_int(j, "report/counters/console_bytes"), 10000);
	json_object_put(j);
	agent_host_free(h);
}
END_TEST

START_TEST(report_goes_stale_after_three_intervals)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	uint64_t t_report = T0 + 1000 * MS;
	json_object *j;

	agent_start(T0);
	pump(h, T0);
	console_bytes = 77;
	pump(h, t_report);
	ck_assert(!agent_host_report_stale(h, t_report + 3000 * MS));
	ck_assert(agent_host_report_stale(h, t_report + 3001 * MS));
	j = agent_host_to_json(h, t_report + 3001 * MS);
	ck_assert(json_object_get_boolean(get(j, "report/stale")));
	/* The last report is kept. */
	ck_assert_int_eq(get_int(j, "report/counters/console_bytes"), 77);
	ck_assert_int_eq(get_int(j, "report/age_ms"), 3001);
	json_object_put(j);
	/* A new report clears it. */
	pump(h, t_report + 3002 * MS);
	ck_assert(!agent_host_report_stale(h, t_report + 3002 * MS));
	agent_host_free(h);
}
END_TEST

START_TEST(frame_flood_is_rate_limited)
{
	struct agent_host_config cfg = {
	    .frame_rate = 10, .frame_burst = 20, .byte_burst = 1 << 20, .byte_rate = 1 << 20};
	struct agent_host *h = agent_host_new(&cfg, T0);
	uint8_t frame[64];
	size_t n = sample_frame(AGENT_T_HEARTBEAT, 1, frame, sizeof(frame));

	for (int i = 0; i < 1000; i++)
		agent_host_feed(h, frame, n, T0);
	ck_assert_uint_eq(counters_of(h)->frames, 1000);
	ck_assert_uint_eq(counters_of(h)->rate_limited_frames, 980);
	/* One second later, rate frames more pass. */
	for (int i = 0; i < 100; i++)
		agent_host_feed(h, frame, n, T0 + 1000 * MS);
	ck_assert_uint_eq(counters_of(h)->rate_limited_frames, 980 + 90);
	agent_host_free(h);
}
END_TEST

START_TEST(byte_flood_is_rate_limited)
{
	struct agent_host_config cfg = {.byte_rate = 1000, .byte_burst = 4096};
	struct agent_host *h = agent_host_new(&cfg, T0);
	static uint8_t junk[100000];
	json_object *j;

	memset(junk, 'x', sizeof(junk));
	agent_host_feed(h, junk, sizeof(junk), T0);
	ck_assert_uint_eq(counters_of(h)->rate_limited_bytes, sizeof(junk) - 4096);
	ck_assert_uint_eq(counters_of(h)->garbage_bytes, 4096);
	agent_host_feed(h, junk, 2000, T0 + 1000 * MS);
	ck_assert_uint_eq(counters_of(h)->rate_limited_bytes, sizeof(junk) - 4096 + 1000);
	j = agent_host_to_json(h, T0 + 1000 * MS);
	ck_assert_int_eq(get_int(j, "counters/rate_limited_bytes"), sizeof(junk) - 4096 + 1000);
	ck_assert_int_eq(get_int(j, "counters/bytes_in"), sizeof(junk) + 2000);
	json_object_put(j);
	agent_host_free(h);
}
END_TEST

/* Garbage from the guest: counted, and the host asks for a resync. */
START_TEST(garbage_triggers_resync)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	uint8_t buf[AGENT_FRAME_MAX], bad[64];
	size_t n;
	json_object *j;

	agent_start(T0);
	pump(h, T0);
	ck_assert_uint_eq(agent_host_output(h, buf, sizeof(buf), T0), 0);
	n = sample_frame(AGENT_T_HEARTBEAT, 1, bad, sizeof(bad));
	bad[n - 1] ^= 1; /* checksum mismatch */
	agent_host_feed(h, bad, n, T0 + MS);
	agent_host_feed(h, "garbage", 7, T0 + MS);
	n = agent_host_output(h, buf, sizeof(buf), T0 + MS);
	ck_assert_uint_eq(n, AGENT_HDR_SIZE + 8);
	ck_assert_uint_eq(buf[5], AGENT_T_SYNC);
	j = agent_host_to_json(h, T0 + MS);
	ck_assert_int_eq(get_int(j, "counters/rejected_by_reason/bad_crc"), 1);
	ck_assert_int_eq(get_int(j, "counters/syncs_sent"), 2);
	ck_assert_str_eq(get_str(j, "last_rejection/reason"), "bad_crc");
	ck_assert_str_eq(get_str(j, "state"), "syncing");
	json_object_put(j);
	/* The agent answers the sync; the session is connected again. */
	agent_sm_input(&sm, buf, n, T0 + MS);
	pump(h, T0 + 2 * MS);
	j = agent_host_to_json(h, T0 + 2 * MS);
	ck_assert_str_eq(get_str(j, "state"), "connected");
	ck_assert_int_eq(get_int(j, "counters/syncs_answered"), 2);
	json_object_put(j);
	agent_host_free(h);
}
END_TEST

/* With no agent answering, SYNC is repeated every sync_retry_ms. */
START_TEST(sync_retried_until_answered)
{
	struct agent_host_config cfg = {.sync_retry_ms = 100};
	struct agent_host *h = agent_host_new(&cfg, T0);
	uint8_t buf[256];

	ck_assert_uint_eq(agent_host_output(h, buf, sizeof(buf), T0), AGENT_HDR_SIZE + 8);
	ck_assert_uint_eq(agent_host_next_deadline(h), T0 + 100 * MS);
	ck_assert_uint_eq(agent_host_output(h, buf, sizeof(buf), T0 + 99 * MS), 0);
	ck_assert_uint_eq(agent_host_output(h, buf, sizeof(buf), T0 + 100 * MS),
			  AGENT_HDR_SIZE + 8);
	ck_assert_uint_eq(buf[5], AGENT_T_SYNC);
	agent_host_free(h);
}
END_TEST

/* Replies that answer nothing outstanding are stale, not state. */
START_TEST(stale_replies_counted)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	uint8_t f[64];
	size_t n;
	json_object *j;

	n = sample_frame(AGENT_T_PONG, 1, f, sizeof(f)); /* no ping sent */
	agent_host_feed(h, f, n, T0);
	n = sample_frame(AGENT_T_SYNC_ACK, 2, f, sizeof(f)); /* wrong nonce */
	agent_host_feed(h, f, n, T0);
	n = sample_frame(AGENT_T_ACK, 3, f, sizeof(f)); /* while syncing */
	agent_host_feed(h, f, n, T0);
	j = agent_host_to_json(h, T0);
	ck_assert_int_eq(get_int(j, "counters/stale_replies"), 3);
	ck_assert_str_eq(get_str(j, "state"), "waiting");
	ck_assert(json_object_is_type(get(j, "last_ack"), json_type_null));
	json_object_put(j);
	agent_host_free(h);
}
END_TEST

START_TEST(partial_frame_times_out)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	uint8_t f[64], buf[256];
	size_t n = sample_frame(AGENT_T_HEARTBEAT, 1, f, sizeof(f));

	agent_host_output(h, buf, sizeof(buf), T0);
	agent_host_feed(h, f, n - 3, T0);
	ck_assert_uint_eq(agent_host_next_deadline(h), T0 + 1000 * MS);
	agent_host_output(h, buf, sizeof(buf), T0 + 999 * MS);
	ck_assert_uint_eq(counters_of(h)->by_reason[AGENT_R_TRUNCATED], 0);
	agent_host_output(h, buf, sizeof(buf), T0 + 1000 * MS);
	ck_assert_uint_eq(counters_of(h)->by_reason[AGENT_R_TRUNCATED], 1);
	/* The rest of the frame arrives late: garbage now; the next frame decodes. */
	agent_host_feed(h, f + n - 3, 3, T0 + 1001 * MS);
	agent_host_feed(h, f, n, T0 + 1001 * MS);
	ck_assert_uint_eq(counters_of(h)->frames, 1);
	agent_host_free(h);
}
END_TEST

/* A partial frame's clock starts with that frame, not with the one before. */
START_TEST(partial_clock_restarts_per_frame)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	uint8_t f[64], two[128], buf[256];
	size_t n = sample_frame(AGENT_T_HEARTBEAT, 1, f, sizeof(f));

	memcpy(two, f + 5, n - 5);
	memcpy(two + n - 5, f, 5);
	agent_host_output(h, buf, sizeof(buf), T0);
	agent_host_feed(h, f, 5, T0);		   /* frame A starts */
	agent_host_feed(h, two, n, T0 + 900 * MS); /* A ends, B starts */
	ck_assert_uint_eq(counters_of(h)->frames, 1);
	agent_host_output(h, buf, sizeof(buf), T0 + 1500 * MS);
	ck_assert_uint_eq(counters_of(h)->by_reason[AGENT_R_TRUNCATED], 0);
	agent_host_output(h, buf, sizeof(buf), T0 + 1900 * MS);
	ck_assert_uint_eq(counters_of(h)->by_reason[AGENT_R_TRUNCATED], 1);
	agent_host_free(h);
}
END_TEST

START_TEST(request_arguments_checked)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	int ret = 0, i;

	ck_assert_int_eq(agent_host_set_interval(h, 99, T0), -EINVAL);
	ck_assert_int_eq(agent_host_set_interval(h, 3600001, T0), -EINVAL);
	ck_assert_int_eq(agent_host_shutdown(h, 600001, T0), -EINVAL);
	ck_assert_int_eq(agent_host_set_interval(h, 100, T0), 0);
	for (i = 0; i < 1000 && ret == 0; i++)
		ret = agent_host_ping(h, T0);
	ck_assert_int_eq(ret, -EAGAIN); /* the outgoing queue is bounded */
	ck_assert_int_lt(i, 1000);
	agent_host_free(h);
}
END_TEST

/* The VMM's stats document gains the guest's view of each hook. */
START_TEST(merge_into_vmm_stats)
{
	struct agent_host *h = agent_host_new(NULL, T0);
	json_object *stats, *hooks;

	stats = json_object_new_object();
	ck_assert_int_eq(agent_host_merge_stats(h, stats, T0), 0);
	ck_assert_str_eq(get_str(stats, "agent/state"), "waiting");
	ck_assert(json_object_is_type(get(stats, "agent/report_no"), json_type_null));
	json_object_put(stats);

	agent_start(T0);
	console_bytes = 1024;
	pump(h, T0);
	pump(h, T0 + 1000 * MS);
	stats = json_object_new_object();
	hooks = json_object_new_object();
	json_object_object_add(hooks, "console", json_object_new_object());
	json_object_object_add(json_object_object_get(hooks, "console"), "calls",
			       json_object_new_int(3));
	json_object_object_add(stats, "hooks", hooks);
	ck_assert_int_eq(agent_host_merge_stats(h, stats, T0 + 1000 * MS), 0);
	ck_assert_int_eq(get_int(stats, "hooks/console/calls"), 3);
	ck_assert_int_eq(get_int(stats, "hooks/console/guest/bytes"), 1024);
	ck_assert_int_eq(get_int(stats, "hooks/console/guest/cycles"), 1234567);
	ck_assert_int_eq(get_int(stats, "agent/counters/console_bytes"), 1024);
	ck_assert_int_eq(get_int(stats, "agent/report_no"), 1);
	ck_assert(!json_object_get_boolean(get(stats, "agent/stale")));
	json_object_put(stats);

	stats = json_object_new_array();
	ck_assert_int_eq(agent_host_merge_stats(h, stats, T0), -EINVAL);
	json_object_put(stats);
	stats = json_object_new_object();
	json_object_object_add(stats, "hooks", json_object_new_int(1));
	ck_assert_int_eq(agent_host_merge_stats(h, stats, T0), -EINVAL);
	json_object_put(stats);
	agent_host_free(h);
}
END_TEST

struct feeder {
	struct agent_host *h;
	uint8_t frame[64];
	size_t n;
};

static void *feed_thread(void *arg)
{
	struct feeder *f = arg;

	for (int i = 0; i < 20000; i++)
		agent_host_feed(f->h, f->frame, f->n, T0 + (uint64_t)i * MS);
	return NULL;
}

/* One thread feeds (the VMM's I/O thread), another renders (the control
 * socket); the session's lock keeps them apart. */
START_TEST(feed_and_render_from_two_threads)
{
	struct agent_host_config cfg = {.frame_rate = 1000000, .frame_burst = 1000000};
	struct feeder f = {.h = agent_host_new(&cfg, T0)};
	pthread_t t;

	f.n = sample_frame(AGENT_T_HEARTBEAT, 1, f.frame, sizeof(f.frame));
	ck_assert_int_eq(pthread_create(&t, NULL, feed_thread, &f), 0);
	for (int i = 0; i < 200; i++) {
		json_object *j = agent_host_to_json(f.h, T0);

		ck_assert_ptr_nonnull(j);
		json_object_put(j);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(counters_of(f.h)->frames, 20000);
	agent_host_free(f.h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_host");
	TCase *tc = tcase_create("host");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, loopback_session);
	tcase_add_test(tc, report_goes_stale_after_three_intervals);
	tcase_add_test(tc, frame_flood_is_rate_limited);
	tcase_add_test(tc, byte_flood_is_rate_limited);
	tcase_add_test(tc, garbage_triggers_resync);
	tcase_add_test(tc, sync_retried_until_answered);
	tcase_add_test(tc, stale_replies_counted);
	tcase_add_test(tc, partial_frame_times_out);
	tcase_add_test(tc, partial_clock_restarts_per_frame);
	tcase_add_test(tc, request_arguments_checked);
	tcase_add_test(tc, merge_into_vmm_stats);
	tcase_add_test(tc, feed_and_render_from_two_threads);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
