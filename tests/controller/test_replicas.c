/* SPDX-License-Identifier: MIT */
/*
 * Three `pvmd --role controller` processes on one store (PVM_TEST_STORE, a
 * postgres:// URL, when set; else one SQLite file), real HTTP on loopback.
 * Several clients create 500 guests spread over the replicas, each create
 * with its own Idempotency-Key and retried on another replica when one
 * cannot answer (as pvmctl does); the leader is SIGKILLed in the middle of
 * the burst. Afterwards every guest exists once and was bound once, no host
 * holds more than its capacity, and another replica led within two
 * heartbeat intervals of the kill.
 */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define REPLICAS 3
#define HOSTS	 4
#define CREATES	 500
#define CLIENTS	 4
#define HB_S	 2
#define HB_S_ARG "2"

struct replica {
	pid_t pid;
	char url[64];
	char dir[300];
};

static char dir[128], store_loc[600], admin[128];
static struct replica rep[REPLICAS];
static char host_ids[HOSTS][64];
static atomic_int created, killed = -1;
static atomic_bool stop_beats;

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static void start_replica(int i)
{
	char listen[32], name[16], log[340];
	int port = free_port();
	pid_t pid;

	snprintf(rep[i].dir, sizeof(rep[i].dir), "%s/r%d", dir, i);
	snprintf(rep[i].url, sizeof(rep[i].url), "http://127.0.0.1:%d", port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(name, sizeof(name), "r%d", i);
	snprintf(log, sizeof(log), "%s.log", rep[i].dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *argv[] = {"pvmd",	 "--role",	"controller", "--listen",
				      listen,	 "--state-dir", rep[i].dir,   "--store",
				      store_loc, "--replica",	name,	      "--heartbeat-s",
				      HB_S_ARG,	 NULL};
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		execv(PVMD_PATH, (char *const *)argv);
		_exit(127);
	}
	rep[i].pid = pid;
}

/* One request to one replica; status <= 0 when it cannot be reached. */
static long req(int i, const char *method, const char *path, const char *body,
		const char *const *headers, struct th_resp *r)
{
	th_req_url(rep[i].url, method, path, admin, body, headers, r);
	return r->status;
}

static void wait_ready(int i)
{
	for (int k = 0; k < 200; k++) {
		struct th_resp r;
		long st = req(i, "GET", "/readyz", NULL, NULL, &r);

		th_resp_free(&r);
		if (st == 200)
			return;
		usleep(50000);
	}
	ck_abort_msg("replica %d never became ready", i);
}

static bool is_leader(int i)
{
	struct th_resp r;
	bool yes = req(i, "GET", "/readyz", NULL, NULL, &r) == 200 &&
		   strcmp(th_str(&r, "role"), "leader") == 0;

	th_resp_free(&r);
	return yes;
}

static void heartbeat_all(int from)
{
	for (int h = 0; h < HOSTS; h++) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/hosts/%.60s/heartbeat", host_ids[h]);
		for (int k = 0; k < REPLICAS; k++) {
			struct th_resp r;
			long st = req((from + k) % REPLICAS, "POST", path, "{}", NULL, &r);

			th_resp_free(&r);
			if (st == 200)
				break;
		}
	}
}

static void *beats(void *arg)
{
	(void)arg;
	for (int n = 0; !atomic_load(&stop_beats); n++) {
		heartbeat_all(n);
		usleep(HB_S * 1000000 / 3);
	}
	return NULL;
}

/* Creates guests first..first+n, each retried on the next replica until one
 * answers; the Idempotency-Key makes a retry of a lost answer safe. */
struct client {
	int first, n, failures;
};

static void *client(void *arg)
{
	struct client *cl = arg;

	for (int k = cl->first; k < cl->first + cl->n; k++) {
		char body[256], key[64];
		const char *hdr[] = {key, NULL};
		long st = 0;

		snprintf(body, sizeof(body),
			 "{\"name\":\"g%04d\",\"image\":\"console.elf\",\"vcpus\":%d,"
			 "\"memory_mib\":%d}",
			 k, 1 + k % 2, 64 + 64 * (k % 3));
		snprintf(key, sizeof(key), "Idempotency-Key: create-%d", k);
		for (int t = 0; t < 400 && st != 201; t++) {
			struct th_resp r;

			st = req((k + t) % REPLICAS, "POST", "/v1/guests", body, hdr, &r);
			th_resp_free(&r);
			if (st != 201)
				usleep(25000);
		}
		if (st != 201)
			cl->failures++;
		atomic_fetch_add(&created, 1);
	}
	return NULL;
}

