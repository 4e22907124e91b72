/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/api/harness.h"

void th_start(struct th *t, const struct api_config *over)
{
	struct api_config ac = {0};
	struct controller_config cc = {0};
	struct pvm_err err = {0};
	char path[512];
	bool created;
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/pvm-api-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(path, sizeof(path), "%s/pvm.db", t->dir);
	ck_assert_msg(store_open(path, NULL, &t->st, &err) == 0, "store_open: %s", err.msg);
	snprintf(path, sizeof(path), "%s/admin.token", t->dir);
	ck_assert_msg(api_bootstrap_admin(t->st, path, &created, &err) == 0, "%s", err.msg);
	ck_assert(created);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(t->admin, sizeof(t->admin), f));
	fclose(f);
	t->admin[strcspn(t->admin, "\n")] = '\0';
	if (over)
		ac = *over;
	ac.listen = "127.0.0.1:0";
	ac.store = t->st;
	cc.store = t->st;
	cc.heartbeat_s = ac.heartbeat_s;
	ck_assert_msg(controller_open(&cc, &t->ctl, &err) == 0, "controller: %s", err.msg);
	ac.controller = t->ctl;
	ck_assert_msg(api_server_start(&ac, &t->srv, &err) == 0, "start: %s", err.msg);
	controller_on_event(t->ctl, api_server_event, t->srv);
	ck_assert_msg(controller_start(t->ctl, &err) == 0, "controller: %s", err.msg);
	snprintf(t->base, sizeof(t->base), "%s://127.0.0.1:%u", ac.tls_cert ? "https" : "http",
		 api_server_port(t->srv));
}

void th_stop(struct th *t)
{
	api_server_stop(t->srv);
	t->srv = NULL;
	controller_close(t->ctl);
	t->ctl = NULL;
	store_close(t->st);
	t->st = NULL;
}

