/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tests/cluster/cluster.h"

/* src with every "{i}" replaced by i. */
static void subst_index(const char *src, int i, char *out, size_t len)
{
	size_t n = 0;

	while (*src && n + 1 < len) {
		if (!strncmp(src, "{i}", 3)) {
			n += (size_t)snprintf(out + n, len - n, "%d", i);
			src += 3;
		} else {
			out[n++] = *src++;
		}
	}
	out[n < len ? n : len - 1] = '\0';
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), p = -1;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	close(fd);
	return p < 0 ? -EADDRNOTAVAIL : p;
}

int cluster_start_replica(struct cluster *c, int i)
{
	struct cluster_replica *r = &c->rep[i];
	char listen[32], name[16], hb[16], log[340], base[sizeof(c->dir)], store[sizeof(c->store)];
	int port = free_port();
	pid_t pid;

	if (port < 0)
		return port;
	subst_index(c->store, i, store, sizeof(store));
	memcpy(base, c->dir, sizeof(base));
	snprintf(r->dir, sizeof(r->dir), "%s/r%d", base, i);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(name, sizeof(name), "r%d", i);
	snprintf(hb, sizeof(hb), "%u", c->heartbeat_s);
	snprintf(log, sizeof(log), "%s.log", r->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		const char *argv[] = {"pvmd", "--role",	     "controller", "--listen",
				      listen, "--state-dir", r->dir,	   "--store",
				      store,  "--replica",   name,	   "--heartbeat-s",
				      hb,     NULL};
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			dup2(fd, 2);
		execv(c->pvmd, (char *const *)argv);
		_exit(127);
	}
	r->pid = pid;
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	char **out = arg;
	size_t old = *out ? strlen(*out) : 0;
	char *nb = realloc(*out, old + size * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + old, p, size * n);
	nb[old + size * n] = '\0';
	*out = nb;
	return size * n;
}

int cluster_req(struct cluster *c, int i, const char *method, const char *path, const char *body,
		const char *const *headers, long *status, char **out)
{
	struct curl_slist *hl = NULL;
	char url[1024], auth[200];
	char *sink = NULL;
	CURL *h = curl_easy_init();
	CURLcode cc;

	*status = 0;
	if (!h)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", c->rep[i].url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->admin);
	hl = curl_slist_append(hl, auth);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	for (size_t k = 0; headers && headers[k]; k++)
		hl = curl_slist_append(hl, headers[k]);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	else
		*status = -(long)cc;
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	if (out)
		*out = sink;
	else
		free(sink);
	return 0;
}

int cluster_wait_ready(struct cluster *c, int i)
{
	for (int k = 0; k < 400; k++) {
		long st;

		cluster_req(c, i, "GET", "/readyz", NULL, NULL, &st, NULL);
		if (st == 200)
			return 0;
		usleep(25000);
	}
	return -ETIMEDOUT;
}

int cluster_leader(struct cluster *c)
{
	for (int i = 0; i < c->n; i++) {
		json_object *o, *role;
		char *body = NULL;
		bool yes = false;
		long st;

		if (!c->rep[i].pid)
			continue;
		cluster_req(c, i, "GET", "/readyz", NULL, NULL, &st, &body);
		o = st == 200 && body ? json_tokener_parse(body) : NULL;
		yes = o && json_object_object_get_ex(o, "role", &role) &&
		      strcmp(json_object_get_string(role), "leader") == 0;
		json_object_put(o);
		free(body);
		if (yes)
			return i;
	}
	return -1;
}

void cluster_kill(struct cluster *c, int i)
{
	if (!c->rep[i].pid)
		return;
	kill(c->rep[i].pid, SIGKILL);
	waitpid(c->rep[i].pid, NULL, 0);
	c->rep[i].pid = 0;
}

/* The token once the file holds a whole line: pvmd creates the file before
 * the token exists (so that nobody else can), and writes it after. */
