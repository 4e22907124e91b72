/* SPDX-License-Identifier: MIT */
/*
 * Three `pvmd --role controller` processes on one store (a fresh database
 * on the PostgreSQL test server for controller_replicas.postgres, one SQLite
 * file for .sqlite), real HTTP on loopback.
 * Several clients create 500 guests spread over the replicas, each create
 * with its own Idempotency-Key and retried on another replica when one
 * cannot answer (as pvmctl does); the leader is SIGKILLed in the middle of
 * the burst. Afterwards every guest exists once and was bound once, no host
 * holds more than its capacity, and another replica led within two
 * heartbeat intervals of the kill.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/common.h"
#include "tests/cluster/cluster.h"
#include "tests/pgtest/pgtest.h"

#define REPLICAS 3
#define HOSTS	 4
#define CREATES	 500
#define CLIENTS	 4
#define HB_S	 2

static struct cluster cl;
static atomic_int created;

/* One request to replica i; the answer parsed into *json (may be NULL). */
static long req(int i, const char *method, const char *path, const char *body,
		const char *const *headers, json_object **json)
{
	char *ans = NULL;
	long st;

	ck_assert_int_eq(cluster_req(&cl, i, method, path, body, headers, &st, &ans), 0);
	if (json)
		*json = ans ? json_tokener_parse(ans) : NULL;
	free(ans);
	return st;
}

/* Creates guests first..first+n, each retried on the next replica until one
 * answers; the Idempotency-Key makes a retry of a lost answer safe. */
struct client {
	int first, n, failures;
};

static void *client(void *arg)
{
	struct client *c = arg;

	for (int k = c->first; k < c->first + c->n; k++) {
		char body[256], key[64];
		const char *hdr[] = {key, NULL};
		long st = 0;

		snprintf(body, sizeof(body),
			 "{\"name\":\"g%04d\",\"image\":\"console.elf\",\"vcpus\":%d,"
			 "\"memory_mib\":%d}",
			 k, 1 + k % 2, 64 + 64 * (k % 3));
		snprintf(key, sizeof(key), "Idempotency-Key: create-%d", k);
		for (int t = 0; t < 400 && st != 201; t++) {
			cluster_req(&cl, (k + t) % REPLICAS, "POST", "/v1/guests", body, hdr, &st,
				    NULL);
			if (st != 201)
				usleep(25000);
		}
		if (st != 201)
			c->failures++;
		atomic_fetch_add(&created, 1);
	}
	return NULL;
}

static const char *pg_admin;
static char pg_uri[PGTEST_URI_MAX];

static void setup(void)
{
	if (pg_admin)
		ck_assert_int_eq(pgtest_db_create(pg_admin, pg_uri, sizeof(pg_uri)), 0);
	ck_assert_int_eq(cluster_start(&cl, PVMD_PATH, pg_admin ? pg_uri : NULL, REPLICAS, HB_S),
			 0);
	ck_assert_int_eq(cluster_hosts(&cl, HOSTS, 256, 32768), 0);
}

static void teardown(void)
{
	cluster_stop(&cl);
	if (pg_admin)
		pgtest_db_drop(pg_admin, pg_uri);
}

/* Every page of a list from replica i, items appended to out. */
static void list_all(int i, const char *what, json_object *out)
{
	char path[256], next[128] = "";

	do {
		json_object *r, *items, *tok;

		snprintf(path, sizeof(path), "/v1/%s%slimit=1000%s%s", what,
			 strchr(what, '?') ? "&" : "?", next[0] ? "&page_token=" : "", next);
		ck_assert_int_eq(req(i, "GET", path, NULL, NULL, &r), 200);
		items = json_object_object_get(r, "items");
		for (size_t k = 0; k < json_object_array_length(items); k++)
			json_object_array_add(out,
					      json_object_get(json_object_array_get_idx(items, k)));
		tok = json_object_object_get(r, "next_page_token");
		snprintf(next, sizeof(next), "%s", tok ? json_object_get_string(tok) : "");
		json_object_put(r);
	} while (next[0]);
}