void th_cleanup(struct th *t)
{
	char cmd[600];

	/* Also after a test stopped only the server: the controller would go on
	 * writing the store (journal files) into the directory rm is emptying. */
	th_stop(t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct th_resp *r = arg;
	char *nb = realloc(r->body, r->len + size * n + 1);

	ck_assert_ptr_nonnull(nb);
	memcpy(nb + r->len, p, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	size_t v, e;

	if (len <= nl || strncasecmp(line, name, nl) != 0)
		return;
	for (v = nl; v < len && line[v] == ' '; v++)
		;
	for (e = len; e > v && (line[e - 1] == '\r' || line[e - 1] == '\n'); e--)
		;
	snprintf(out, outlen, "%.*s", (int)(e - v), line + v);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct th_resp *r = arg;

	header_value(p, size * n, "ETag:", r->etag, sizeof(r->etag));
	header_value(p, size * n, "Content-Type:", r->ctype, sizeof(r->ctype));
	header_value(p, size * n, "Location:", r->location, sizeof(r->location));
	header_value(p, size * n, "WWW-Authenticate:", r->www_auth, sizeof(r->www_auth));
	header_value(p, size * n, "Allow:", r->allow, sizeof(r->allow));
	header_value(p, size * n, "Retry-After:", r->retry_after, sizeof(r->retry_after));
	return size * n;
}

void th_req_url(const char *base, const char *method, const char *path, const char *token,
		const char *body, const char *const *headers, struct th_resp *r)
{
	struct curl_slist *hl = NULL;
	char url[2048], auth[256];
	bool has_ct = false;
	CURL *c = curl_easy_init();
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hl = curl_slist_append(hl, auth);
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		hl = curl_slist_append(hl, headers[i]);
		has_ct |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
	}
	if (body) {
		if (!has_ct)
			hl = curl_slist_append(hl, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		r->status = -(long)cc;
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (r->body && (strstr(r->ctype, "json")))
		r->json = json_tokener_parse(r->body);
}

void th_req(struct th *t, const char *method, const char *path, const char *token, const char *body,
	    const char *const *headers, struct th_resp *r)
{
	th_req_url(t->base, method, path, token, body, headers, r);
}

void th_resp_free(struct th_resp *r)
{
	free(r->body);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

const char *th_str(const struct th_resp *r, const char *name)
{
	json_object *v;

	if (!r->json || !json_object_object_get_ex(r->json, name, &v) || !v)
		return "";
	return json_object_get_string(v);
}

const char *th_problem(const struct th_resp *r)
{
	const char *type = th_str(r, "type");
	const char *slash = strrchr(type, '/');

	if (strncmp(type, API_PROBLEM_URI, strlen(API_PROBLEM_URI)) != 0)
		return "";
	return slash ? slash + 1 : "";
}

void th_token(struct th *t, const char *role, char *secret, size_t len, char *id, size_t idlen)
{
	struct th_resp r;
	char body[256];
	static int n;

	snprintf(body, sizeof(body), "{\"name\":\"t-%s-%d\",\"role\":\"%s\"}", role,
		 __atomic_fetch_add(&n, 1, __ATOMIC_SEQ_CST), role);
	th_req(t, "POST", "/v1/tokens", t->admin, body, NULL, &r);
	ck_assert_msg(r.status == 201, "token create: %ld %s", r.status, r.body);
	snprintf(secret, len, "%s", th_str(&r, "secret"));
	if (id)
		snprintf(id, idlen, "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

void th_host(struct th *t, const char *name, int cpus, int mem_mib, const char *hooks, char *id,
	     size_t idlen, char *token, size_t toklen)
{
	struct th_resp r;
	char body[1024], path[256];

	th_token(t, "host", token, toklen, NULL, 0);
	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"address\":\"127.0.0.1\",\"cpus\":%d,\"memory_mib\":%d,"
		 "\"disk_gib\":100}",
		 name, cpus, mem_mib);
	th_req(t, "POST", "/v1/hosts", token, body, NULL, &r);
	ck_assert_msg(r.status == 201, "host register: %ld %s", r.status, r.body);
	snprintf(id, idlen, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", id);
	snprintf(body, sizeof(body),
		 "{\"hooks\":[],\"abi_versions\":[1],\"emulation\":true,\"drivers\":[\"hv\"]}");
	if (hooks && strcmp(hooks, "[]") != 0) {
		json_object *arr = json_tokener_parse(hooks), *hk = json_object_new_array();
		json_object *o = json_object_new_object();

		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "name",
					       json_object_get(json_object_array_get_idx(arr, i)));
			json_object_object_add(e, "abi_version", json_object_new_int(1));
			json_object_array_add(hk, e);
		}
		json_object_object_add(o, "hooks", hk);
		json_object_object_add(o, "abi_versions", json_tokener_parse("[1]"));
		json_object_object_add(o, "emulation", json_object_new_boolean(true));
		json_object_object_add(o, "drivers", json_tokener_parse("[\"hv\"]"));
		snprintf(body, sizeof(body), "%s", json_object_to_json_string(o));
		json_object_put(o);
		json_object_put(arr);
	}
	th_req(t, "POST", path, token, body, NULL, &r);
	ck_assert_msg(r.status == 200, "heartbeat: %ld %s", r.status, r.body);
	ck_assert_str_eq(th_str(&r, "state"), "ready");
	th_resp_free(&r);
}

void th_beat(struct th *t, const char *id, const char *token)
{
	struct th_resp r;
	char path[256];

	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", id);
	th_req(t, "POST", path, token, "{}", NULL, &r);
	ck_assert_msg(r.status == 200, "heartbeat: %ld %s", r.status, r.body);
	th_resp_free(&r);
}

static void digest_list(struct th *t, const char *path, struct pvm_buf *b)
{
	char url[512], next[128] = "";

	do {
		struct th_resp r;
		json_object *items, *nx;

		snprintf(url, sizeof(url), "%s?limit=1000%s%s", path, next[0] ? "&page_token=" : "",
			 next);
		th_req(t, "GET", url, t->admin, NULL, NULL, &r);
		ck_assert_msg(r.status == 200, "%s: %ld", path, r.status);
		ck_assert(json_object_object_get_ex(r.json, "items", &items));
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			json_object *e = json_object_array_get_idx(items, i), *v;

			json_object_object_get_ex(e, "id", &v);
			pvm_buf_printf(b, "%s ", json_object_get_string(v));
			json_object_object_get_ex(e, "generation", &v);
			pvm_buf_printf(b, "%s\n", json_object_get_string(v));
		}
		next[0] = '\0';
		if (json_object_object_get_ex(r.json, "next_page_token", &nx) && nx)
			snprintf(next, sizeof(next), "%s", json_object_get_string(nx));
		th_resp_free(&r);
	} while (next[0]);
}

static int digest_exit(const struct store_exit_count *e, void *arg)
{
	pvm_buf_printf(arg, "exit %s %s %lld\n", e->guest_id, e->reason, (long long)e->count);
	return 0;
}

static int digest_agent(const struct store_guest_agent *a, void *arg)
{
	pvm_buf_printf(arg, "agent %s %d %lld %s\n", a->guest_id, a->stale,
		       (long long)a->updated_ms, a->state);
	return 0;
}

static int digest_stat(const struct store_hook_stat *st, void *arg)
{
	pvm_buf_printf(arg, "stat %s %s %lld %lld\n", st->guest_id, st->hook, (long long)st->calls,
		       (long long)st->updated_ms);
	return 0;
}

char *th_digest(struct th *t)
{
	struct pvm_buf b;
	int64_t seq = 0;

	pvm_buf_init(&b);
	ck_assert_int_eq(store_events_last_seq(t->st, &seq, NULL), 0);
	pvm_buf_printf(&b, "seq %lld\n", (long long)seq);
	digest_list(t, "/v1/hosts", &b);
	digest_list(t, "/v1/guests", &b);
	digest_list(t, "/v1/images", &b);
	digest_list(t, "/v1/tokens", &b);
	ck_assert_int_eq(store_guest_exits_foreach(t->st, digest_exit, &b, NULL), 0);
	ck_assert_int_eq(store_guest_agent_foreach(t->st, digest_agent, &b, NULL), 0);
	ck_assert_int_eq(store_hook_stats_foreach(t->st, digest_stat, &b, NULL), 0);
	return pvm_buf_steal(&b);
}

int th_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

pid_t th_pvmd_start(const char *pvmd, const char *dir, char *base, size_t len)
{
	char listen[64], log[300];
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", th_free_port());
	snprintf(base, len, "http://%s", listen);
	snprintf(log, sizeof(log), "%s/pvmd.log", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0)
			fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		execl(pvmd, "pvmd", "--role", "controller", "--listen", listen, "--state-dir", dir,
		      "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1500; i++) {
		struct th_resp r;

		th_req_url(base, "GET", "/healthz", NULL, NULL, NULL, &r);
		if (r.status == 200) {
			th_resp_free(&r);
			return pid;
		}
		th_resp_free(&r);
		pvm_sleep_ns(20 * 1000000ull);
	}
	ck_abort_msg("pvmd did not become ready (see %s)", log);
	return -1;
}

void th_pvmd_admin(const char *dir, char *admin, size_t len)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.token", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(admin, (int)len, f));
	fclose(f);
	admin[strcspn(admin, "\n")] = '\0';
}
