/* SPDX-License-Identifier: MIT */
/* The agent state machine: hello, negotiation, reports, heartbeats, requests. */
#include <check.h>
#include <string.h>

#include "tests/agent/samples.h"

#define MS 1000000ull
#define T0 (1000 * MS)

struct got {
	int n;
	struct agent_msg m[32];
};

/* Decodes everything the machine emits at `now` (host direction). */
static struct got *collect(struct agent_sm *sm, uint64_t now)
{
	static struct got g;
	static uint8_t buf[8 * AGENT_FRAME_MAX];
	struct agent_dec d;
	enum agent_reason why;
	size_t n = agent_sm_output(sm, buf, sizeof(buf), now);

	memset(&g, 0, sizeof(g));
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	ck_assert_uint_eq(agent_dec_push(&d, buf, n), n);
	while (g.n < 32 && agent_dec_pop(&d, &g.m[g.n], &why) == 1)
		g.n++;
	ck_assert_uint_eq(d.rejected, 0);
	ck_assert_uint_eq(agent_dec_pending(&d), 0);
	return &g;
}

static void send_req(struct agent_sm *sm, uint8_t type, uint32_t seq, uint64_t now)
{
	uint8_t buf[AGENT_FRAME_MAX];
	size_t n = sample_frame(type, seq, buf, sizeof(buf));

	agent_sm_input(sm, buf, n, now);
}

static int fills;

static void fill(void *ctx, struct agent_report *r)
{
	uint64_t *console_bytes = ctx;

	fills++;
	r->nhooks = 1;
	r->hooks[0].hook = PV_HOOK_CONSOLE;
	r->hooks[0].calls = 3;
	r->hooks[0].cycles = 3000;
	r->hooks[0].bytes = *console_bytes;
	r->ncounters = 1;
	strcpy(r->counters[0].name, "console_bytes");
	r->counters[0].value = *console_bytes;
}

static uint64_t console_bytes = 4096;

static void start(struct agent_sm *sm)
{
	struct agent_sm_config cfg = {
	    .guest_kind = AGENT_GUEST_MICRO,
	    .os = "pvm-microguest console",
	    .interval_ms = 500,
	    .heartbeat_ms = 200,
	    .fill_report = fill,
	    .ctx = &console_bytes,
	};
	struct agent_msg neg;

	memset(cfg.boot_id, 0x42, sizeof(cfg.boot_id));
	ck_assert_int_eq(agent_sm_init(sm, &cfg, T0), 0);
	sample_msg(AGENT_T_NEGOTIATION, &neg);
	ck_assert_int_eq(agent_sm_set_negotiation(sm, &neg.u.neg), 0);
}

static struct agent_sm sm;

START_TEST(bad_config_refused)
{
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_LINUX, .os = "Linux"};

	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), 0);
	cfg.guest_kind = 0;
	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), AGENT_EINVAL);
	cfg.guest_kind = AGENT_GUEST_LINUX;
	cfg.os = "";
	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), AGENT_EINVAL);
	cfg.os = "two\nlines";
	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), AGENT_EINVAL);
	cfg.os = NULL;
	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), AGENT_EINVAL);
	cfg.os = "Linux";
	cfg.interval_ms = 50;
	ck_assert_int_eq(agent_sm_init(&sm, &cfg, 0), AGENT_EINVAL);
}
END_TEST

START_TEST(bad_negotiation_refused)
{
	struct agent_msg neg;

	start(&sm);
	collect(&sm, T0);
	sample_msg(AGENT_T_NEGOTIATION, &neg);
	neg.u.neg.accepted = 0xffff; /* not a subset of the offer */
	ck_assert_int_eq(agent_sm_set_negotiation(&sm, &neg.u.neg), AGENT_EINVAL);
	ck_assert_int_eq(collect(&sm, T0)->n, 0); /* nothing re-sent */
}
END_TEST