static int read_token(const char *path, char *out, size_t len)
{
	for (int k = 0; k < 400; k++) {
		FILE *f = fopen(path, "r");
		bool whole = f && fgets(out, (int)len, f) && strchr(out, '\n');

		if (f)
			fclose(f);
		if (whole) {
			out[strcspn(out, "\n")] = '\0';
			return 0;
		}
		usleep(25000);
	}
	return -ETIMEDOUT;
}

int cluster_start(struct cluster *c, const char *pvmd, const char *store, int n,
		  unsigned heartbeat_s)
{
	char path[400];
	int ret;

	memset(c, 0, sizeof(*c));
	if (n < 1 || n > CLUSTER_MAX_REPLICAS)
		return -EINVAL;
	snprintf(c->dir, sizeof(c->dir), "/tmp/pvm-cluster-XXXXXX");
	if (!mkdtemp(c->dir))
		return -errno;
	if (store && *store)
		snprintf(c->store, sizeof(c->store), "%s", store);
	else
		snprintf(c->store, sizeof(c->store), "%s/shared.db", c->dir);
	c->pvmd = pvmd;
	c->heartbeat_s = heartbeat_s;
	c->n = n;
	/* The first replica creates the schema and the bootstrap token. */
	ret = cluster_start_replica(c, 0);
	snprintf(path, sizeof(path), "%s/admin.token", c->rep[0].dir);
	if (ret == 0)
		ret = read_token(path, c->admin, sizeof(c->admin));
	for (int i = 1; ret == 0 && i < n; i++)
		ret = cluster_start_replica(c, i);
	for (int i = 0; ret == 0 && i < n; i++)
		ret = cluster_wait_ready(c, i);
	return ret;
}

static void heartbeat_all(struct cluster *c, int from)
{
	for (int h = 0; h < c->nhosts; h++) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/hosts/%.60s/heartbeat", c->host_ids[h]);
		for (int k = 0; k < c->n; k++) {
			int i = (from + k) % c->n;
			long st = 0;

			if (c->rep[i].pid)
				cluster_req(c, i, "POST", path, "{}", NULL, &st, NULL);
			if (st == 200)
				break;
		}
	}
}

static void *beats(void *arg)
{
	struct cluster *c = arg;

	for (int n = 0; !atomic_load(&c->stop_beats); n++) {
		heartbeat_all(c, n);
		usleep(c->heartbeat_s * 1000000 / 3);
	}
	return NULL;
}

int cluster_hosts(struct cluster *c, int n, int cpus, int memory_mib)
{
	if (n > CLUSTER_MAX_HOSTS)
		return -EINVAL;
	for (int h = 0; h < n; h++) {
		json_object *o, *id;
		char body[256], *ans = NULL;
		long st;

		snprintf(body, sizeof(body),
			 "{\"name\":\"h%d\",\"address\":\"127.0.0.1\",\"cpus\":%d,"
			 "\"memory_mib\":%d,\"disk_gib\":1000}",
			 h, cpus, memory_mib);
		cluster_req(c, h % c->n, "POST", "/v1/hosts", body, NULL, &st, &ans);
		o = st == 201 && ans ? json_tokener_parse(ans) : NULL;
		free(ans);
		if (!o || !json_object_object_get_ex(o, "id", &id)) {
			json_object_put(o);
			return -EIO;
		}
		snprintf(c->host_ids[h], sizeof(c->host_ids[h]), "%s", json_object_get_string(id));
		json_object_put(o);
		c->nhosts = h + 1;
	}
	heartbeat_all(c, 0);
	if (pthread_create(&c->beats, NULL, beats, c))
		return -EAGAIN;
	c->beating = true;
	return 0;
}

void cluster_stop(struct cluster *c)
{
	char cmd[200];

	if (c->beating) {
		atomic_store(&c->stop_beats, true);
		pthread_join(c->beats, NULL);
		c->beating = false;
	}
	for (int i = 0; i < c->n; i++) {
		if (c->rep[i].pid) {
			kill(c->rep[i].pid, SIGTERM);
			waitpid(c->rep[i].pid, NULL, 0);
			c->rep[i].pid = 0;
		}
	}
	if (c->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cluster: cannot remove %s\n", c->dir);
	}
	c->dir[0] = '\0';
}
