/* SPDX-License-Identifier: MIT */
/*
 * CRUD for every table, optimistic-concurrency conflicts, and constraint
 * violations answered as errors that change nothing.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/store/helpers.h"

static struct tdir td;
static struct store *s;
static struct pvm_err err;

#define OK(expr)                                                                                   \
	do {                                                                                       \
		int ret_ = (expr);                                                                 \
		ck_assert_msg(ret_ == 0, "%s = %d: %s", #expr, ret_, err.msg);                     \
	} while (0)

#define FAILS(expr, code)                                                                          \
	do {                                                                                       \
		int ret_ = (expr);                                                                 \
		ck_assert_msg(ret_ == (code), "%s = %d (want %d): %s", #expr, ret_, (code),        \
			      err.msg);                                                            \
		ck_assert_msg(err.msg[0] != '\0', "%s: no message", #expr);                        \
		memset(&err, 0, sizeof(err));                                                      \
	} while (0)

static void setup(void)
{
	tdir_make(&td);
	s = tdir_open(&td);
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	store_close(s);
	tdir_remove(&td);
}

static int64_t count_rows(const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	return tdir_int(&td, sql);
}

/* ---- hosts ---------------------------------------------------------------- */

START_TEST(test_host_crud)
{
	struct store_host h, got, dup;
	struct store_heartbeat hb = {.cpus = -1, .memory_mib = -1, .disk_gib = -1};
	int64_t gen, seq = 0, seq2 = 0;

	make_host(s, "node-a", 16, 32768, 500, &h);
	ck_assert_int_eq(strncmp(h.id, "hst_", 4), 0);
	ck_assert_int_eq(strlen(h.id), 36);
	ck_assert_int_eq(h.generation, 1);
	ck_assert_int_eq(h.free_cpus, 16);

	OK(store_host_get(s, h.id, &got, &err));
	ck_assert_str_eq(got.name, "node-a");
	ck_assert_str_eq(got.address, "10.0.0.1:7070");
	ck_assert_str_eq(got.labels, "{}");
	ck_assert_int_eq(got.memory_mib, 32768);
	ck_assert_int_eq(got.free_disk_gib, 500);
	ck_assert_int_eq(got.state, STORE_HOST_READY);
	store_host_free(&got);
	OK(store_host_get_by_name(s, "node-a", &got, &err));
	ck_assert_str_eq(got.id, h.id);

	/* Cordon with labels; capacity grows, free follows. */
	got.cordoned = true;
	free(got.labels);
	got.labels = strdup("{\"zone\":\"a\"}");
	got.cpus = 20;
	OK(store_host_update(s, &got, &err));
	ck_assert_int_eq(got.generation, 2);
	ck_assert_int_eq(got.free_cpus, 20);
	store_host_free(&got);
	OK(store_host_get(s, h.id, &got, &err));
	ck_assert(got.cordoned);
	ck_assert_str_eq(got.labels, "{\"zone\":\"a\"}");
	ck_assert_int_eq(got.generation, 2);

	/* The generation the caller read is stale now. */
	got.generation = 1;
	got.draining = true;
	FAILS(store_host_update(s, &got, &err), -ESTALE);
	store_host_free(&got);
	OK(store_host_get(s, h.id, &got, &err));
	ck_assert(!got.draining);
	gen = got.generation;
	store_host_free(&got);

	/* A heartbeat that changes nothing keeps the generation. */
	hb.now_ms = 1000;
	OK(store_host_heartbeat(s, h.id, &hb, &got, &err));
	ck_assert_int_eq(got.generation, gen);
	ck_assert_int_eq(got.last_heartbeat_ms, 1000);
	store_host_free(&got);
	/* New capabilities: written, with an event, under the same generation
	 * (the ETag an operator's conditional PATCH names stays good). */
	OK(store_events_last_seq(s, &seq, &err));
	hb.capabilities = "{\"hooks\":[\"console\",\"block\"]}";
	hb.now_ms = 2000;
	OK(store_host_heartbeat(s, h.id, &hb, &got, &err));
	ck_assert_int_eq(got.generation, gen);
	ck_assert_str_eq(got.capabilities, hb.capabilities);
	store_host_free(&got);
	OK(store_events_last_seq(s, &seq2, &err));
	ck_assert_int_eq(seq2, seq + 1);

	/* Missed heartbeats: unreachable, once. */
	ck_assert_int_eq(store_host_mark_unreachable(s, 5000, &err), 1);
	ck_assert_int_eq(store_host_mark_unreachable(s, 5000, &err), 0);
	OK(store_host_get(s, h.id, &got, &err));
	ck_assert_int_eq(got.state, STORE_HOST_UNREACHABLE);
	store_host_free(&got);
	hb.now_ms = 6000;
	OK(store_host_heartbeat(s, h.id, &hb, &got, &err));
	ck_assert_int_eq(got.state, STORE_HOST_READY);
	ck_assert_int_eq(got.generation, gen);
	store_host_free(&got);

	/* Unique name; invalid input; nothing changes. */
	make_host(s, "node-b", 1, 1, 1, &dup);
	OK(store_host_get(s, dup.id, &got, &err));
	snprintf(got.name, sizeof(got.name), "node-a");
	FAILS(store_host_update(s, &got, &err), -EEXIST);
	store_host_free(&got);
	memset(&dup, 0, sizeof(dup));
	snprintf(dup.name, sizeof(dup.name), "node-a");
	FAILS(store_host_create(s, &dup, &err), -EEXIST);
	ck_assert_str_eq(dup.id, "");
	snprintf(dup.name, sizeof(dup.name), "node-c");
	dup.labels = "{\"zone\":";
	FAILS(store_host_create(s, &dup, &err), -EINVAL);
	dup.labels = "[1,2]";
	FAILS(store_host_create(s, &dup, &err), -EINVAL);
	dup.labels = NULL;
	dup.memory_mib = -5;
	FAILS(store_host_create(s, &dup, &err), -EINVAL);
	dup.memory_mib = 0;
	dup.name[0] = '\0';
	FAILS(store_host_create(s, &dup, &err), -EINVAL);
	dup.state = 42;
	snprintf(dup.name, sizeof(dup.name), "node-c");
	FAILS(store_host_create(s, &dup, &err), -EINVAL);
	ck_assert_int_eq(count_rows("hosts"), 2);

	/* Delete: stale, ok, then gone. */
	FAILS(store_host_delete(s, h.id, gen + 7, &err), -ESTALE);
	OK(store_host_delete(s, h.id, gen, &err));
	FAILS(store_host_get(s, h.id, &got, &err), -ENOENT);
	FAILS(store_host_delete(s, h.id, 0, &err), -ENOENT);
	FAILS(store_host_heartbeat(s, h.id, &hb, NULL, &err), -ENOENT);
	FAILS(store_host_get(s, "", &got, &err), -EINVAL);
	ck_assert_int_eq(count_rows("hosts"), 1);
}
END_TEST

