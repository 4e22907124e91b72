/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the REST API: the input is one raw HTTP request,
 * sent over loopback to a live server (libmicrohttpd, the router, the
 * authentication, the handlers with their validation tables, the store on
 * SQLite). In the request, $A stands for an admin token, $H for a host
 * token, $h for that host's id and $g for a guest placed on it, so the
 * fuzzer reaches past authentication and into existing resources.
 *
 * No answer may be a 500: a client's bytes, however wrong, get a 4xx.
 * Streams (text/event-stream) are left out: they answer until the client
 * goes, which is a fuzzer's timeout, not a finding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "common/common.h"
#include "controller/controller.h"
#include "store/store.h"

#define MAX_INPUT (64u << 10)

static char dir[] = "/tmp/pvm-fuzz-api-XXXXXX";
static uint16_t port;
static char admin[128], host_tok[128], host_id[64], guest_id[64];

/* Sends req and reads the answer until the server hangs up; the status, or 0. */
static unsigned http(const char *req, size_t len, char *out, size_t cap)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	size_t sent = 0, got = 0;
	unsigned status = 0;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINTR))
		abort();
	while (sent < len) {
		ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* the server answered early and hung up */
		sent += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ready = poll(&p, 1, 5000);
		ssize_t r;

		if (ready < 0 && errno == EINTR)
			continue; /* libFuzzer's -timeout alarm */
		if (ready <= 0)
			break; /* still thinking (a long poll): no verdict */
		r = recv(fd, out + got, cap - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == cap - 1)
			break;
	}
	close(fd);
	out[got] = '\0';
	if (sscanf(out, "HTTP/1.%*d %u", &status) != 1)
		status = 0;
	return status;
}

/* A JSON string member of the answer's body. */
static void member(const char *answer, const char *name, char *dst, size_t len)
{
	const char *body = strstr(answer, "\r\n\r\n");
	json_object *o = body ? json_tokener_parse(body + 4) : NULL, *v;

	if (!o || !json_object_object_get_ex(o, name, &v)) {
		fprintf(stderr, "fuzz_api: setup: no %s in %s\n", name, answer);
		abort();
	}
	snprintf(dst, len, "%s", json_object_get_string(v));
	json_object_put(o);
}

static void call(const char *method, const char *path, const char *tok, const char *body,
		 unsigned want, const char *name, char *dst, size_t len)
{
	static char req[4096], ans[1 << 20];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 method, path, tok, strlen(body), body);
	unsigned st = http(req, (size_t)n, ans, sizeof(ans));

	if (st != want) {
		fprintf(stderr, "fuzz_api: setup: %s %s: %u, want %u: %s\n", method, path, st, want,
			ans);
		abort();
	}
	if (name)
		member(ans, name, dst, len);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_api: could not remove %s\n", dir);
}

static void setup(void)
{
	struct api_config ac = {.listen = "127.0.0.1:0", .max_wait_s = 1, .body_limit = 256 << 10};
	struct controller_config cc = {0};
	struct controller *ctl;
	struct api_server *srv;
	struct pvm_err err = {0};
	struct store *st;
	char path[512];
	bool created;
	FILE *f;

	pvm_log_set_level(PVM_LOG_ERROR);
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	if (store_open(path, NULL, &st, &err) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	if (api_bootstrap_admin(st, path, &created, &err) < 0)
		goto fail;
	f = fopen(path, "r");
	if (!f || !fgets(admin, sizeof(admin), f))
		abort();
	fclose(f);
	admin[strcspn(admin, "\n")] = '\0';
	cc.store = st;
	if (controller_open(&cc, &ctl, &err) < 0)
		goto fail;
	ac.store = st;
	ac.controller = ctl;
	if (api_server_start(&ac, &srv, &err) < 0)
		goto fail;
	controller_on_event(ctl, api_server_event, srv);
	if (controller_start(ctl, &err) < 0)
		goto fail;
	port = api_server_port(srv);
	call("POST", "/v1/tokens", admin, "{\"name\":\"fuzz-host\",\"role\":\"host\"}", 201,
	     "secret", host_tok, sizeof(host_tok));
	call("POST", "/v1/hosts", host_tok,
	     "{\"name\":\"fuzz-host\",\"address\":\"127.0.0.1\",\"cpus\":64,\"memory_mib\":65536,"
	     "\"disk_gib\":100}",
	     201, "id", host_id, sizeof(host_id));
	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", host_id);
	call("POST", path, host_tok,
	     "{\"hooks\":[{\"name\":\"console\",\"abi_version\":1}],\"abi_versions\":[1],"
	     "\"emulation\":true,\"drivers\":[\"hv\"]}",
	     200, NULL, NULL, 0);
	call("POST", "/v1/guests", admin,
	     "{\"name\":\"fuzz-guest\",\"image\":\"console.elf\",\"vcpus\":1,\"memory_mib\":64}",
	     201, "id", guest_id, sizeof(guest_id));
	return; /* the server runs until the fuzzer exits */
fail:
	fprintf(stderr, "fuzz_api: setup: %s\n", err.msg);
	abort();
}

/* The request with its placeholders filled in; NULL for a stream. */
static char *expand(const uint8_t *data, size_t size, size_t *len)
{
	struct pvm_buf b;

	if (memmem(data, size, "event-stream", 12))
		return NULL;
	pvm_buf_init(&b);
	for (size_t i = 0; i < size; i++) {
		const char *v = NULL;

		if (data[i] == '$' && i + 1 < size) {
			switch (data[i + 1]) {
			case 'A':
				v = admin;
				break;
			case 'H':
				v = host_tok;
				break;
			case 'h':
				v = host_id;
				break;
			case 'g':
				v = guest_id;
				break;
			}
		}
		if (v) {
			pvm_buf_append(&b, v, strlen(v));
			i++;
		} else {
			pvm_buf_append(&b, &data[i], 1);
		}
	}
	*len = b.len;
	return b.data ? b.data : strdup("");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ans[4u << 20];
	unsigned status;
	size_t len = 0;
	char *req;

	if (size > MAX_INPUT)
		return 0;
	if (!port)
		setup();
	req = expand(data, size, &len);
	if (!req)
		return 0;
	status = http(req, len, ans, sizeof(ans));
	free(req);
	if (getenv("PVM_FUZZ_VERBOSE")) /* to see what seeds reach */
		fprintf(stderr, "fuzz_api: %u %s\n", status,
			strstr(ans, "\r\n\r\n") ? strstr(ans, "\r\n\r\n") + 4 : ans);
	if (status == 500) {
		fprintf(stderr, "fuzz_api: 500 for a client's request:\n%s\n", ans);
		abort();
	}
	return 0;
}