/* Binds by guest from the whole event log: each guest bound exactly once. */
static void bound_once(int i, json_object *guests)
{
	char path[128];
	int64_t since = 0;
	int *binds = calloc(json_object_array_length(guests), sizeof(int));
	bool more = true;

	ck_assert_ptr_nonnull(binds);
	while (more) {
		json_object *r, *items;

		snprintf(path, sizeof(path), "/v1/events?since=%lld&limit=1000", (long long)since);
		ck_assert_int_eq(req(i, "GET", path, NULL, NULL, &r), 200);
		items = json_object_object_get(r, "events");
		more = json_object_array_length(items) > 0;
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			json_object *e = json_object_array_get_idx(items, k);
			const char *type =
			    json_object_get_string(json_object_object_get(e, "type"));
			const char *subj =
			    json_object_get_string(json_object_object_get(e, "subject"));

			since = json_object_get_int64(json_object_object_get(e, "seq"));
			if (strcmp(type, "guest.bound") != 0)
				continue;
			for (size_t g = 0; g < json_object_array_length(guests); g++)
				if (strcmp(subj,
					   json_object_get_string(json_object_object_get(
					       json_object_array_get_idx(guests, g), "id"))) == 0)
					binds[g]++;
		}
		json_object_put(r);
	}
	for (size_t g = 0; g < json_object_array_length(guests); g++)
		ck_assert_msg(binds[g] == 1, "guest %zu bound %d times", g, binds[g]);
	free(binds);
}

START_TEST(leader_killed_mid_burst)
{
	struct client c[CLIENTS];
	pthread_t th[CLIENTS];
	json_object *guests = json_object_new_array(), *hosts = json_object_new_array();
	uint64_t t_kill, t_lead = 0;
	int leader, alive, unbound = 1;
	char seen[CREATES] = {0};

	for (int k = 0; k < CLIENTS; k++) {
		c[k] = (struct client){.first = k * (CREATES / CLIENTS), .n = CREATES / CLIENTS};
		pthread_create(&th[k], NULL, client, &c[k]);
	}
	while (atomic_load(&created) < CREATES / 3)
		usleep(10000);
	leader = cluster_leader(&cl);
	ck_assert_int_ge(leader, 0);
	cluster_kill(&cl, leader);
	t_kill = pvm_now_ns();
	while (!t_lead && pvm_now_ns() - t_kill < 10ull * HB_S * 1000000000ull) {
		if (cluster_leader(&cl) >= 0)
			t_lead = pvm_now_ns();
		usleep(20000);
	}
	for (int k = 0; k < CLIENTS; k++) {
		pthread_join(th[k], NULL);
		ck_assert_int_eq(c[k].failures, 0);
	}
	ck_assert_msg(t_lead, "no replica took the lead");
	printf("failover: %.2f s after SIGKILL (bound %d s)\n", (double)(t_lead - t_kill) / 1e9,
	       2 * HB_S);
	ck_assert_uint_le(t_lead - t_kill, 2ull * HB_S * 1000000000ull);
	alive = leader == 0 ? 1 : 0;
	/* Every create was answered; the leader places what is still pending. */
	for (int k = 0; k < 100 && unbound; k++) {
		json_object_put(guests);
		guests = json_object_new_array();
		list_all(alive, "guests", guests);
		unbound = 0;
		for (size_t g = 0; g < json_object_array_length(guests); g++)
			unbound += !json_object_object_get(json_object_array_get_idx(guests, g),
							   "host_id");
		if (unbound)
			usleep(100000);
	}
	ck_assert_int_eq(unbound, 0);
	ck_assert_uint_eq(json_object_array_length(guests), CREATES);
	for (size_t g = 0; g < CREATES; g++) {
		const char *name = json_object_get_string(
		    json_object_object_get(json_object_array_get_idx(guests, g), "name"));
		int k = atoi(name + 1);

		ck_assert_int_lt(k, CREATES);
		ck_assert_msg(!seen[k], "guest %s twice", name);
		seen[k] = 1;
	}
	bound_once(alive, guests);
	list_all(alive, "hosts", hosts);
	/* Memory is a hard limit; vCPUs may be overcommitted up to the default
	 * policy's cpu_overcommit of 4. */
	for (size_t h = 0; h < json_object_array_length(hosts); h++) {
		json_object *free_o =
		    json_object_object_get(json_object_array_get_idx(hosts, h), "free");

		ck_assert_int_ge(json_object_get_int64(json_object_object_get(free_o, "cpus")),
				 -3 * 256);
		ck_assert_int_ge(
		    json_object_get_int64(json_object_object_get(free_o, "memory_mib")), 0);
	}
	json_object_put(guests);
	json_object_put(hosts);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replicas");
	TCase *tc = tcase_create("replicas");
	SRunner *sr;
	int failed;

	if (pgtest_init(&pg_admin) == 77)
		return 77;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, leader_killed_mid_burst);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