START_TEST(test_host_list_pages)
{
	struct store_list_opts o = {.limit = 2};
	struct store_host_list l;
	struct store_host h;
	char seen[STORE_ID_MAX] = "", cursor[STORE_ID_MAX];
	int i, pages = 0, total = 0;
	char name[16];

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		make_host(s, name, 1, 1, 1, &h);
	}
	do {
		OK(store_host_list(s, &o, &l, &err));
		pages++;
		total += (int)l.n;
		for (i = 0; i < (int)l.n; i++) {
			ck_assert_msg(strcmp(l.items[i].id, seen) > 0, "ids ascend across pages");
			snprintf(seen, sizeof(seen), "%s", l.items[i].id);
		}
		snprintf(cursor, sizeof(cursor), "%s", l.next);
		o.after = cursor;
		store_host_list_free(&l);
	} while (cursor[0]);
	ck_assert_int_eq(total, 5);
	ck_assert_int_eq(pages, 3);
	o.limit = 100000; /* capped, not an error */
	OK(store_host_list(s, &o, &l, &err));
	ck_assert_int_eq(l.n, 5);
	ck_assert_str_eq(l.next, "");
	store_host_list_free(&l);
}
END_TEST

/* ---- guests and binding ------------------------------------------------- */

START_TEST(test_guest_crud)
{
	struct store_guest g, got, other;
	struct store_guest_list l;
	struct store_list_opts o = {0};

	make_guest(s, "web-1", 2, 512, 1, &g);
	ck_assert_int_eq(strncmp(g.id, "gst_", 4), 0);
	ck_assert_int_eq(g.generation, 1);
	ck_assert_int_eq(g.observed_state, STORE_OBSERVED_PENDING);

	OK(store_guest_get(s, g.id, &got, &err));
	ck_assert_str_eq(got.name, "web-1");
	ck_assert_str_eq(got.spec, "{\"image\":\"console\"}");
	ck_assert_str_eq(got.host_id, "");
	ck_assert_int_eq(got.desired_state, STORE_DESIRED_RUNNING);
	got.desired_state = STORE_DESIRED_STOPPED;
	OK(store_guest_update(s, &got, &err));
	ck_assert_int_eq(got.generation, 2);
	got.generation = 1;
	FAILS(store_guest_update(s, &got, &err), -ESTALE);
	store_guest_free(&got);
	OK(store_guest_get_by_name(s, "web-1", &got, &err));
	ck_assert_int_eq(got.desired_state, STORE_DESIRED_STOPPED);
	ck_assert_int_eq(got.generation, 2);
	store_guest_free(&got);

	OK(store_guest_set_observed(s, g.id, STORE_OBSERVED_RUNNING, &got, &err));
	ck_assert_int_eq(got.observed_state, STORE_OBSERVED_RUNNING);
	ck_assert_int_eq(got.generation, 3);
	store_guest_free(&got);
	/* Same state again: no new generation. */
	OK(store_guest_set_observed(s, g.id, STORE_OBSERVED_RUNNING, &got, &err));
	ck_assert_int_eq(got.generation, 3);
	store_guest_free(&got);
	FAILS(store_guest_set_observed(s, g.id, 99, NULL, &err), -EINVAL);

	/* Constraint violations. */
	memset(&other, 0, sizeof(other));
	snprintf(other.name, sizeof(other.name), "web-1");
	FAILS(store_guest_create(s, &other, &err), -EEXIST);
	snprintf(other.name, sizeof(other.name), "web-2");
	other.spec = "not json";
	FAILS(store_guest_create(s, &other, &err), -EINVAL);
	other.spec = "{\"a\":\"\xff\"}";
	FAILS(store_guest_create(s, &other, &err), -EINVAL);
	other.spec = NULL;
	other.kind = 17;
	FAILS(store_guest_create(s, &other, &err), -EINVAL);
	other.kind = STORE_GUEST_LINUX;
	other.vcpus = -1;
	FAILS(store_guest_create(s, &other, &err), -EINVAL);
	ck_assert_int_eq(count_rows("guests"), 1);

	OK(store_guest_list(s, &o, &l, &err));
	ck_assert_int_eq(l.n, 1);
	store_guest_list_free(&l);

	FAILS(store_guest_delete(s, g.id, 1, &err), -ESTALE);
	OK(store_guest_delete(s, g.id, 3, &err));
	FAILS(store_guest_get(s, g.id, &got, &err), -ENOENT);
	FAILS(store_guest_delete(s, g.id, 0, &err), -ENOENT);
	FAILS(store_guest_update(s, &g, &err), -ENOENT);
}
END_TEST

