/* SPDX-License-Identifier: MIT */
/*
 * bench/linux through the REST API (linux.h): the all-in-one pvmd as an
 * operator runs it, so the figure holds the controller's placement, the
 * host's reconcile, the libvirt driver and the agent's relay to the store.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/linux/linux.h"
#include "common/common.h"
#include "tests/daemon/aio.h"

#define MAX_GUESTS 8
#define POLL_NS	   (50 * 1000000ull)
#define GIVE_UP_NS (300 * 1000000000ull)

static struct aio aio;

/* One call that must answer want; 0 or a negative errno. */
static int call(const char *method, const char *path, const char *body, long want,
		json_object **ans)
{
	json_object *o = NULL;
	long status = 0;
	int ret = aio_call(&aio, method, path, body, &status, &o);

	if (ret == 0 && status != want) {
		fprintf(stderr, "bench_linux: %s %s: HTTP %ld: %s\n", method, path, status,
			o ? json_object_to_json_string(o) : "");
		ret = -EIO;
	}
	if (ans && ret == 0)
		*ans = o;
	else
		json_object_put(o);
	return ret;
}

/* Polls the guest until its field at path is want (or, want "", set):
 * 0, -EIO when it failed, -ETIMEDOUT. */
static int wait_for(const char *id, const char *path, const char *want, uint64_t give_up)
{
	char url[128];
	int ret = -ETIMEDOUT;

	snprintf(url, sizeof(url), "/v1/guests/%.63s", id);
	while (pvm_now_ns() < give_up) {
		json_object *g = NULL;
		const char *v;

		ret = call("GET", url, NULL, 200, &g);
		if (ret < 0)
			return ret;
		v = aio_str_at(g, path);
		ret = *want ? strcmp(v, want) != 0 : !*v;
		if (ret && strcmp(aio_str_at(g, "observed_state"), "failed") == 0) {
			fprintf(stderr, "bench_linux: guest failed: %s\n",
				json_object_to_json_string(g));
			ret = -EIO;
		}
		json_object_put(g);
		if (ret <= 0)
			return ret;
		ret = -ETIMEDOUT;
		pvm_sleep_ns(POLL_NS);
	}
	return ret;
}

int bench_rest_open(const char *uri)
{
	char body[PATH_MAX + 128];
	int ret;

	ret = aio_start(
	    &aio, PVMD_BIN, PVM_VMM, PVM_GUEST_DIR, "/tmp/pvm-bench-rest-",
	    (const char *const[]){"--libvirt-uri", uri, "--report-interval-ms", "500", NULL});
	/* QEMU runs as libvirt-qemu and reaches the guest's folder under it. */
	if (ret == 0 && chmod(aio.dir, 0755) < 0)
		ret = -errno;
	if (ret == 0) {
		snprintf(body, sizeof(body),
			 "{\"name\":\"debian-linux\",\"format\":\"linux\",\"source\":\"%s\"}",
			 PVM_LINUX_IMAGE_DIR);
		ret = call("POST", "/v1/images", body, 201, NULL);
	}
	if (ret < 0)
		aio_kill(&aio);
	return ret;
}

double bench_rest_boot(int run, int n)
{
	char id[MAX_GUESTS][64], body[256], url[128];
	uint64_t t0 = pvm_now_ns(), give_up = t0 + GIVE_UP_NS;
	double secs = 0;
	int made = 0, ret = 0;

	if (n > MAX_GUESTS)
		return -E2BIG;
	for (; made < n && ret == 0; made++) {
		json_object *o = NULL;

		snprintf(body, sizeof(body),
			 "{\"name\":\"pvm-test-bench-rest-%d-%d\",\"kind\":\"linux\","
			 "\"image\":\"debian-linux\",\"vcpus\":1,\"memory_mib\":256,"
			 "\"restart_policy\":\"never\"}",
			 run, made);
		ret = call("POST", "/v1/guests", body, 201, &o);
		if (ret < 0)
			break;
		snprintf(id[made], sizeof(id[made]), "%s", aio_str_at(o, "id"));
		json_object_put(o);
	}
	/* The others boot while the first is waited for. */
	for (int i = 0; i < made && ret == 0; i++)
		ret = wait_for(id[i], "agent.hello.os", "", give_up);
	secs = (double)(pvm_now_ns() - t0) / 1e9;
	for (int i = 0; i < made; i++) {
		int r;

		snprintf(url, sizeof(url), "/v1/guests/%.63s", id[i]);
		r = call("PATCH", url, "{\"desired_state\":\"stopped\"}", 200, NULL);
		if (r == 0)
			r = wait_for(id[i], "observed_state", "stopped", pvm_now_ns() + GIVE_UP_NS);
		if (r == 0)
			r = call("DELETE", url, NULL, 204, NULL);
		if (ret == 0)
			ret = r;
	}
	return ret < 0 ? ret : secs;
}

int bench_rest_close(void)
{
	return aio_stop(&aio);
}
