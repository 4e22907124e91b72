/* SPDX-License-Identifier: MIT */
/*
 * bench_pack: online packing through the REST API, as an orchestrator
 * sends creates: one POST /v1/guests at a time, each answered before the
 * next, to the all-in-one controller (in process, SQLite, the default
 * policy with cpu_overcommit=1). The instances have a known optimum
 * (sched_sim_packing_vec: N hosts of 32 vCPUs and 128 GiB cut exactly into
 * 3-12 guests in both dimensions, shuffled; N/2 spare hosts), for N = 10,
 * 50 and 100 over seeds 2001-2005. Figures, per N the median over seeds and
 * the headline the worst N: hosts used over the optimum once every guest is
 * bound, and again after POST /v1/rebalance {"apply":true} (moves carried
 * out by the controller as it does for operators).
 *
 * The counts come from the store (the bindings the controller committed),
 * not from the scheduler's model.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "api/api.h"
#include "bench/common/bench.h"
#include "controller/controller.h"
#include "schedulers/sim.h"
#include "store/store.h"

#define SEED0	2001
#define SEEDS	5
#define MOVES	2000
#define WAIT_NS 60000000000ull

struct server {
	char dir[64];
	struct store *st;
	struct controller *ctl;
	struct api_server *srv;
	char base[64];
	char token[128];
};

static int hosts_create(struct store *st, const struct sched_sim *sim, struct pvm_err *err)
{
	int ret = store_tx_begin(st, err);

	for (uint32_t i = 0; ret == 0 && i < sim->nhosts; i++) {
		struct store_host h = {.cpus = sim->hosts[i].cpus,
				       .memory_mib = (int64_t)sim->hosts[i].memory_mib,
				       .disk_gib = (int64_t)sim->hosts[i].disk_gib,
				       .last_heartbeat_ms = (int64_t)(pvm_wall_ns() / 1000000)};

		snprintf(h.name, sizeof(h.name), "%s", sim->hosts[i].id);
		ret = store_host_create(st, &h, err);
		store_host_free(&h);
	}
	if (ret == 0)
		return store_tx_commit(st, err);
	store_tx_rollback(st);
	return ret;
}

static int server_start(const struct sched_sim *sim, struct server *sv, struct pvm_err *err)
{
	struct store_options sopts = {.pool_size = 8};
	struct api_config ac = {.listen = "127.0.0.1:0"};
	struct controller_config cc = {.heartbeat_s = 3600, .sched_policy = "cpu_overcommit=1"};
	char path[128];
	bool created;
	FILE *f;
	int ret;

	snprintf(sv->dir, sizeof(sv->dir), "/tmp/pvm-bench-pack-XXXXXX");
	if (!mkdtemp(sv->dir))
		return pvm_err_set(err, -errno, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/pvm.db", sv->dir);
	ret = store_open(path, &sopts, &sv->st, err);
	if (ret == 0)
		ret = hosts_create(sv->st, sim, err);
	cc.store = sv->st;
	if (ret == 0)
		ret = controller_open(&cc, &sv->ctl, err);
	ac.store = sv->st;
	ac.controller = sv->ctl;
	if (ret == 0)
		ret = api_server_start(&ac, &sv->srv, err);
	if (ret == 0)
		ret = controller_start(sv->ctl, err);
	if (ret < 0)
		return ret;
	snprintf(sv->base, sizeof(sv->base), "http://127.0.0.1:%u", api_server_port(sv->srv));
	snprintf(path, sizeof(path), "%s/admin.token", sv->dir);
	ret = api_bootstrap_admin(sv->st, path, &created, err);
	if (ret < 0)
		return ret;
	f = fopen(path, "r");
	if (!f)
		return pvm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!fgets(sv->token, sizeof(sv->token), f))
		ret = pvm_err_set(err, -EIO, "%s: empty", path);
	fclose(f);
	sv->token[strcspn(sv->token, "\n")] = '\0';
	return ret;
}

static void server_stop(struct server *sv)
{
	char path[128];

	if (sv->srv)
		api_server_stop(sv->srv);
	controller_close(sv->ctl);
	store_close(sv->st);
	snprintf(path, sizeof(path), "rm -rf '%s'", sv->dir);
	if (sv->dir[0] && system(path) != 0)
		fprintf(stderr, "bench_pack: could not remove %s\n", sv->dir);
}

/* Hosts with a guest bound, and guests without a host, as the store has
 * them. */