START_TEST(test_bind_overcommits_cpus_not_memory)
{
	struct store_host h, got_h;
	struct store_guest a, b, c;

	/* vCPUs are the scheduler's to overcommit; memory is a hard limit. */
	make_host(s, "h", 4, 2048, 100, &h);
	make_guest(s, "a", 2, 1024, 10, &a);
	make_guest(s, "b", 6, 512, 10, &b);
	make_guest(s, "c", 1, 1024, 10, &c);
	OK(store_guest_bind(s, a.id, 0, h.id, NULL, NULL, &err));
	OK(store_guest_bind(s, b.id, 0, h.id, NULL, NULL, &err));
	FAILS(store_guest_bind(s, c.id, 0, h.id, NULL, NULL, &err), -ENOSPC);
	OK(store_host_get(s, h.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, -4);
	ck_assert_int_eq(got_h.free_memory_mib, 512);
	store_host_free(&got_h);
	store_host_free(&h);
	store_guest_free(&a);
	store_guest_free(&b);
	store_guest_free(&c);
}
END_TEST

START_TEST(test_guest_bind)
{
	struct store_host h1, h2, got_h;
	struct store_guest g, big, got;
	struct store_placement_list pl;
	struct store_guest_list gl;
	struct store_list_opts o = {0};
	struct store_event_list ev;
	int64_t seq0 = 0;

	make_host(s, "h1", 4, 4096, 100, &h1);
	make_host(s, "h2", 8, 8192, 100, &h2);
	make_guest(s, "g", 2, 1024, 10, &g);
	make_guest(s, "big", 1, 8192, 10, &big);
	OK(store_events_last_seq(s, &seq0, &err));

	OK(store_guest_bind(s, g.id, g.generation, h1.id, "{\"score\":7}", &got, &err));
	ck_assert_str_eq(got.host_id, h1.id);
	ck_assert_int_eq(got.observed_state, STORE_OBSERVED_SCHEDULED);
	ck_assert_int_eq(got.generation, 2);
	store_guest_free(&got);
	OK(store_host_get(s, h1.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 2);
	ck_assert_int_eq(got_h.free_memory_mib, 3072);
	ck_assert_int_eq(got_h.free_disk_gib, 90);
	ck_assert_int_eq(got_h.generation, 2);
	store_host_free(&got_h);

	/* One placement and one event, in the same transaction. */
	o.guest_id = g.id;
	OK(store_placement_list(s, &o, &pl, &err));
	ck_assert_int_eq(pl.n, 1);
	ck_assert_str_eq(pl.items[0].decision, "bound");
	ck_assert_str_eq(pl.items[0].host_id, h1.id);
	ck_assert_str_eq(pl.items[0].explanation, "{\"score\":7}");
	store_placement_list_free(&pl);
	OK(store_events_since(s, seq0, 0, &ev, &err));
	ck_assert_int_eq(ev.n, 1);
	ck_assert_str_eq(ev.items[0].type, STORE_EV_GUEST_BOUND);
	ck_assert_str_eq(ev.items[0].subject, g.id);
	store_event_list_free(&ev);

	/* No room: -ENOSPC, nothing changes. */
	FAILS(store_guest_bind(s, big.id, 0, h1.id, NULL, NULL, &err), -ENOSPC);
	FAILS(store_guest_bind(s, big.id, 0, "hst_nope", NULL, NULL, &err), -ENOENT);
	FAILS(store_guest_bind(s, g.id, 1, h2.id, NULL, NULL, &err), -ESTALE);
	FAILS(store_guest_bind(s, g.id, 0, h2.id, "{bad", NULL, &err), -EINVAL);
	OK(store_guest_get(s, big.id, &got, &err));
	ck_assert_str_eq(got.host_id, "");
	ck_assert_int_eq(got.generation, 1);
	store_guest_free(&got);
	OK(store_host_get(s, h1.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 2);
	store_host_free(&got_h);
	ck_assert_int_eq(count_rows("placements"), 1);

	/* Host deletion is refused while a guest is bound. */
	FAILS(store_host_delete(s, h1.id, 0, &err), -EBUSY);

	/* h1 reports the platform it runs the guest on... */
	OK(store_guest_set_platform(s, g.id, "kvm", &err));
	OK(store_guest_get(s, g.id, &got, &err));
	ck_assert_str_eq(got.platform, "kvm");
	store_guest_free(&got);

	/* Move to h2: h1 gets its resources back, and h2 has not said how it runs it. */
	OK(store_guest_bind(s, g.id, 0, h2.id, NULL, &got, &err));
	ck_assert_str_eq(got.host_id, h2.id);
	ck_assert_str_eq(got.platform, "");
	store_guest_free(&got);
	OK(store_host_get(s, h1.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 4);
	ck_assert_int_eq(got_h.free_memory_mib, 4096);
	store_host_free(&got_h);
	OK(store_host_get(s, h2.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 6);
	store_host_free(&got_h);

	o.guest_id = NULL;
	o.host_id = h2.id;
	OK(store_guest_list(s, &o, &gl, &err));
	ck_assert_int_eq(gl.n, 1);
	ck_assert_str_eq(gl.items[0].id, g.id);
	store_guest_list_free(&gl);
	o.host_id = NULL;
	o.unbound = true;
	OK(store_guest_list(s, &o, &gl, &err));
	ck_assert_int_eq(gl.n, 1);
	ck_assert_str_eq(gl.items[0].id, big.id);
	store_guest_list_free(&gl);

	/* Unbind; then delete of a bound guest releases too. */
	OK(store_guest_unbind(s, g.id, 0, &got, &err));
	ck_assert_str_eq(got.host_id, "");
	ck_assert_int_eq(got.observed_state, STORE_OBSERVED_PENDING);
	store_guest_free(&got);
	OK(store_host_get(s, h2.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 8);
	store_host_free(&got_h);
	OK(store_guest_bind(s, g.id, 0, h2.id, NULL, NULL, &err));
	OK(store_guest_delete(s, g.id, 0, &err));
	OK(store_host_get(s, h2.id, &got_h, &err));
	ck_assert_int_eq(got_h.free_cpus, 8);
	ck_assert_int_eq(got_h.free_memory_mib, 8192);
	store_host_free(&got_h);
	/* Its placements went with it. */
	ck_assert_int_eq(count_rows("placements"), 0);
	OK(store_host_delete(s, h1.id, 0, &err));

	/* Unreachable host: its guests become unknown. */
	OK(store_guest_bind(s, big.id, 0, h2.id, NULL, NULL, &err));
	{
		struct store_heartbeat hb = {
		    .cpus = -1, .memory_mib = -1, .disk_gib = -1, .now_ms = 10};

		OK(store_host_heartbeat(s, h2.id, &hb, NULL, &err));
	}
	ck_assert_int_eq(store_host_mark_unreachable(s, 20, &err), 1);
	OK(store_guest_get(s, big.id, &got, &err));
	ck_assert_int_eq(got.observed_state, STORE_OBSERVED_UNKNOWN);
	store_guest_free(&got);
}
END_TEST

/* ---- images --------------------------------------------------------------- */

START_TEST(test_image_crud)
{
	struct store_image im = {0}, got, dup = {0};
	struct store_image_list l;

	snprintf(im.name, sizeof(im.name), "console");
	snprintf(im.format, sizeof(im.format), "elf");
	im.source = "/var/lib/pvm/images/console.elf";
	im.size_bytes = 4096;
	OK(store_image_create(s, &im, &err));
	ck_assert_int_eq(strncmp(im.id, "img_", 4), 0);
	OK(store_image_get(s, im.id, &got, &err));
	ck_assert_str_eq(got.source, im.source);
	ck_assert_str_eq(got.format, "elf");
	ck_assert_int_eq(got.size_bytes, 4096);
	snprintf(got.sha256, sizeof(got.sha256), "%064d", 0);
	OK(store_image_update(s, &got, &err));
	ck_assert_int_eq(got.generation, 2);
	got.generation = 1;
	FAILS(store_image_update(s, &got, &err), -ESTALE);
	snprintf(got.sha256, sizeof(got.sha256), "XYZ");
	got.generation = 2;
	FAILS(store_image_update(s, &got, &err), -EINVAL);
	store_image_free(&got);
	OK(store_image_get_by_name(s, "console", &got, &err));
	ck_assert_str_eq(got.sha256,
			 "0000000000000000000000000000000000000000000000000000000000000000");
	store_image_free(&got);

	dup = im;
	FAILS(store_image_create(s, &dup, &err), -EEXIST);
	snprintf(dup.name, sizeof(dup.name), "other");
	dup.source = NULL;
	FAILS(store_image_create(s, &dup, &err), -EINVAL);
	dup.source = "x";
	dup.size_bytes = -1;
	FAILS(store_image_create(s, &dup, &err), -EINVAL);
	ck_assert_int_eq(count_rows("images"), 1);

	OK(store_image_list(s, NULL, &l, &err));
	ck_assert_int_eq(l.n, 1);
	store_image_list_free(&l);
	FAILS(store_image_delete(s, im.id, 1, &err), -ESTALE);
	OK(store_image_delete(s, im.id, 2, &err));
	FAILS(store_image_get(s, im.id, &got, &err), -ENOENT);
}
END_TEST

/* ---- capabilities ----------------------------------------------------------- */

START_TEST(test_caps)
{
	struct store_cap offer[3] = {
	    {.name = "console", .state = STORE_CAP_OFFERED, .abi_version = 1},
	    {.name = "block", .state = STORE_CAP_OFFERED, .abi_version = 1},
	    {.name = "kvm:steal_time", .state = STORE_CAP_OFFERED},
	};
	struct store_cap neg[2] = {
	    {.name = "console", .state = STORE_CAP_ACCEPTED, .abi_version = 1},
	    {.name = "clock", .state = STORE_CAP_REFUSED, .reason = "not offered by host"},
	};
	struct store_cap dupl[2] = {{.name = "x"}, {.name = "x"}};
	struct store_cap *got;
	struct store_host h;
	struct store_guest g;
	size_t n;

	make_host(s, "h", 4, 4096, 10, &h);
	make_guest(s, "g", 1, 128, 1, &g);
	OK(store_host_caps_set(s, h.id, offer, 3, &err));
	OK(store_host_caps_get(s, h.id, &got, &n, &err));
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(got[0].name, "block"); /* sorted */
	ck_assert_int_eq(got[2].state, STORE_CAP_OFFERED);
	free(got);

	OK(store_guest_caps_set(s, g.id, neg, 2, &err));
	OK(store_guest_caps_get(s, g.id, &got, &n, &err));
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(got[0].name, "clock");
	ck_assert_int_eq(got[0].state, STORE_CAP_REFUSED);
	ck_assert_str_eq(got[0].reason, "not offered by host");
	ck_assert_int_eq(got[1].state, STORE_CAP_ACCEPTED);
	free(got);

	/* A bad set is refused whole; the old one stays. */
	FAILS(store_guest_caps_set(s, g.id, dupl, 2, &err), -EEXIST);
	dupl[1].state = 9;
	FAILS(store_guest_caps_set(s, g.id, dupl, 2, &err), -EINVAL);
	OK(store_guest_caps_get(s, g.id, &got, &n, &err));
	ck_assert_int_eq(n, 2);
	free(got);
	FAILS(store_guest_caps_set(s, "gst_missing", neg, 2, &err), -ENOENT);
	FAILS(store_host_caps_get(s, "hst_missing", &got, &n, &err), -ENOENT);

	/* Replace with the empty set. */
	OK(store_host_caps_set(s, h.id, NULL, 0, &err));
	OK(store_host_caps_get(s, h.id, &got, &n, &err));
	ck_assert_int_eq(n, 0);
	free(got);

	/* Deleting the guest drops its negotiated set. */
	OK(store_guest_delete(s, g.id, 0, &err));
	ck_assert_int_eq(count_rows("guest_caps"), 0);
}
END_TEST

/* ---- hook statistics ----------------------------------------------------- */

static int sum_calls(const struct store_hook_stat *st, void *arg)
{
	*(int64_t *)arg += st->calls;
	return 0;
}

static int sum_exits(const struct store_exit_count *e, void *arg)
{
	*(int64_t *)arg += e->count;
	return 0;
}

START_TEST(test_hook_stats)
{
	struct store_hook_stat in[2] = {
	    {.hook = "console", .calls = 10, .doorbells = 2, .bytes = 100, .histogram = "[1,2]"},
	    {.hook = "block", .calls = 5, .doorbells = 5, .bytes = 4096, .exits_avoided = 40},
	};
	const int64_t t0 = 1699999980000; /* a minute boundary */
	struct store_hook_stat *got;
	struct store_hook_rollup *r;
	struct store_guest g, g2;
	int64_t total = 0;
	size_t n;

	make_guest(s, "g", 1, 128, 1, &g);
	make_guest(s, "g2", 1, 128, 1, &g2);
	OK(store_hook_stats_put(s, g.id, in, 2, t0 + 1000, &err));
	in[0].calls = 25;
	in[1].calls = 8;
	OK(store_hook_stats_put(s, g.id, in, 2, t0 + 30000, &err));
	/* Next minute; console's VMM restarted (counter went down). */
	in[0].calls = 3;
	in[1].calls = 10;
	OK(store_hook_stats_put(s, g.id, in, 2, t0 + 61000, &err));

	OK(store_hook_stats_get(s, g.id, &got, &n, &err));
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(got[0].hook, "block");
	ck_assert_int_eq(got[0].calls, 10);
	ck_assert_int_eq(got[0].exits_avoided, 40);
	ck_assert_str_eq(got[1].histogram, "[1,2]");
	ck_assert_int_eq(got[1].calls, 3);
	ck_assert_int_eq(got[1].updated_ms, t0 + 61000);
	store_hook_stats_free(got, n);

	OK(store_hook_rollups_get(s, g.id, "console", 0, &r, &n, &err));
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(r[0].minute_ms, t0);
	ck_assert_int_eq(r[0].calls, 25); /* 10 + 15 */
	ck_assert_int_eq(r[1].minute_ms, t0 + 60000);
	ck_assert_int_eq(r[1].calls, 3); /* reset: the new value is the increase */
	free(r);

	OK(store_hook_stats_put(s, g2.id, in, 1, t0 + 62000, &err));
	OK(store_hook_stats_foreach(s, sum_calls, &total, &err));
	ck_assert_int_eq(total, 10 + 3 + 3);

	/* Bad input changes nothing. */
	in[1].bytes = -1;
	FAILS(store_hook_stats_put(s, g.id, in, 2, t0 + 63000, &err), -EINVAL);
	in[1].bytes = 1;
	in[1].histogram = "{";
	FAILS(store_hook_stats_put(s, g.id, in, 2, t0 + 63000, &err), -EINVAL);
	FAILS(store_hook_stats_put(s, "gst_missing", in, 1, t0, &err), -ENOENT);
	OK(store_hook_stats_get(s, g.id, &got, &n, &err));
	ck_assert_int_eq(got[1].calls, 3);
	ck_assert_int_eq(got[1].updated_ms, t0 + 61000);
	store_hook_stats_free(got, n);

	/* Bounded window: a put a day later prunes the old minutes. */
	in[1].histogram = NULL;
	OK(store_hook_stats_put(s, g.id, in, 1, t0 + 1442LL * 60000, &err));
	OK(store_hook_rollups_get(s, g.id, "console", 0, &r, &n, &err));
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(r[0].minute_ms, t0 + 1442LL * 60000);
	free(r);
	ck_assert_int_eq(store_hook_rollups_prune(s, INT64_MAX, &err), 1);

	OK(store_guest_delete(s, g.id, 0, &err));
	OK(store_guest_delete(s, g2.id, 0, &err));
	ck_assert_int_eq(count_rows("hook_stats"), 0);
}
END_TEST

START_TEST(test_guest_exits)
{
	struct store_exit_count in[3] = {{.reason = "io", .count = 9000},
					 {.reason = "hlt", .count = 1},
					 {.reason = "total", .count = 9001}};
	struct store_exit_count *got, many[STORE_EXIT_REASONS_MAX + 1];
	struct store_guest g;
	int64_t total = 0;
	size_t n;

	make_guest(s, "g", 1, 128, 1, &g);
	OK(store_guest_exits_get(s, g.id, &got, &n, &err));
	ck_assert_uint_eq(n, 0);
	free(got);
	OK(store_guest_exits_put(s, g.id, in, 3, 1000, &err));
	OK(store_guest_exits_get(s, g.id, &got, &n, &err));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(got[0].reason, "hlt");
	ck_assert_str_eq(got[1].reason, "io");
	ck_assert_int_eq(got[1].count, 9000);
	ck_assert_int_eq(got[2].updated_ms, 1000);
	free(got);
	/* a report replaces the whole set */
	in[0].count = 9500;
	OK(store_guest_exits_put(s, g.id, in, 1, 2000, &err));
	OK(store_guest_exits_foreach(s, sum_exits, &total, &err));
	ck_assert_int_eq(total, 9500);

	/* Bad input changes nothing. */
	in[1].count = -1;
	FAILS(store_guest_exits_put(s, g.id, in, 2, 3000, &err), -EINVAL);
	in[1] = (struct store_exit_count){.reason = "IO!", .count = 1};
	FAILS(store_guest_exits_put(s, g.id, in, 2, 3000, &err), -EINVAL);
	in[1] = (struct store_exit_count){.reason = "io", .count = 1};
	FAILS(store_guest_exits_put(s, g.id, in, 2, 3000, &err), -EINVAL); /* twice */
	in[1].reason[0] = '\0';
	FAILS(store_guest_exits_put(s, g.id, in, 2, 3000, &err), -EINVAL);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(many); i++)
		many[i] = (struct store_exit_count){.count = 1};
	for (size_t i = 0; i < PVM_ARRAY_SIZE(many); i++)
		snprintf(many[i].reason, sizeof(many[i].reason), "r%zu", i);
	FAILS(store_guest_exits_put(s, g.id, many, PVM_ARRAY_SIZE(many), 3000, &err), -EINVAL);
	FAILS(store_guest_exits_put(s, "gst_missing", in, 1, 3000, &err), -ENOENT);
	FAILS(store_guest_exits_get(s, "gst_missing", &got, &n, &err), -ENOENT);
	OK(store_guest_exits_get(s, g.id, &got, &n, &err));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(got[0].count, 9500);
	ck_assert_int_eq(got[0].updated_ms, 2000);
	free(got);
	OK(store_guest_exits_put(s, g.id, many, STORE_EXIT_REASONS_MAX, 4000, &err));

	OK(store_guest_delete(s, g.id, 0, &err));
	ck_assert_int_eq(count_rows("guest_exits"), 0);
}
END_TEST

START_TEST(test_guest_agent)
{
	struct store_guest_agent a;
	struct store_event_list ev = {0};
	struct store_guest g;
	int64_t seq = 0;

	make_guest(s, "g", 1, 128, 1, &g);
	OK(store_events_last_seq(s, &seq, &err));
	FAILS(store_guest_agent_get(s, g.id, &a, &err), -ENOENT);
	/* the first state is the hello: 1, an event, hello_ms recorded */
	ck_assert_int_eq(store_guest_agent_put(s, g.id, "{\"state\":\"ready\"}", false, 1000, &err),
			 1);
	ck_assert_int_eq(store_guest_agent_put(s, g.id, "{\"state\":\"quiet\"}", true, 5000, &err),
			 0);
	OK(store_guest_agent_get(s, g.id, &a, &err));
	ck_assert_str_eq(a.state, "{\"state\":\"quiet\"}");
	ck_assert(a.stale);
	ck_assert_int_eq(a.hello_ms, 1000);
	ck_assert_int_eq(a.updated_ms, 5000);
	store_guest_agent_free(&a);
	OK(store_events_since(s, seq, 100, &ev, &err));
	ck_assert_uint_eq(ev.n, 1);
	ck_assert_str_eq(ev.items[0].type, STORE_EV_GUEST_AGENT_READY);
	ck_assert_str_eq(ev.items[0].subject, g.id);
	store_event_list_free(&ev);

	/* Bad input changes nothing. */
	FAILS(store_guest_agent_put(s, g.id, "[1]", false, 6000, &err), -EINVAL);
	FAILS(store_guest_agent_put(s, g.id, "{", false, 6000, &err), -EINVAL);
	FAILS(store_guest_agent_put(s, g.id, NULL, false, 6000, &err), -EINVAL);
	FAILS(store_guest_agent_put(s, "gst_missing", "{}", false, 6000, &err), -ENOENT);
	OK(store_guest_agent_get(s, g.id, &a, &err));
	ck_assert_int_eq(a.updated_ms, 5000);
	store_guest_agent_free(&a);

	OK(store_guest_delete(s, g.id, 0, &err));
	ck_assert_int_eq(count_rows("guest_agent"), 0);
}
END_TEST

/* ---- placements and events ------------------------------------------------ */

START_TEST(test_placements)
{
	struct store_placement p = {0};
	struct store_placement_list l;
	struct store_list_opts o = {.limit = 2};
	struct store_guest g;
	int i;

	make_guest(s, "g", 1, 128, 1, &g);
	for (i = 0; i < 3; i++) {
		snprintf(p.guest_id, sizeof(p.guest_id), "%s", g.id);
		snprintf(p.decision, sizeof(p.decision), "unschedulable");
		p.explanation = "{\"hosts\":[]}";
		OK(store_placement_add(s, &p, &err));
		ck_assert_int_eq(strncmp(p.id, "plc_", 4), 0);
	}
	OK(store_placement_list(s, &o, &l, &err));
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.items[0].host_id, "");
	ck_assert_str_ne(l.next, "");
	o.after = l.next;
	{
		struct store_placement_list l2;

		OK(store_placement_list(s, &o, &l2, &err));
		ck_assert_int_eq(l2.n, 1);
		ck_assert_str_eq(l2.items[0].id, p.id); /* the newest is last */
		ck_assert_str_eq(l2.next, "");
		store_placement_list_free(&l2);
	}
	store_placement_list_free(&l);

	snprintf(p.guest_id, sizeof(p.guest_id), "gst_missing");
	FAILS(store_placement_add(s, &p, &err), -ENOENT);
	snprintf(p.guest_id, sizeof(p.guest_id), "%s", g.id);
	snprintf(p.host_id, sizeof(p.host_id), "hst_missing");
	FAILS(store_placement_add(s, &p, &err), -ENOENT);
	ck_assert_int_eq(count_rows("placements"), 3);
}
END_TEST

struct waiter {
	struct store *s;
	int64_t since;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = store_events_wait(w->s, w->since, 10000, NULL);
	return NULL;
}

START_TEST(test_events)
{
	struct store_event_list l;
	struct waiter w;
	pthread_t th;
	int64_t seq, last, a, b;
	int i;

	OK(store_events_last_seq(s, &last, &err));
	ck_assert_int_eq(last, 0);
	OK(store_event_append(s, "test.a", "x", "{\"n\":1}", &a, &err));
	OK(store_event_append(s, "test.b", NULL, NULL, &b, &err));
	ck_assert_int_gt(b, a);
	OK(store_events_since(s, 0, 0, &l, &err));
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.items[0].type, "test.a");
	ck_assert_str_eq(l.items[0].payload, "{\"n\":1}");
	ck_assert_str_eq(l.items[1].payload, "{}");
	ck_assert_int_eq(l.last_seq, b);
	store_event_list_free(&l);
	OK(store_events_since(s, b, 0, &l, &err));
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(l.last_seq, b);
	store_event_list_free(&l);
	for (i = 0; i < 10; i++)
		OK(store_event_append(s, "test.c", NULL, NULL, &seq, &err));
	OK(store_events_since(s, b, 4, &l, &err));
	ck_assert_int_eq(l.n, 4);
	store_event_list_free(&l);

	FAILS(store_event_append(s, "", NULL, NULL, NULL, &err), -EINVAL);
	FAILS(store_event_append(s, "t", NULL, "[]", NULL, &err), -EINVAL);
	FAILS(store_event_append(s, "t", NULL, "{", NULL, &err), -EINVAL);

	/* Waiting: an old seq returns at once; a future one times out; a
	 * commit wakes a waiter. */
	OK(store_events_wait(s, 0, 0, &err));
	FAILS(store_events_wait(s, seq, 50, &err), -ETIMEDOUT);
	w = (struct waiter){.s = s, .since = seq, .ret = 1};
	ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
	OK(store_event_append(s, "test.wake", NULL, NULL, NULL, &err));
	pthread_join(th, NULL);
	ck_assert_int_eq(w.ret, 0);
}
END_TEST

/* ---- tokens ---------------------------------------------------------------- */

START_TEST(test_tokens)
{
	char secret[STORE_SECRET_MAX], secret2[STORE_SECRET_MAX], hash[STORE_HASH_HEX];
	char scratch[STORE_SECRET_MAX];
	struct store_token t = {0}, ht = {0}, got;
	struct store_token_list l;
	struct store_host h;
	int64_t count;
	FILE *fp;
	char *buf;
	size_t len;

	snprintf(t.name, sizeof(t.name), "bootstrap");
	t.role = STORE_ROLE_ADMIN;
	OK(store_token_create(s, &t, secret, &err));
	ck_assert_int_eq(strncmp(secret, "pvm_", 4), 0);
	ck_assert_int_eq(strlen(secret), 68);
	ck_assert_int_eq(strlen(t.hash), 64);
	ck_assert_str_ne(t.hash, secret + 4);

	OK(store_token_authenticate(s, secret, &got, &err));
	ck_assert_str_eq(got.id, t.id);
	ck_assert_int_eq(got.role, STORE_ROLE_ADMIN);
	FAILS(store_token_authenticate(s, "pvm_wrong", &got, &err), -ENOENT);
	FAILS(store_token_authenticate(s, "", &got, &err), -ENOENT);

	/* A host token, bound at registration. */
	make_host(s, "h", 1, 1, 1, &h);
	snprintf(ht.name, sizeof(ht.name), "host-h");
	ht.role = STORE_ROLE_HOST;
	OK(store_token_create(s, &ht, secret2, &err));
	ck_assert_str_ne(secret, secret2);
	FAILS(store_token_set_host(s, ht.id, 5, h.id, &err), -ESTALE);
	FAILS(store_token_set_host(s, ht.id, 1, "hst_missing", &err), -ENOENT);
	FAILS(store_token_set_host(s, t.id, 1, h.id, &err), -EINVAL);
	OK(store_token_set_host(s, ht.id, 1, h.id, &err));
	OK(store_token_get(s, ht.id, &got, &err));
	ck_assert_str_eq(got.host_id, h.id);
	ck_assert_int_eq(got.generation, 2);

	/* Invalid creations. */
	memset(&got, 0, sizeof(got));
	snprintf(got.name, sizeof(got.name), "x");
	got.role = STORE_ROLE_READER;
	snprintf(got.host_id, sizeof(got.host_id), "%s", h.id);
	FAILS(store_token_create(s, &got, scratch, &err), -EINVAL);
	got.role = 12;
	FAILS(store_token_create(s, &got, scratch, &err), -EINVAL);
	got.role = STORE_ROLE_HOST;
	snprintf(got.host_id, sizeof(got.host_id), "hst_missing");
	FAILS(store_token_create(s, &got, scratch, &err), -ENOENT);
	/* A secret that was never stored is not handed out. */
	ck_assert_int_eq(scratch[0], 0);

	OK(store_token_count(s, &count, &err));
	ck_assert_int_eq(count, 2);
	OK(store_token_list(s, NULL, &l, &err));
	ck_assert_int_eq(l.n, 2);
	store_token_list_free(&l);

	/* Revoke: authenticate now says revoked; revoke again is fine. */
	FAILS(store_token_revoke(s, t.id, 9, &err), -ESTALE);
	OK(store_token_revoke(s, t.id, 1, &err));
	OK(store_token_revoke(s, t.id, 0, &err));
	FAILS(store_token_authenticate(s, secret, &got, &err), -EKEYREVOKED);
	ck_assert(got.revoked);
	OK(store_token_count(s, &count, &err));
	ck_assert_int_eq(count, 1);

	/* The secret is nowhere in the database. */
	store_close(s);
	s = NULL;
	if (td.pg) {
		char sql[256];

		snprintf(sql, sizeof(sql),
			 "SELECT COUNT(*) FROM tokens WHERE hash LIKE '%%%.64s%%' OR "
			 "hash LIKE '%%%.64s%%'",
			 secret + 4, secret2 + 4);
		ck_assert_int_eq(tdir_int(&td, sql), 0);
	} else {
		fp = fopen(td.db, "rb");
		ck_assert_ptr_nonnull(fp);
		buf = malloc(1 << 22);
		len = fread(buf, 1, 1 << 22, fp);
		fclose(fp);
		ck_assert_ptr_null(memmem(buf, len, secret + 4, 64));
		ck_assert_ptr_null(memmem(buf, len, secret2 + 4, 64));
		free(buf);
	}
	s = tdir_open(&td);
	snprintf(hash, sizeof(hash), "%s", t.hash);
	OK(store_token_get(s, t.id, &got, &err));
	ck_assert_str_eq(got.hash, hash);

	FAILS(store_token_delete(s, t.id, 1, &err), -ESTALE);
	OK(store_token_delete(s, t.id, 0, &err));
	FAILS(store_token_get(s, t.id, &got, &err), -ENOENT);
	/* Deleting the host unbinds its token (and does not delete it). */
	OK(store_host_delete(s, h.id, 0, &err));
	OK(store_token_get(s, ht.id, &got, &err));
	ck_assert_str_eq(got.host_id, "");
}
END_TEST

/*
 * Expiry: a token past its expires_ms is refused with -EKEYEXPIRED and a
 * message naming it; one in the future and one without expiry work;
 * get and list return the expiry; revocation is reported before expiry.
 */
START_TEST(test_token_expiry)
{
	char live[STORE_SECRET_MAX], dead[STORE_SECRET_MAX], never[STORE_SECRET_MAX];
	struct store_token a = {0}, b = {0}, c = {0}, got;
	struct store_token_list l;
	struct pvm_err e2 = {0};
	int64_t now = (int64_t)(pvm_wall_ns() / 1000000);

	snprintf(a.name, sizeof(a.name), "live");
	a.role = STORE_ROLE_READER;
	a.expires_ms = now + 3600 * 1000;
	OK(store_token_create(s, &a, live, &err));
	ck_assert_int_eq(a.expires_ms, now + 3600 * 1000);
	snprintf(b.name, sizeof(b.name), "dead");
	b.role = STORE_ROLE_ADMIN;
	b.expires_ms = now - 1000;
	OK(store_token_create(s, &b, dead, &err));
	snprintf(c.name, sizeof(c.name), "never");
	c.role = STORE_ROLE_OPERATOR;
	OK(store_token_create(s, &c, never, &err));

	OK(store_token_authenticate(s, live, &got, &err));
	ck_assert_str_eq(got.id, a.id);
	ck_assert_int_eq(got.expires_ms, now + 3600 * 1000);
	OK(store_token_authenticate(s, never, &got, &err));
	ck_assert_int_eq(got.expires_ms, 0);
	FAILS(store_token_authenticate(s, dead, &got, &err), -EKEYEXPIRED);
	ck_assert_str_eq(got.id, b.id);
	ck_assert_int_eq(store_token_authenticate(s, dead, &got, &e2), -EKEYEXPIRED);
	ck_assert_msg(strstr(e2.msg, "expired") && strstr(e2.msg, b.id), "message: %s", e2.msg);

	OK(store_token_get(s, b.id, &got, &err));
	ck_assert_int_eq(got.expires_ms, now - 1000);
	OK(store_token_list(s, NULL, &l, &err));
	ck_assert_int_eq(l.n, 3);
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.items[i].id, a.id) == 0)
			ck_assert_int_eq(l.items[i].expires_ms, now + 3600 * 1000);
		else if (strcmp(l.items[i].id, b.id) == 0)
			ck_assert_int_eq(l.items[i].expires_ms, now - 1000);
		else
			ck_assert_int_eq(l.items[i].expires_ms, 0);
	}
	store_token_list_free(&l);
	/* No expiry is stored as NULL, not as a magic number. */
	ck_assert_int_eq(count_rows("tokens WHERE expires_ms IS NULL"), 1);

	OK(store_token_revoke(s, b.id, 0, &err));
	FAILS(store_token_authenticate(s, dead, &got, &err), -EKEYREVOKED);

	/* A negative expiry is refused and nothing is stored. */
	memset(&got, 0, sizeof(got));
	snprintf(got.name, sizeof(got.name), "bad");
	got.expires_ms = -5;
	ck_assert_int_eq(store_token_create(s, &got, dead, &e2), -EINVAL);
	ck_assert_str_eq(e2.field, "expires_ms");
	OK(store_token_list(s, NULL, &l, &err));
	ck_assert_int_eq(l.n, 3);
	store_token_list_free(&l);
}
END_TEST

