/* SPDX-License-Identifier: MIT */
/*
 * bench_api: wrk against the REST API and, in the same run, against a bare
 * libmicrohttpd server answering the same JSON body; then /metrics scrapes
 * with 10,000 guests in the store. Loopback only; every wrk run is bounded
 * by its duration. METRIC lines on stdout, progress on stderr.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "bench/common/bench.h"
#include "controller/controller.h"
#include "store/store.h"
#include "tests/pgtest/pgtest.h"

#define REPEATS	    5
#define WRK_SECONDS 3
#define SCRAPES	    15
#define GUESTS	    10000
#define HOSTS	    50

static char fixed_body[4096];
static size_t fixed_len;

/* The baseline: the same threading mode as the API, a fixed answer. */
static enum MHD_Result raw_answer(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
	if (!*con_cls) {
		*con_cls = c;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(fixed_len, fixed_body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static int run_wrk(const char *url, const char *token, const char *script,
		   struct bench_wrk_result *out)
{
	struct bench_wrk w;
	int ret = bench_wrk_start(url, token, script, 2, 16, WRK_SECONDS, &w);

	return ret < 0 ? ret : bench_wrk_finish(&w, out);
}

/* 10,000 guests over 50 hosts, each with three hooks' statistics. */
static int populate(struct store *st, struct pvm_err *err)
{
	static const char *const hooks[] = {"console", "block", "clock"};
	char hosts[HOSTS][STORE_ID_MAX];
	int ret = store_tx_begin(st, err);

	for (int i = 0; ret == 0 && i < HOSTS; i++) {
		/* Heartbeating as a live fleet's hosts do (the controller's
		 * heartbeat is long enough that none is reaped in the run). */
		struct store_host h = {.cpus = 1024,
				       .memory_mib = 1 << 20,
				       .disk_gib = 1 << 12,
				       .last_heartbeat_ms = (int64_t)(pvm_wall_ns() / 1000000)};

		snprintf(h.name, sizeof(h.name), "host-%d", i);
		ret = store_host_create(st, &h, err);
		snprintf(hosts[i], sizeof(hosts[i]), "%s", h.id);
		store_host_free(&h);
	}
	for (int i = 0; ret == 0 && i < GUESTS; i++) {
		struct store_guest g = {.vcpus = 1, .memory_mib = 64};
		struct store_hook_stat hs[3] = {0};

		snprintf(g.name, sizeof(g.name), "guest-%d", i);
		g.spec = "{\"name\":\"g\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":64}";
		ret = store_guest_create(st, &g, err);
		if (ret == 0)
			ret = store_guest_bind(st, g.id, 0, hosts[i % HOSTS], NULL, NULL, err);
		for (int k = 0; k < 3; k++) {
			snprintf(hs[k].hook, sizeof(hs[k].hook), "%s", hooks[k]);
			hs[k].calls = 1000 + i;
			hs[k].doorbells = 10 + k;
			hs[k].bytes = 4096 * (int64_t)i;
			hs[k].exits_avoided = 990 + i;
		}
		if (ret == 0)
			ret = store_hook_stats_put(st, g.id, hs, 3, 0, err);
	}
	if (ret == 0)
		return store_tx_commit(st, err);
	store_tx_rollback(st);
	return ret;
}

/* %d: the round, so names stay unique across rounds. */
static const char post_lua[] =
    "local next_tid = 0\n"
    "function setup(thread) thread:set('tid', next_tid); next_tid = next_tid + 1 end\n"
    "local n = 0\n"
    "function request()\n"
    "  n = n + 1\n"
    "  return wrk.format('POST', '/v1/guests', nil, string.format("
    "'{\"name\":\"w%d-%%d-%%d\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}', tid, n))\n"
    "end\n";

/* A controller and the API over one store, populated. */
struct server {
	struct store *st;
	struct controller *ctl;
	struct api_server *srv;
	unsigned port;
};

static int server_start(const char *location, struct server *sv, struct pvm_err *err)
{
	struct store_options sopts = {.pool_size = 8};
	struct api_config ac = {.listen = "127.0.0.1:0"};
	struct controller_config cc = {.heartbeat_s = 3600};
	int ret;

	memset(sv, 0, sizeof(*sv));
	ret = store_open(location, &sopts, &sv->st, err);
	if (ret == 0) {
		fprintf(stderr, "bench_api: populating %d guests on %d hosts in %s\n", GUESTS,
			HOSTS, strncmp(location, "postgres", 8) ? "SQLite" : "PostgreSQL");
		ret = populate(sv->st, err);
	}
	cc.store = sv->st;
	if (ret == 0)
		ret = controller_open(&cc, &sv->ctl, err);
	ac.store = sv->st;
	ac.controller = sv->ctl;
	if (ret == 0)
		ret = api_server_start(&ac, &sv->srv, err);
	if (ret == 0)
		ret = controller_start(sv->ctl, err);
	if (ret == 0)
		sv->port = api_server_port(sv->srv);
	return ret;
}

static void server_stop(struct server *sv)
{
	api_server_stop(sv->srv);
	controller_close(sv->ctl);
	store_close(sv->st);
}

/* Every guest id, for the random-mix script; 0 or -EIO. */
static int write_get_script(unsigned port, const char *token, const char *path)
{
	char url[256], next[64] = "";
	struct pvm_buf b;
	FILE *f = fopen(path, "w");
	int n = 0, ret = 0;

	if (!f)
		return -errno;
	pvm_buf_init(&b);
	fprintf(f, "local ids = {\n");
	do {
		json_object *o, *items, *tok;

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/guests?limit=1000%s%s", port,
			 next[0] ? "&page_token=" : "", next);
		pvm_buf_reset(&b);
		if (bench_http(url, token, NULL, &b) != 200) {
			ret = -EIO;
			break;
		}
		o = json_tokener_parse(b.data);
		items = json_object_object_get(o, "items");
		for (size_t i = 0; i < json_object_array_length(items); i++, n++)
			fprintf(f, "\"%s\",\n",
				json_object_get_string(json_object_object_get(
				    json_object_array_get_idx(items, i), "id")));
		tok = json_object_object_get(o, "next_page_token");
		snprintf(next, sizeof(next), "%s", tok ? json_object_get_string(tok) : "");
		json_object_put(o);
	} while (next[0]);
	/* Each wrk thread draws its own sequence from its own seed. */
	fprintf(f, "}\n"
		   "local seed = 1\n"
		   "function setup(thread) thread:set('seed', seed); seed = seed + 1 end\n"
		   "function init(args) math.randomseed(seed * 7919) end\n"
		   "function request()\n"
		   "  return wrk.format('GET', '/v1/guests/' .. ids[math.random(#ids)])\n"
		   "end\n");
	fclose(f);
	pvm_buf_free(&b);
	if (ret == 0 && n != GUESTS)
		ret = -EIO;
	return ret;
}

/* Guests in the store (bound to a host: unbound false), counted page by page. */
static int count_guests(struct store *st, bool unbound, size_t limit, size_t *n)
{
	char next[STORE_ID_MAX] = "";
	struct pvm_err err = {0};
	int ret;

	*n = 0;
	do {
		struct store_list_opts o = {
		    .after = next[0] ? next : NULL, .limit = limit, .unbound = unbound};
		struct store_guest_list l = {0};

		ret = store_guest_list(st, &o, &l, &err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n; i++)
			*n += unbound || l.items[i].host_id[0];
		snprintf(next, sizeof(next), "%s", limit == 1 ? "" : l.next);
		store_guest_list_free(&l);
	} while (next[0]);
	return 0;
}

/*
 * Guests placed a second: from a round's start until the controller has
 * bound the last guest it created (polled every 10 ms for an unbound one),
 * the guests bound in between over that time.
 */
static int placed_per_s(struct store *st, size_t before, uint64_t t0, double *rate)
{
	uint64_t deadline = pvm_now_ns() + 30000000000ull, t1;
	size_t pending = 1, after = 0;
	int ret;

	while ((ret = count_guests(st, true, 1, &pending)) == 0 && pending &&
	       pvm_now_ns() < deadline)
		pvm_sleep_ns(10000000);
	t1 = pvm_now_ns();
	if (ret == 0 && pending) {
		fprintf(stderr, "bench_api: guests still pending 30 s after a round\n");
		return -ETIMEDOUT;
	}
	if (ret == 0)
		ret = count_guests(st, false, STORE_LIST_MAX, &after);
	if (ret == 0)
		*rate = (double)(after - before) / ((double)(t1 - t0) / 1e9);
	return ret;
}

/* REPEATS rounds of creates; any answer but 2xx fails the benchmark. */
static int post_rounds(struct store *st, unsigned port, const char *token, const char *dir,
		       const char *what, double *out, double *placed)
{
	char path[512], purl[128];

	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u/v1/guests", port);
	for (int i = 0; i < REPEATS; i++) {
		struct bench_wrk_result p;
		size_t before = 0;
		uint64_t t0;
		FILE *f;

		fprintf(stderr, "bench_api: POST (%s) round %d/%d\n", what, i + 1, REPEATS);
		snprintf(path, sizeof(path), "%s/post-%s-%d.lua", dir, what, i);
		f = fopen(path, "w");
		if (!f)
			return -errno;
		fprintf(f, post_lua, i);
		fclose(f);
		if (count_guests(st, false, STORE_LIST_MAX, &before) < 0)
			return -EIO;
		t0 = pvm_now_ns();
		if (run_wrk(purl, token, path, &p) < 0)
			return -EIO;
		if (p.non2xx) {
			fprintf(stderr, "bench_api: %ld creates were not 2xx\n", p.non2xx);
			return -EIO;
		}
		if (placed && placed_per_s(st, before, t0, &placed[i]) < 0)
			return -EIO;
		out[i] = p.rps;
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/pvm-bench-api-XXXXXX", path[512], token[128], url[256], gid[64];
	char script[512];
	const char *pg = getenv("PVM_BENCH_PG");
	char pg_uri[PGTEST_URI_MAX] = "";
	struct server sv = {0}, pgsv = {0};
	struct MHD_Daemon *raw = NULL;
	struct pvm_err err = {0};
	struct pvm_buf b;
	double api_rps[REPEATS], raw_rps[REPEATS], api_p99[REPEATS], raw_p99[REPEATS];
	double ratio[REPEATS];
	double post_rps[REPEATS], pg_post_rps[REPEATS], scrape[SCRAPES], placed[REPEATS];
	unsigned raw_port;
	bool created;
	int devnull, ret = 1;
	FILE *f;

	curl_global_init(CURL_GLOBAL_ALL);
	/* The access log is written as in production, to a sink. */
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pvm_log_init("bench_api", PVM_LOG_INFO, PVM_LOG_TEXT);
	pvm_log_set_fd(devnull);
	pvm_buf_init(&b);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	if (server_start(path, &sv, &err) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	if (api_bootstrap_admin(sv.st, path, &created, &err) < 0)
		goto fail;
	f = fopen(path, "r");
	if (!f || !fgets(token, sizeof(token), f))
		goto fail;
	fclose(f);
	token[strcspn(token, "\n")] = '\0';

	/* The raw server answers every path with one guest's answer. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/guests?limit=1", sv.port);
	if (bench_http(url, token, NULL, &b) != 200)
		goto fail;
	{
		json_object *o = json_tokener_parse(b.data), *items, *id;

		items = json_object_object_get(o, "items");
		id = json_object_object_get(json_object_array_get_idx(items, 0), "id");
		snprintf(gid, sizeof(gid), "%s", json_object_get_string(id));
		json_object_put(o);
	}
	pvm_buf_reset(&b);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/guests/%s", sv.port, gid);
	if (bench_http(url, token, NULL, &b) != 200 || b.len >= sizeof(fixed_body))
		goto fail;
	memcpy(fixed_body, b.data, b.len);
	fixed_len = b.len;
	raw = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
			       NULL, NULL, raw_answer, NULL, MHD_OPTION_CONNECTION_LIMIT, 1000u,
			       MHD_OPTION_END);
	if (!raw)
		goto fail;
	raw_port = MHD_get_daemon_info(raw, MHD_DAEMON_INFO_BIND_PORT)->port;
	snprintf(script, sizeof(script), "%s/get.lua", dir);
	if (write_get_script(sv.port, token, script) < 0) {
		fprintf(stderr, "bench_api: cannot list the %d guests\n", GUESTS);
		goto fail;
	}

	for (int i = 0; i < REPEATS; i++) {
		struct bench_wrk_result a, r;
		char rurl[128], aurl[128];

		fprintf(stderr, "bench_api: GET round %d/%d (random guest of %d)\n", i + 1, REPEATS,
			GUESTS);
		snprintf(rurl, sizeof(rurl), "http://127.0.0.1:%u/", raw_port);
		snprintf(aurl, sizeof(aurl), "http://127.0.0.1:%u/", sv.port);
		if (run_wrk(rurl, token, script, &r) < 0 || run_wrk(aurl, token, script, &a) < 0)
			goto fail;
		if (a.non2xx) {
			fprintf(stderr, "bench_api: %ld API answers were not 2xx\n", a.non2xx);
			goto fail;
		}
		fprintf(stderr,
			"bench_api: raw %.0f req/s p99 %.2f ms, api %.0f req/s p99 %.2f ms\n",
			r.rps, r.p99_ms, a.rps, a.p99_ms);
		ratio[i] = a.rps / r.rps;
		raw_rps[i] = r.rps;
		raw_p99[i] = r.p99_ms;
		api_rps[i] = a.rps;
		api_p99[i] = a.p99_ms;
	}
	if (post_rounds(sv.st, sv.port, token, dir, "sqlite", post_rps, placed) < 0)
		goto fail;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", sv.port);
	for (int i = 0; i < SCRAPES; i++) {
		uint64_t t0 = pvm_now_ns();

		pvm_buf_reset(&b);
		if (bench_http(url, token, NULL, &b) != 200)
			goto fail;
		scrape[i] = (double)(pvm_now_ns() - t0) / 1e6;
	}
	fprintf(stderr, "bench_api: /metrics is %zu bytes\n", b.len);
	if (pg && *pg) {
		snprintf(path, sizeof(path), "%s/admin-pg.token", dir);
		if (pgtest_db_create(pg, pg_uri, sizeof(pg_uri)) < 0)
			goto fail;
		if (server_start(pg_uri, &pgsv, &err) < 0 ||
		    api_bootstrap_admin(pgsv.st, path, &created, &err) < 0)
			goto fail;
		f = fopen(path, "r");
		if (!f || !fgets(token, sizeof(token), f))
			goto fail;
		fclose(f);
		token[strcspn(token, "\n")] = '\0';
		if (post_rounds(pgsv.st, pgsv.port, token, dir, "postgres", pg_post_rps, NULL) < 0)
			goto fail;
	} else {
		fprintf(stderr, "bench_api: PVM_BENCH_PG unset: no PostgreSQL figure\n");
	}
	printf("METRIC raw_get_rps %.0f req/s\n", bench_median(raw_rps, REPEATS));
	printf("METRIC raw_get_p99_ms %.3f ms\n", bench_median(raw_p99, REPEATS));
	printf("METRIC api_get_rps %.0f req/s\n", bench_median(api_rps, REPEATS));
	/*
	 * Each round runs the two servers back to back, so a round's ratio is
	 * a paired measurement: the median of those resists the load other
	 * processes put on a shared machine better than a ratio of medians
	 * (printed on stderr for comparison).
	 */
	fprintf(stderr, "bench_api: ratio of median rps %.3f\n",
		bench_median(api_rps, REPEATS) / bench_median(raw_rps, REPEATS));
	printf("METRIC api_get_ratio_vs_raw %.3f ratio\n", bench_median(ratio, REPEATS));
	printf("METRIC api_get_p99_ms %.3f ms\n", bench_median(api_p99, REPEATS));
	printf("METRIC api_post_rps %.0f req/s\n", bench_median(post_rps, REPEATS));
	printf("METRIC api_placements_per_s %.0f guests/s\n", bench_median(placed, REPEATS));
	if (pg && *pg)
		printf("METRIC api_post_rps_postgres %.0f req/s\n",
		       bench_median(pg_post_rps, REPEATS));
	printf("METRIC metrics_scrape_ms %.2f ms\n", bench_median(scrape, SCRAPES));
	ret = 0;
fail:
	if (ret)
		fprintf(stderr, "bench_api: failed: %s\n", err.msg[0] ? err.msg : "see above");
	if (raw)
		MHD_stop_daemon(raw);
	server_stop(&pgsv);
	if (pg_uri[0])
		pgtest_db_drop(pg, pg_uri);
	server_stop(&sv);
	pvm_buf_free(&b);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		ret = 1;
	curl_global_cleanup();
	return ret;
}