static void setup(void)
{
	const char *pg = getenv("PVM_TEST_STORE");
	char path[400];
	FILE *f = NULL;

	curl_global_init(CURL_GLOBAL_ALL);
	snprintf(dir, sizeof(dir), "/tmp/pvm-replicas-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	if (pg && *pg)
		snprintf(store_loc, sizeof(store_loc), "%s", pg);
	else
		snprintf(store_loc, sizeof(store_loc), "%s/shared.db", dir);
	/* The first replica creates the schema and the bootstrap token. */
	start_replica(0);
	snprintf(path, sizeof(path), "%s/admin.token", rep[0].dir);
	for (int k = 0; k < 200 && !(f = fopen(path, "r")); k++)
		usleep(50000);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(admin, sizeof(admin), f));
	fclose(f);
	admin[strcspn(admin, "\n")] = '\0';
	for (int i = 1; i < REPLICAS; i++)
		start_replica(i);
	for (int i = 0; i < REPLICAS; i++)
		wait_ready(i);
}

static void teardown(void)
{
	char cmd[256];

	for (int i = 0; i < REPLICAS; i++) {
		if (rep[i].pid > 0) {
			kill(rep[i].pid, SIGTERM);
			waitpid(rep[i].pid, NULL, 0);
		}
		rep[i].pid = 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	curl_global_cleanup();
}

static void register_hosts(void)
{
	for (int h = 0; h < HOSTS; h++) {
		char body[256];
		struct th_resp r;

		snprintf(body, sizeof(body),
			 "{\"name\":\"h%d\",\"address\":\"127.0.0.1\",\"cpus\":256,"
			 "\"memory_mib\":32768,\"disk_gib\":100}",
			 h);
		ck_assert_int_eq(req(h % REPLICAS, "POST", "/v1/hosts", body, NULL, &r), 201);
		snprintf(host_ids[h], sizeof(host_ids[h]), "%s", th_str(&r, "id"));
		th_resp_free(&r);
	}
	heartbeat_all(0);
}

/* Every page of a list from replica i, items appended to out. */
static void list_all(int i, const char *what, json_object *out)
{
	char path[256], next[128] = "";

	do {
		struct th_resp r;
		json_object *items, *tok;

		snprintf(path, sizeof(path), "/v1/%s%slimit=1000%s%s", what,
			 strchr(what, '?') ? "&" : "?", next[0] ? "&page_token=" : "", next);
		ck_assert_int_eq(req(i, "GET", path, NULL, NULL, &r), 200);
		items = json_object_object_get(r.json, "items");
		for (size_t k = 0; k < json_object_array_length(items); k++)
			json_object_array_add(out,
					      json_object_get(json_object_array_get_idx(items, k)));
		tok = json_object_object_get(r.json, "next_page_token");
		snprintf(next, sizeof(next), "%s", tok ? json_object_get_string(tok) : "");
		th_resp_free(&r);
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
		struct th_resp r;
		json_object *items;

		snprintf(path, sizeof(path), "/v1/events?since=%lld&limit=1000", (long long)since);
		ck_assert_int_eq(req(i, "GET", path, NULL, NULL, &r), 200);
		items = json_object_object_get(r.json, "events");
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
		th_resp_free(&r);
	}
	for (size_t g = 0; g < json_object_array_length(guests); g++)
		ck_assert_msg(binds[g] == 1, "guest %zu bound %d times", g, binds[g]);
	free(binds);
}

START_TEST(leader_killed_mid_burst)
{
	struct client cl[CLIENTS];
	pthread_t th[CLIENTS], hb;
	json_object *guests = json_object_new_array(), *hosts = json_object_new_array();
	uint64_t t_kill, t_lead = 0;
	int leader = -1, alive, unbound = 1;
	char seen[CREATES] = {0};

	register_hosts();
	pthread_create(&hb, NULL, beats, NULL);
	for (int c = 0; c < CLIENTS; c++) {
		cl[c] = (struct client){.first = c * (CREATES / CLIENTS), .n = CREATES / CLIENTS};
		pthread_create(&th[c], NULL, client, &cl[c]);
	}
	while (atomic_load(&created) < CREATES / 3)
		usleep(10000);
	for (int i = 0; i < REPLICAS && leader < 0; i++)
		if (is_leader(i))
			leader = i;
	ck_assert_int_ge(leader, 0);
	atomic_store(&killed, leader);
	ck_assert_int_eq(kill(rep[leader].pid, SIGKILL), 0);
	t_kill = pvm_now_ns();
	waitpid(rep[leader].pid, NULL, 0);
	rep[leader].pid = 0;
	while (!t_lead && pvm_now_ns() - t_kill < 10ull * HB_S * 1000000000ull) {
		for (int i = 0; i < REPLICAS; i++)
			if (i != leader && is_leader(i))
				t_lead = pvm_now_ns();
		usleep(20000);
	}
	for (int c = 0; c < CLIENTS; c++) {
		pthread_join(th[c], NULL);
		ck_assert_int_eq(cl[c].failures, 0);
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
	atomic_store(&stop_beats, true);
	pthread_join(hb, NULL);
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

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, leader_killed_mid_burst);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