/* ---- idempotency keys and kv ------------------------------------------------ */

START_TEST(test_idempotency)
{
	struct store_idem r = {0}, got;

	snprintf(r.key, sizeof(r.key), "tok_1:abc");
	snprintf(r.request_hash, sizeof(r.request_hash), "%064d", 1);
	r.status = 201;
	r.body = "{\"id\":\"gst_1\"}";
	r.created_ms = 1000;
	r.expires_ms = 2000;
	OK(store_idem_put(s, &r, &err));
	OK(store_idem_get(s, r.key, 1500, &got, &err));
	ck_assert_int_eq(got.status, 201);
	ck_assert_str_eq(got.body, r.body);
	ck_assert_str_eq(got.request_hash, r.request_hash);
	store_idem_free(&got);
	FAILS(store_idem_put(s, &r, &err), -EEXIST);
	FAILS(store_idem_get(s, r.key, 2500, &got, &err), -ENOENT); /* expired */
	FAILS(store_idem_get(s, "other", 1500, &got, &err), -ENOENT);

	/* An expired record is replaced. */
	r.created_ms = 3000;
	r.expires_ms = 4000;
	r.status = 202;
	OK(store_idem_put(s, &r, &err));
	OK(store_idem_get(s, r.key, 3500, &got, &err));
	ck_assert_int_eq(got.status, 202);
	store_idem_free(&got);

	r.status = 42;
	FAILS(store_idem_put(s, &r, &err), -EINVAL);
	r.status = 200;
	r.expires_ms = 10;
	FAILS(store_idem_put(s, &r, &err), -EINVAL);
	r.key[0] = '\0';
	FAILS(store_idem_put(s, &r, &err), -EINVAL);

	ck_assert_int_eq(store_idem_prune(s, 3999, &err), 0);
	ck_assert_int_eq(store_idem_prune(s, 4000, &err), 1);
	ck_assert_int_eq(count_rows("idempotency_keys"), 0);
}
END_TEST