START_TEST(hello_negotiation_reports_heartbeats)
{
	struct got *g;

	start(&sm);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 2);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_HELLO);
	ck_assert_str_eq(g->m[0].u.hello.os, "pvm-microguest console");
	ck_assert_uint_eq(g->m[0].u.hello.guest_kind, AGENT_GUEST_MICRO);
	ck_assert_uint_eq(g->m[0].u.hello.boot_id[15], 0x42);
	ck_assert_uint_eq(g->m[0].u.hello.agent_version,
			  AGENT_VERSION_MAJOR << 8 | AGENT_VERSION_MINOR);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_NEGOTIATION);
	ck_assert_uint_eq(g->m[1].u.neg.accepted, 0x0d);
	ck_assert_uint_eq(g->m[1].seq, g->m[0].seq + 1);
	/* Nothing due until the heartbeat (200 ms of silence). */
	ck_assert_uint_eq(agent_sm_next_deadline(&sm), T0 + 200 * MS);
	ck_assert_int_eq(collect(&sm, T0 + 199 * MS)->n, 0);
	g = collect(&sm, T0 + 200 * MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_HEARTBEAT);
	ck_assert_uint_eq(g->m[0].u.heartbeat.uptime_ns, 200 * MS);
	/* The report at the interval carries the caller's statistics. */
	fills = 0;
	g = collect(&sm, T0 + 500 * MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_REPORT);
	ck_assert_int_eq(fills, 1);
	ck_assert_uint_eq(g->m[0].u.report.report_no, 1);
	ck_assert_uint_eq(g->m[0].u.report.interval_ms, 500);
	ck_assert_uint_eq(g->m[0].u.report.uptime_ns, 500 * MS);
	ck_assert_uint_eq(g->m[0].u.report.hooks[0].bytes, 4096);
	ck_assert_str_eq(g->m[0].u.report.counters[0].name, "console_bytes");
	g = collect(&sm, T0 + 1000 * MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].u.report.report_no, 2);
}
END_TEST

START_TEST(requests_answered)
{
	struct agent_msg neg;
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	send_req(&sm, AGENT_T_PING, 5, T0);
	send_req(&sm, AGENT_T_SET_INTERVAL, 6, T0); /* 250 ms */
	send_req(&sm, AGENT_T_RENEGOTIATE, 7, T0);
	ck_assert_uint_eq(agent_sm_events(&sm), AGENT_EV_INTERVAL | AGENT_EV_RENEGOTIATE);
	ck_assert_uint_eq(agent_sm_events(&sm), 0);
	ck_assert_uint_eq(agent_sm_next_deadline(&sm), 0);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 3);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_PONG);
	ck_assert_uint_eq(g->m[0].u.nonce, 0x1122334455667788ull);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_ACK);
	ck_assert_uint_eq(g->m[1].u.ack.req_seq, 6);
	ck_assert_uint_eq(g->m[1].u.ack.req_type, AGENT_T_SET_INTERVAL);
	ck_assert_uint_eq(g->m[1].u.ack.status, AGENT_ACK_OK);
	ck_assert_uint_eq(g->m[2].u.ack.req_type, AGENT_T_RENEGOTIATE);
	/* The caller renegotiates; the new result goes out. */
	sample_msg(AGENT_T_NEGOTIATION, &neg);
	neg.u.neg.accepted = 0x01;
	ck_assert_int_eq(agent_sm_set_negotiation(&sm, &neg.u.neg), 0);
	g = collect(&sm, T0 + MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].u.neg.accepted, 0x01);
	/* The new interval applies. */
	g = collect(&sm, T0 + 250 * MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_REPORT);
	ck_assert_uint_eq(g->m[0].u.report.interval_ms, 250);
}
END_TEST

START_TEST(shutdown_sends_final_report_and_bye)
{
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	send_req(&sm, AGENT_T_SHUTDOWN, 3, T0 + MS);
	ck_assert_uint_eq(agent_sm_events(&sm), AGENT_EV_SHUTDOWN);
	ck_assert_uint_eq(sm.shutdown_timeout_ms, 5000);
	g = collect(&sm, T0 + MS);
	ck_assert_int_eq(g->n, 3);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_ACK);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_REPORT);
	ck_assert_uint_eq(g->m[2].type, AGENT_T_BYE);
	ck_assert_uint_eq(g->m[2].u.bye_reason, AGENT_BYE_SHUTDOWN);
	ck_assert(agent_sm_done(&sm));
	send_req(&sm, AGENT_T_PING, 4, T0 + 2 * MS);
	ck_assert_int_eq(collect(&sm, T0 + 10000 * MS)->n, 0);
	ck_assert_uint_eq(agent_sm_next_deadline(&sm), UINT64_MAX);
}
END_TEST

START_TEST(requests_while_shutting_down_are_busy)
{
	uint8_t tiny[AGENT_HDR_SIZE + 8];
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	agent_sm_bye(&sm);
	send_req(&sm, AGENT_T_SET_INTERVAL, 9, T0);
	/* A buffer with room for one ack only: the ack goes first, the rest waits. */
	ck_assert_uint_eq(agent_sm_output(&sm, tiny, sizeof(tiny), T0), AGENT_HDR_SIZE + 8);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 2);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_REPORT);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_BYE);
	ck_assert_uint_eq(g->m[1].u.bye_reason, AGENT_BYE_EXIT);
}
END_TEST

