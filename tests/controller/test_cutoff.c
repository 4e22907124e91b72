/* SPDX-License-Identifier: MIT */
/*
 * A controller cut off from PostgreSQL: three `pvmd --role controller` on
 * one database, each reaching the server through a unix-socket symlink of
 * its own. The leader's link is removed and its server sessions terminated
 * (pg_terminate_backend): it answers 503 to /readyz and to writes, another
 * replica takes the lead, and the cut one gave up leading (its log) before
 * the new one began (its log; one machine, one clock). With the link back
 * it rejoins as a follower.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "common/common.h"
#include "tests/cluster/cluster.h"
#include "tests/pgtest/pgtest.h"

#define REPLICAS 3
#define HB_S	 2
#define WAIT_S	 30

static const char *pg_admin;
static char pg_uri[PGTEST_URI_MAX], sock[PATH_MAX], links[64];
static struct cluster cl;

static void link_path(int i, char *out, size_t len)
{
	snprintf(out, len, "%s/r%d/.s.PGSQL.5432", links, i);
}

/* The socket the admin URI reaches (its host folder, default port). */
static void find_socket(void)
{
	PQconninfoOption *opts = PQconninfoParse(pg_admin, NULL);

	ck_assert_ptr_nonnull(opts);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "host") && o->val)
			snprintf(sock, sizeof(sock), "%s/.s.PGSQL.5432", o->val);
	PQconninfoFree(opts);
	ck_assert_msg(sock[0], "the admin URI names no socket folder: %s", pg_admin);
}

static void setup(void)
{
	char store[600], name[64], path[PATH_MAX + 64];
	const char *p;

	find_socket();
	ck_assert_int_eq(pgtest_db_create(pg_admin, pg_uri, sizeof(pg_uri)), 0);
	p = pg_uri + strlen("postgresql:///");
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, "?"), p);
	snprintf(links, sizeof(links), "/tmp/pvm-cutoff-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(links));
	ck_assert_int_eq(chmod(links, 0755), 0);
	for (int i = 0; i < REPLICAS; i++) {
		snprintf(path, sizeof(path), "%s/r%d", links, i);
		ck_assert_int_eq(mkdir(path, 0755), 0);
		link_path(i, path, sizeof(path));
		ck_assert_int_eq(symlink(sock, path), 0);
	}
	snprintf(store, sizeof(store),
		 "postgresql:///%s?host=%s/r{i}&user=postgres&application_name=pvmcut{i}", name,
		 links);
	ck_assert_int_eq(cluster_start(&cl, PVMD_PATH, store, REPLICAS, HB_S), 0);
}

static void teardown(void)
{
	char path[PATH_MAX + 64];

	cluster_stop(&cl);
	pgtest_db_drop(pg_admin, pg_uri);
	for (int i = 0; i < REPLICAS; i++) {
		link_path(i, path, sizeof(path));
		unlink(path);
		snprintf(path, sizeof(path), "%s/r%d", links, i);
		rmdir(path);
	}
	rmdir(links);
}

static long status_of(int i, const char *method, const char *path, const char *body)
{
	long st = 0;

	cluster_req(&cl, i, method, path, body, NULL, &st, NULL);
	return st;
}

static const char *role_of(int i, char *buf, size_t len)
{
	char *body = NULL;
	json_object *o, *role;
	long st = 0;

	buf[0] = '\0';
	cluster_req(&cl, i, "GET", "/readyz", NULL, NULL, &st, &body);
	o = st == 200 && body ? json_tokener_parse(body) : NULL;
	if (o && json_object_object_get_ex(o, "role", &role))
		snprintf(buf, len, "%s", json_object_get_string(role));
	json_object_put(o);
	free(body);
	return buf;
}

/* The timestamp (first word) of the first line of replica i's log holding
 * what, after skip such lines; "" when there is none. */
static void log_time(int i, const char *what, int skip, char *out, size_t len)
{
	char path[PATH_MAX], line[1024];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/r%d.log", cl.dir, i);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, what) || skip-- > 0)
			continue;
		snprintf(out, len, "%.*s", (int)strcspn(line, " "), line);
		break;
	}
	fclose(f);
}

START_TEST(leader_cut_off_steps_down)
{
	char role[32], sql[160], path[PATH_MAX + 64], what[64], t_gave_up[64], t_took[64];
	int leader = -1, next = -1;
	uint64_t t0;

	for (int k = 0; k < WAIT_S * 10 && leader < 0; k++) {
		leader = cluster_leader(&cl);
		if (leader < 0)
			usleep(100000);
	}
	ck_assert_int_ge(leader, 0);

	link_path(leader, path, sizeof(path));
	ck_assert_int_eq(unlink(path), 0);
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		 " WHERE application_name = 'pvmcut%d'",
		 leader);
	ck_assert_int_eq(pgtest_exec(pg_admin, sql), 0);

	t0 = pvm_now_ns();
	while (pvm_now_ns() - t0 < WAIT_S * 1000000000ull) {
		for (int i = 0; i < REPLICAS && next < 0; i++)
			if (i != leader && !strcmp(role_of(i, role, sizeof(role)), "leader"))
				next = i;
		if (next >= 0)
			break;
		usleep(100000);
	}
	if (next < 0) {
		snprintf(sql, sizeof(sql), "tail -n 20 %s/r*.log", cl.dir);
		ck_assert_int_ge(system(sql), 0);
	}
	ck_assert_msg(next >= 0, "no other replica took the lead");
	ck_assert_int_eq(status_of(leader, "GET", "/readyz", NULL), 503);
	ck_assert_int_eq(status_of(leader, "POST", "/v1/guests",
				   "{\"name\":\"cut\",\"image\":\"x.elf\",\"vcpus\":1,"
				   "\"memory_mib\":16}"),
			 503);
	/* Through the others the fleet goes on. */
	ck_assert_int_eq(status_of(next, "POST", "/v1/guests",
				   "{\"name\":\"after\",\"image\":\"x.elf\",\"vcpus\":1,"
				   "\"memory_mib\":16}"),
			 201);

	log_time(leader, "the store does not answer", 0, t_gave_up, sizeof(t_gave_up));
	snprintf(what, sizeof(what), "r%d leads (term", next);
	log_time(next, what, 0, t_took, sizeof(t_took));
	if (!t_gave_up[0]) {
		snprintf(sql, sizeof(sql), "tail -n 20 %s/r%d.log", cl.dir, leader);
		ck_assert_int_ge(system(sql), 0);
	}
	ck_assert_msg(t_gave_up[0] && t_took[0], "log lines missing: '%s' '%s'", t_gave_up, t_took);
	/* ISO 8601 timestamps of one clock compare as strings. */
	ck_assert_msg(strcmp(t_gave_up, t_took) < 0, "r%d led until %s, r%d from %s", leader,
		      t_gave_up, next, t_took);
	printf("cut-off: r%d stopped leading at %s, r%d led from %s\n", leader, t_gave_up, next,
	       t_took);

	ck_assert_int_eq(symlink(sock, path), 0);
	t0 = pvm_now_ns();
	while (pvm_now_ns() - t0 < WAIT_S * 1000000000ull &&
	       strcmp(role_of(leader, role, sizeof(role)), "follower") != 0)
		usleep(100000);
	ck_assert_str_eq(role, "follower");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cutoff");
	TCase *tc = tcase_create("cutoff");
	SRunner *sr;
	int failed;

	if (pgtest_init(&pg_admin) != 1) {
		printf("SKIP: needs the PostgreSQL test server\n");
		return 77;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, leader_cut_off_steps_down);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