static int collect_kv(const char *key, const char *value, void *arg)
{
	char *acc = arg;

	strcat(acc, key);
	strcat(acc, "=");
	strcat(acc, value);
	strcat(acc, ";");
	return 0;
}

START_TEST(test_kv)
{
	char acc[256] = "";
	char *v;

	OK(store_kv_put(s, "vmm", "gst_1", "{\"pid\":10}", &err));
	OK(store_kv_put(s, "vmm", "gst_2", "{\"pid\":11}", &err));
	OK(store_kv_put(s, "vmm", "gst_1", "{\"pid\":12}", &err));
	OK(store_kv_put(s, "other", "gst_1", "1", &err));
	OK(store_kv_get(s, "vmm", "gst_1", &v, &err));
	ck_assert_str_eq(v, "{\"pid\":12}");
	free(v);
	OK(store_kv_foreach(s, "vmm", collect_kv, acc, &err));
	ck_assert_str_eq(acc, "gst_1={\"pid\":12};gst_2={\"pid\":11};");
	OK(store_kv_delete(s, "vmm", "gst_1", &err));
	FAILS(store_kv_get(s, "vmm", "gst_1", &v, &err), -ENOENT);
	FAILS(store_kv_delete(s, "vmm", "gst_1", &err), -ENOENT);
	FAILS(store_kv_put(s, "vmm", "k", "{oops", &err), -EINVAL);
	FAILS(store_kv_put(s, "", "k", "1", &err), -EINVAL);
	FAILS(store_kv_put(s, "vmm", "k", NULL, &err), -EINVAL);
	ck_assert_int_eq(count_rows("kv"), 2);
}
END_TEST