static int count(struct store *st, unsigned *used, unsigned *unbound, struct pvm_err *err)
{
	char next[STORE_ID_MAX] = "";
	struct store_host_list hl = {0};
	struct store_list_opts ho = {.limit = STORE_LIST_MAX};
	int ret;

	*used = *unbound = 0;
	ret = store_host_list(st, &ho, &hl, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < hl.n; i++)
		*used += hl.items[i].free_memory_mib < hl.items[i].memory_mib;
	store_host_list_free(&hl);
	do {
		struct store_list_opts o = {
		    .after = next[0] ? next : NULL, .limit = STORE_LIST_MAX, .unbound = true};
		struct store_guest_list l = {0};

		ret = store_guest_list(st, &o, &l, err);
		if (ret < 0)
			return ret;
		*unbound += (unsigned)l.n;
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (next[0]);
	return 0;
}

static int wait_bound(struct store *st, unsigned *used, struct pvm_err *err)
{
	uint64_t deadline = pvm_now_ns() + WAIT_NS;
	unsigned unbound = 1;
	int ret;

	while ((ret = count(st, used, &unbound, err)) == 0 && unbound && pvm_now_ns() < deadline)
		pvm_sleep_ns(10000000);
	if (ret == 0 && unbound)
		return pvm_err_set(err, -ETIMEDOUT, "%u guests unplaced after 60 s", unbound);
	return ret;
}

/* One instance: hosts used over the optimum after placement and after the
 * rebalancer. */
static int run(uint32_t full, uint64_t seed, double *placed, double *rebalanced)
{
	struct sched_sim sim;
	struct server sv = {0};
	struct pvm_err err = {0};
	struct pvm_buf b;
	char url[128], body[256];
	unsigned used = 0, after = 0;
	long code;
	int ret;

	pvm_buf_init(&b);
	ret = sched_sim_packing_vec(full, full / 2, seed, &sim, &err);
	if (ret == 0)
		ret = server_start(&sim, &sv, &err);
	snprintf(url, sizeof(url), "%s/v1/guests", sv.base);
	for (uint32_t i = 0; ret == 0 && i < sim.nguests; i++) {
		snprintf(body, sizeof(body),
			 "{\"name\":\"p%u\",\"image\":\"x.elf\",\"vcpus\":%u,\"memory_mib\":%llu}",
			 i, sim.guests[i].spec.vcpus,
			 (unsigned long long)sim.guests[i].spec.memory_mib);
		pvm_buf_reset(&b);
		code = bench_http(url, sv.token, body, &b);
		if (code < 200 || code > 299)
			ret = pvm_err_set(&err, -EIO, "create %u: HTTP %ld: %.200s", i, code,
					  b.data ? b.data : "");
	}
	if (ret == 0)
		ret = wait_bound(sv.st, &used, &err);
	snprintf(url, sizeof(url), "%s/v1/rebalance", sv.base);
	snprintf(body, sizeof(body), "{\"apply\":true,\"max_moves\":%d}", MOVES);
	pvm_buf_reset(&b);
	if (ret == 0 && (code = bench_http(url, sv.token, body, &b)) != 200)
		ret = pvm_err_set(&err, -EIO, "rebalance: HTTP %ld: %.200s", code,
				  b.data ? b.data : "");
	if (ret == 0)
		ret = wait_bound(sv.st, &after, &err);
	if (ret == 0) {
		json_object *o = json_tokener_parse(b.data);
		json_object *moves = json_object_object_get(o, "moves");

		fprintf(stderr,
			"bench_pack: N=%u seed %llu: %u guests on %u hosts, %u after %zu moves\n",
			full, (unsigned long long)seed, sim.nguests, used, after,
			moves ? json_object_array_length(moves) : 0);
		json_object_put(o);
		*placed = (double)used / full;
		*rebalanced = (double)after / full;
	} else {
		fprintf(stderr, "bench_pack: N=%u seed %llu: %s\n", full, (unsigned long long)seed,
			err.msg);
	}
	server_stop(&sv);
	sched_sim_free(&sim);
	pvm_buf_free(&b);
	return ret;
}

int main(void)
{
	static const uint32_t sizes[] = {10, 50, 100};
	double worst = 0, worst_rb = 0;
	int devnull;

	setvbuf(stdout, NULL, _IOLBF, 0);
	curl_global_init(CURL_GLOBAL_ALL);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pvm_log_init("bench_pack", PVM_LOG_WARN, PVM_LOG_TEXT);
	pvm_log_set_fd(devnull);
	for (unsigned int k = 0; k < PVM_ARRAY_SIZE(sizes); k++) {
		double placed[SEEDS], rb[SEEDS], m, mrb;

		for (int s = 0; s < SEEDS; s++)
			if (run(sizes[k], SEED0 + (uint64_t)s, &placed[s], &rb[s]) < 0)
				return 1;
		m = bench_median(placed, SEEDS);
		mrb = bench_median(rb, SEEDS);
		worst = m > worst ? m : worst;
		worst_rb = mrb > worst_rb ? mrb : worst_rb;
		printf("METRIC binpack_api_hosts_over_optimal_n%u %.3f ratio\n", sizes[k], m);
		printf("METRIC binpack_api_rebalanced_hosts_over_optimal_n%u %.3f ratio\n",
		       sizes[k], mrb);
	}
	printf("METRIC binpack_api_hosts_over_optimal %.3f ratio\n", worst);
	printf("METRIC binpack_api_rebalanced_hosts_over_optimal %.3f ratio\n", worst_rb);
	curl_global_cleanup();
	close(devnull);
	return 0;
}