START_TEST(sync_drops_stale_replies_and_resends_state)
{
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	send_req(&sm, AGENT_T_PING, 1, T0);
	send_req(&sm, AGENT_T_SYNC, 2, T0);
	ck_assert_uint_eq(agent_sm_events(&sm), AGENT_EV_SYNC);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 3);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_SYNC_ACK);
	ck_assert_uint_eq(g->m[0].u.nonce, 0x1122334455667788ull);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_HELLO);
	ck_assert_uint_eq(g->m[2].type, AGENT_T_NEGOTIATION);
}
END_TEST

START_TEST(garbage_from_host_then_ping)
{
	static const uint8_t junk[] = "PVAG\x07garbage\xff\xfe PVA PV";
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	agent_sm_input(&sm, junk, sizeof(junk), T0);
	send_req(&sm, AGENT_T_PING, 1, T0);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].type, AGENT_T_PONG);
	ck_assert_uint_gt(sm.dec.garbage_bytes + sm.dec.rejected, 0);
}
END_TEST

START_TEST(small_buffer_never_splits_frames)
{
	uint8_t buf[AGENT_HDR_SIZE + 4];

	start(&sm);
	ck_assert_uint_eq(agent_sm_output(&sm, buf, sizeof(buf), T0), 0);
	ck_assert_int_eq(collect(&sm, T0)->n, 2); /* hello and negotiation still pending */
}
END_TEST

START_TEST(reply_queue_is_bounded)
{
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	for (uint32_t i = 0; i < 20; i++)
		send_req(&sm, AGENT_T_RENEGOTIATE, i, T0);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, AGENT_SM_REPLIES);
	ck_assert_uint_eq(g->m[AGENT_SM_REPLIES - 1].u.ack.req_seq, AGENT_SM_REPLIES - 1);
	ck_assert_uint_eq(sm.replies_dropped, 20 - AGENT_SM_REPLIES);
}
END_TEST

/* A ping flood collapses into one PONG carrying the newest nonce. */
START_TEST(pings_coalesce)
{
	uint8_t buf[AGENT_FRAME_MAX];
	struct agent_msg ping;
	struct got *g;

	start(&sm);
	collect(&sm, T0);
	send_req(&sm, AGENT_T_RENEGOTIATE, 1, T0);
	sample_msg(AGENT_T_PING, &ping);
	for (uint32_t i = 0; i < 50; i++) {
		ping.u.nonce = i;
		agent_sm_input(&sm, buf, (size_t)agent_encode(&ping, buf, sizeof(buf)), T0);
	}
	send_req(&sm, AGENT_T_SET_INTERVAL, 2, T0);
	g = collect(&sm, T0);
	ck_assert_int_eq(g->n, 3);
	ck_assert_uint_eq(g->m[0].u.ack.req_type, AGENT_T_RENEGOTIATE);
	ck_assert_uint_eq(g->m[1].type, AGENT_T_PONG);
	ck_assert_uint_eq(g->m[1].u.nonce, 49);
	ck_assert_uint_eq(g->m[2].u.ack.req_type, AGENT_T_SET_INTERVAL);
	ck_assert_uint_eq(sm.replies_dropped, 0);
}
END_TEST

static void bad_fill(void *ctx, struct agent_report *r)
{
	(void)ctx;
	r->nhooks = 2; /* two entries for hook 0: a duplicate */
}

START_TEST(invalid_report_is_counted_not_sent)
{
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_LINUX,
				      .os = "Linux",
				      .interval_ms = 100,
				      .fill_report = bad_fill};

	ck_assert_int_eq(agent_sm_init(&sm, &cfg, T0), 0);
	collect(&sm, T0);
	ck_assert_int_eq(collect(&sm, T0 + 100 * MS)->n, 0);
	ck_assert_uint_eq(sm.reports_invalid, 1);
	ck_assert_uint_eq(agent_sm_next_deadline(&sm), T0 + 200 * MS);
}
END_TEST