/* ---- transactions ------------------------------------------------------------ */

START_TEST(test_transactions)
{
	struct store_guest g, got;
	struct store_image im = {0};
	struct store_idem r = {0}, rgot;

	/* A create and its idempotency record commit together... */
	OK(store_tx_begin(s, &err));
	make_guest(s, "in-tx", 1, 1, 1, &g);
	snprintf(r.key, sizeof(r.key), "k1");
	r.status = 201;
	r.expires_ms = INT64_MAX;
	OK(store_idem_put(s, &r, &err));
	OK(store_tx_commit(s, &err));
	OK(store_guest_get(s, g.id, &got, &err));
	store_guest_free(&got);
	OK(store_idem_get(s, "k1", 0, &rgot, &err));
	store_idem_free(&rgot);

	/* ...or not at all. */
	OK(store_tx_begin(s, &err));
	make_guest(s, "rolled-back", 1, 1, 1, &g);
	snprintf(r.key, sizeof(r.key), "k2");
	OK(store_idem_put(s, &r, &err));
	store_tx_rollback(s);
	FAILS(store_guest_get(s, g.id, &got, &err), -ENOENT);
	FAILS(store_idem_get(s, "k2", 0, &rgot, &err), -ENOENT);

	/* A failing call inside a transaction undoes only itself. */
	OK(store_tx_begin(s, &err));
	make_guest(s, "kept", 1, 1, 1, &g);
	memset(&got, 0, sizeof(got));
	snprintf(got.name, sizeof(got.name), "kept");
	FAILS(store_guest_create(s, &got, &err), -EEXIST);
	/* Nested levels. */
	OK(store_tx_begin(s, &err));
	snprintf(im.name, sizeof(im.name), "inner");
	snprintf(im.format, sizeof(im.format), "raw");
	im.source = "/x";
	OK(store_image_create(s, &im, &err));
	store_tx_rollback(s);
	OK(store_tx_commit(s, &err));
	OK(store_guest_get_by_name(s, "kept", &got, &err));
	store_guest_free(&got);
	FAILS(store_image_get_by_name(s, "inner", &(struct store_image){0}, &err), -ENOENT);

	FAILS(store_tx_commit(s, &err), -EINVAL);
	ck_assert_int_eq(count_rows("guests"), 2);
}
END_TEST

