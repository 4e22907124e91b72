/* SPDX-License-Identifier: MIT */
/*
 * bench_scaleout: guest creates per second through the REST API with one
 * and with three `pvmd --role controller` processes on one PostgreSQL
 * (PVM_BENCH_PG: a libpq URI of a server the benchmark may create
 * databases on), the same three wrk clients in both, spread over the
 * replicas; and failover_s, from the leader's SIGKILL to the next guest
 * placed (a create made through a surviving replica, bound by the new
 * leader). Rounds alternate the two set-ups so they share the machine's
 * moods; medians. A create answered anything but 2xx fails the run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench/common/bench.h"
#include "common/common.h"
#include "tests/cluster/cluster.h"
#include "tests/pgtest/pgtest.h"

#define ROUNDS	3
#define CLIENTS 3
#define SECONDS 4
#define HB_S	2
#define HOSTS	8

static const char post_lua[] =
    "local n = 0\n"
    "function request()\n"
    "  n = n + 1\n"
    "  return wrk.format('POST', '/v1/guests', nil, string.format("
    "'{\"name\":\"%s-%%d\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}', n))\n"
    "end\n";

/* CLIENTS wrk processes at once, client k on replica k % replicas. */
static int creates_per_s(struct cluster *c, int replicas, int round, double *rps)
{
	struct bench_wrk w[CLIENTS];
	char script[CLIENTS][400], url[128], tag[32];
	int started = 0, ret = 0;

	*rps = 0;
	for (int k = 0; k < CLIENTS; k++) {
		FILE *f;

		snprintf(script[k], sizeof(script[k]), "%s/post-%d-%d.lua", c->dir, round, k);
		snprintf(tag, sizeof(tag), "s%d-%d-%d", replicas, round, k);
		f = fopen(script[k], "w");
		if (!f)
			return -errno;
		fprintf(f, post_lua, tag);
		fclose(f);
	}
	for (int k = 0; k < CLIENTS && ret == 0; k++) {
		snprintf(url, sizeof(url), "%s/v1/guests", c->rep[k % replicas].url);
		ret = bench_wrk_start(url, c->admin, script[k], 1, 4, SECONDS, &w[k]);
		if (ret == 0)
			started++;
	}
	for (int k = 0; k < started; k++) {
		struct bench_wrk_result r;
		int fin = bench_wrk_finish(&w[k], &r);

		if (fin == 0 && r.non2xx) {
			fprintf(stderr, "bench_scaleout: %ld creates were not 2xx\n", r.non2xx);
			fin = -EIO;
		}
		if (fin < 0)
			ret = fin;
		else
			*rps += r.rps;
	}
	return ret;
}

/* Seconds from the leader's SIGKILL until a create through a survivor is bound. */
static int failover(struct cluster *c, int round, double *secs)
{
	int leader = cluster_leader(c), via;
	char body[160], path[128], *ans = NULL;
	json_object *o, *id;
	uint64_t t0;
	long st;

	if (leader < 0)
		return -ESRCH;
	via = (leader + 1) % c->n;
	cluster_kill(c, leader);
	t0 = pvm_now_ns();
	snprintf(body, sizeof(body),
		 "{\"name\":\"after-kill-%d\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}",
		 round);
	cluster_req(c, via, "POST", "/v1/guests", body, NULL, &st, &ans);
	o = st == 201 && ans ? json_tokener_parse(ans) : NULL;
	free(ans);
	if (!o || !json_object_object_get_ex(o, "id", &id)) {
		json_object_put(o);
		return -EIO;
	}
	snprintf(path, sizeof(path), "/v1/guests/%s", json_object_get_string(id));
	json_object_put(o);
	while (pvm_now_ns() - t0 < 30ull * 1000000000ull) {
		json_object *g, *h;
		bool bound;

		ans = NULL;
		cluster_req(c, via, "GET", path, NULL, NULL, &st, &ans);
		g = st == 200 && ans ? json_tokener_parse(ans) : NULL;
		free(ans);
		bound = g && json_object_object_get_ex(g, "host_id", &h) && h;
		json_object_put(g);
		if (bound) {
			*secs = (double)(pvm_now_ns() - t0) / 1e9;
			return 0;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int one_setup(const char *admin_uri, const char *pvmd, int replicas, int round, double *rps,
		     double *fail_s)
{
	char uri[PGTEST_URI_MAX];
	struct cluster c;
	int ret;

	ret = pgtest_db_create(admin_uri, uri, sizeof(uri));
	if (ret < 0)
		return ret;
	ret = cluster_start(&c, pvmd, uri, replicas, HB_S);
	if (ret == 0)
		ret = cluster_hosts(&c, HOSTS, 4096, 1 << 22);
	if (ret == 0)
		ret = creates_per_s(&c, replicas, round, rps);
	if (ret == 0 && fail_s)
		ret = failover(&c, round, fail_s);
	cluster_stop(&c);
	pgtest_db_drop(admin_uri, uri);
	return ret;
}

int main(int argc, char **argv)
{
	const char *pg = getenv("PVM_BENCH_PG");
	const char *pvmd = argc > 1 ? argv[1] : PVMD_PATH;
	double one[ROUNDS], three[ROUNDS], fail[ROUNDS], ratio[ROUNDS];

	if (!pg || !*pg) {
		fprintf(stderr, "bench_scaleout: PVM_BENCH_PG is not set (bench/run-all starts a "
				"throwaway PostgreSQL and sets it)\n");
		return 1;
	}
	for (int r = 0; r < ROUNDS; r++) {
		fprintf(stderr, "bench_scaleout: round %d/%d\n", r + 1, ROUNDS);
		if (one_setup(pg, pvmd, 1, r, &one[r], NULL) < 0 ||
		    one_setup(pg, pvmd, 3, r, &three[r], &fail[r]) < 0) {
			fprintf(stderr, "bench_scaleout: round %d failed\n", r + 1);
			return 1;
		}
		ratio[r] = three[r] / one[r];
		fprintf(stderr,
			"bench_scaleout: 1 controller %.0f creates/s, 3 controllers %.0f, "
			"failover %.2f s\n",
			one[r], three[r], fail[r]);
	}
	printf("METRIC scaleout_creates_per_s_1 %.0f creates/s\n", bench_median(one, ROUNDS));
	printf("METRIC scaleout_creates_per_s_3 %.0f creates/s\n", bench_median(three, ROUNDS));
	printf("METRIC scaleout_3_over_1 %.3f ratio\n", bench_median(ratio, ROUNDS));
	printf("METRIC failover_s %.2f s\n", bench_median(fail, ROUNDS));
	printf("METRIC failover_heartbeats %.2f heartbeats\n", bench_median(fail, ROUNDS) / HB_S);
	return 0;
}