START_TEST(stats_accumulate_and_fill_reports)
{
	struct agent_stats st = {0};
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_MICRO,
				      .os = "micro",
				      .interval_ms = 100,
				      .fill_report = agent_stats_fill,
				      .ctx = &st};
	uint64_t t0 = agent_rdtsc();
	struct got *g;

	ck_assert_uint_ge(agent_rdtsc(), t0);
	ck_assert_int_eq(agent_stats_hook(&st, PV_HOOK_CONSOLE, 100, 10, false), 0);
	ck_assert_int_eq(agent_stats_hook(&st, PV_HOOK_CONSOLE, 50, 5, true), 0);
	ck_assert_int_eq(agent_stats_hook(&st, PV_HOOK_CLOCK, 7, 0, false), 0);
	ck_assert_int_eq(agent_stats_hook(&st, 32, 1, 1, false), AGENT_EINVAL);
	ck_assert_int_eq(agent_stats_counter(&st, "console_bytes", 15), 0);
	ck_assert_int_eq(agent_stats_counter(&st, "console_bytes", 16), 0);
	ck_assert_int_eq(agent_stats_counter(&st, "Bad", 1), AGENT_EINVAL);
	ck_assert_int_eq(agent_stats_counter(&st, "", 1), AGENT_EINVAL);
	ck_assert_int_eq(agent_stats_counter(&st, "abcdefghijklmnopqrstuvwxyz012345", 1),
			 AGENT_EINVAL);
	ck_assert_uint_eq(st.nhooks, 2);
	ck_assert_uint_eq(st.ncounters, 1);
	for (int i = 0; i < AGENT_REPORT_COUNTERS - 1; i++) {
		char name[8] = {'c', (char)('a' + i), 0};

		ck_assert_int_eq(agent_stats_counter(&st, name, (uint64_t)i), 0);
	}
	ck_assert_int_eq(agent_stats_counter(&st, "one_too_many", 1), AGENT_EINVAL);

	ck_assert_int_eq(agent_sm_init(&sm, &cfg, T0), 0);
	collect(&sm, T0);
	g = collect(&sm, T0 + 100 * MS);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->m[0].u.report.nhooks, 2);
	ck_assert_uint_eq(g->m[0].u.report.hooks[0].calls, 2);
	ck_assert_uint_eq(g->m[0].u.report.hooks[0].cycles, 150);
	ck_assert_uint_eq(g->m[0].u.report.hooks[0].bytes, 15);
	ck_assert_uint_eq(g->m[0].u.report.hooks[0].errors, 1);
	ck_assert_uint_eq(g->m[0].u.report.ncounters, AGENT_REPORT_COUNTERS);
	ck_assert_uint_eq(g->m[0].u.report.counters[0].value, 16);
}
END_TEST

/* An in-memory channel for agent_sm_poll. */
struct chan {
	uint8_t in[4096];
	size_t in_len, in_off;
	uint8_t out[16384];
	size_t out_len;
	int send_ret;
};

static size_t chan_recv(void *ctx, void *buf, size_t cap)
{
	struct chan *c = ctx;
	size_t n = c->in_len - c->in_off;

	n = n < cap ? n : cap;
	n = n < 7 ? n : 7; /* small pieces: frames arrive split */
	memcpy(buf, c->in + c->in_off, n);
	c->in_off += n;
	return n;
}

static int chan_send(void *ctx, const void *buf, size_t len)
{
	struct chan *c = ctx;

	if (c->send_ret)
		return c->send_ret;
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

START_TEST(poll_moves_bytes_both_ways)
{
	static struct chan c;
	uint8_t buf[2 * AGENT_FRAME_MAX];
	struct agent_dec d;
	struct agent_msg m;
	enum agent_reason why;
	uint8_t types[8];
	int n = 0;

	memset(&c, 0, sizeof(c));
	start(&sm);
	c.in_len = sample_frame(AGENT_T_PING, 1, c.in, sizeof(c.in));
	/* 16 receives of 7 bytes cover the 28-byte ping. */
	ck_assert_int_eq(agent_sm_poll(&sm, chan_recv, chan_send, &c, T0, buf, sizeof(buf)), 0);
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	agent_dec_push(&d, c.out, c.out_len);
	while (n < 8 && agent_dec_pop(&d, &m, &why) == 1)
		types[n++] = m.type;
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(types[0], AGENT_T_PONG);
	ck_assert_uint_eq(types[1], AGENT_T_HELLO);
	ck_assert_uint_eq(types[2], AGENT_T_NEGOTIATION);
	c.send_ret = -5;
	ck_assert_int_eq(
	    agent_sm_poll(&sm, chan_recv, chan_send, &c, T0 + 500 * MS, buf, sizeof(buf)), -5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_sm");
	TCase *tc = tcase_create("sm");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, bad_config_refused);
	tcase_add_test(tc, bad_negotiation_refused);
	tcase_add_test(tc, hello_negotiation_reports_heartbeats);
	tcase_add_test(tc, requests_answered);
	tcase_add_test(tc, shutdown_sends_final_report_and_bye);
	tcase_add_test(tc, requests_while_shutting_down_are_busy);
	tcase_add_test(tc, sync_drops_stale_replies_and_resends_state);
	tcase_add_test(tc, garbage_from_host_then_ping);
	tcase_add_test(tc, small_buffer_never_splits_frames);
	tcase_add_test(tc, reply_queue_is_bounded);
	tcase_add_test(tc, pings_coalesce);
	tcase_add_test(tc, invalid_report_is_counted_not_sent);
	tcase_add_test(tc, stats_accumulate_and_fill_reports);
	tcase_add_test(tc, poll_moves_bytes_both_ways);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