/* Calls that loop over many rows reuse their statements. */
START_TEST(test_many_rows_in_one_call)
{
	struct store_cap caps[40];
	struct store_hook_stat st[25];
	struct store_host h;
	struct store_guest g;
	struct store_cap *got;
	struct store_heartbeat hb = {.cpus = -1, .memory_mib = -1, .disk_gib = -1, .now_ms = 5};
	char name[32];
	size_t n;
	int i;

	make_guest(s, "g", 1, 1, 1, &g);
	memset(caps, 0, sizeof(caps));
	memset(st, 0, sizeof(st));
	for (i = 0; i < 40; i++)
		snprintf(caps[i].name, sizeof(caps[i].name), "hook%02d", i);
	OK(store_guest_caps_set(s, g.id, caps, 40, &err));
	OK(store_guest_caps_get(s, g.id, &got, &n, &err));
	ck_assert_int_eq(n, 40);
	free(got);
	for (i = 0; i < 25; i++) {
		snprintf(st[i].hook, sizeof(st[i].hook), "hook%02d", i);
		st[i].calls = i;
	}
	OK(store_hook_stats_put(s, g.id, st, 25, 0, &err));
	ck_assert_int_eq(count_rows("hook_stats"), 25);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		make_host(s, name, 4, 4, 4, &h);
		OK(store_host_heartbeat(s, h.id, &hb, NULL, &err));
		OK(store_guest_bind(s, g.id, 0, h.id, NULL, NULL, &err));
	}
	ck_assert_int_eq(store_host_mark_unreachable(s, 10, &err), 20);
}
END_TEST

/* The enum spellings round-trip and unknown ones are refused. */
START_TEST(test_enum_names)
{
	enum store_observed_state o;
	enum store_restart_policy rp;
	enum store_token_role role;
	enum store_host_state hs;
	enum store_guest_kind k;
	int i;

	for (i = 0; i <= STORE_OBSERVED_UNKNOWN; i++) {
		ck_assert_int_eq(store_observed_state_parse(store_observed_state_name(i), &o), 0);
		ck_assert_int_eq(o, i);
	}
	ck_assert_str_eq(store_restart_policy_name(STORE_RESTART_ON_FAILURE), "on-failure");
	ck_assert_int_eq(store_restart_policy_parse("always", &rp), 0);
	ck_assert_int_eq(rp, STORE_RESTART_ALWAYS);
	ck_assert_int_eq(store_token_role_parse("host", &role), 0);
	ck_assert_int_eq(role, STORE_ROLE_HOST);
	ck_assert_int_eq(store_host_state_parse("unreachable", &hs), 0);
	ck_assert_int_eq(hs, STORE_HOST_UNREACHABLE);
	ck_assert_int_eq(store_guest_kind_parse("libvirt", &k), 0);
	ck_assert_int_eq(k, STORE_GUEST_LIBVIRT);
	ck_assert_int_eq(store_guest_kind_parse("Libvirt", &k), -EINVAL);
	ck_assert_int_eq(store_token_role_parse("", &role), -EINVAL);
	ck_assert_int_eq(store_host_state_parse(NULL, &hs), -EINVAL);
	ck_assert_str_eq(store_desired_state_name((enum store_desired_state)9), "invalid");
	ck_assert_str_eq(store_cap_state_name(STORE_CAP_REFUSED), "refused");
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_crud");
	TCase *tc = tcase_create("crud");
	SRunner *sr;
	int failed;

	if (tdir_backend() == 77)
		return 77;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_host_crud);
	tcase_add_test(tc, test_host_list_pages);
	tcase_add_test(tc, test_guest_crud);
	tcase_add_test(tc, test_guest_bind);
	tcase_add_test(tc, test_bind_overcommits_cpus_not_memory);
	tcase_add_test(tc, test_image_crud);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_hook_stats);
	tcase_add_test(tc, test_guest_exits);
	tcase_add_test(tc, test_guest_agent);
	tcase_add_test(tc, test_placements);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_token_expiry);
	tcase_add_test(tc, test_idempotency);
	tcase_add_test(tc, test_kv);
	tcase_add_test(tc, test_transactions);
	tcase_add_test(tc, test_many_rows_in_one_call);
	tcase_add_test(tc, test_enum_names);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
