/* SPDX-License-Identifier: MIT */
/*
 * The host role end to end, with real processes on loopback: a real
 * controller (the pvmd binary), a host daemon (a forked process running
 * pvmd_host_run, the entry point pvmd's main calls), real pvm-vmm processes
 * running the idle microguest on each platform (PVM_PLATFORM, tests/platform.h).
 * Registration and heartbeat, placement onto the host, observed state and
 * hook statistics reported, a SIGKILLed VMM restarted per policy with an
 * event, a SIGKILLed host daemon restarted without restarting or duplicating
 * its guest, desired state stopped, delete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "daemon/host.h"
#include "daemon/vmm.h"
#include "tests/platform.h"

static char dir[64];
static char host_dir[80];   /* host-a's state directory */
static char host_dir_b[80]; /* host-b's */
static pid_t controller = -1, host = -1;
static char base[64];
static char host_token[256];
static char admin_token[512];
static struct pvmd_client *admin;
static struct pvm_err err;

static char *slurp(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Teardown runs in the parent, which never saw these pids: they go in a file. */
static void note_pid(pid_t pid)
{
	char path[PATH_MAX + 16];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/pids", dir);
	fp = fopen(path, "a");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "%d\n", (int)pid);
	fclose(fp);
}

static const char *host_log(void)
{
	char path[PATH_MAX + 16];
	const char *s;

	snprintf(path, sizeof(path), "%s/host-a.log", dir);
	s = slurp(path);
	return s ? s : "(no host log)";
}

/* The port the controller bound, from its start-up line: "listening on
 * http://127.0.0.1:0 (port N)" or "listening on http://127.0.0.1:N". */
static unsigned listen_port(const char *log)
{
	const char *s = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
	unsigned port = 0;

	if (!s)
		return 0;
	s += strlen("listening on http://127.0.0.1:");
	if (sscanf(s, "%u", &port) == 1 && port)
		return port;
	s = strstr(s, "(port ");
	if (s && sscanf(s, "(port %u)", &port) == 1)
		return port;
	return 0;
}

static void start_controller(void)
{
	char log[PATH_MAX + 32], state[PATH_MAX + 16], token[512];
	const char *s = NULL;
	unsigned port = 0;

	snprintf(state, sizeof(state), "%s/ctl", dir);
	snprintf(log, sizeof(log), "%s/controller.log", dir);
	controller = fork();
	ck_assert_int_ge(controller, 0);
	if (controller == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, 2);
		execl(PVMD_BIN, "pvmd", "--role", "controller", "--listen", "127.0.0.1:0",
		      "--state-dir", state, "--heartbeat-s", "2", (char *)NULL);
		_exit(127);
	}
	note_pid(controller);
	for (int i = 0; i < 1000 && !port; i++) {
		port = listen_port(slurp(log));
		if (!port)
			pvm_sleep_ns(10 * 1000 * 1000);
	}
	ck_assert_msg(port, "controller did not start: %s", slurp(log));
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "%s/admin.token", state);
	s = slurp(log);
	ck_assert_ptr_nonnull(s);
	snprintf(token, sizeof(token), "%.*s", (int)sizeof(token) - 1, s);
	token[strcspn(token, "\r\n")] = '\0';
	snprintf(admin_token, sizeof(admin_token), "%s", token);
	ck_assert_int_eq(pvmd_client_open(base, token, NULL, &admin, &err), 0);
}

static size_t to_buf(char *p, size_t size, size_t n, void *arg)
{
	pvm_buf_append(arg, p, size * n);
	return size * n;
}

/* GET /metrics: Prometheus text, not JSON. */
static char *metrics(void)
{
	struct curl_slist *h = NULL;
	struct pvm_buf b;
	char url[128], auth[600];
	CURL *c = curl_easy_init();

	pvm_buf_init(&b);
	snprintf(url, sizeof(url), "%s/metrics", base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
	h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return pvm_buf_steal(&b);
}

static json_object *call(const char *method, const char *path, const char *body, long want)
{
	json_object *b = NULL, *ans = NULL;
	long status = 0;

	if (body)
		ck_assert_int_eq(
		    pvm_json_parse(body, strlen(body), &pvm_json_default_limits, &b, &err), 0);
	ck_assert_msg(pvmd_client_call(admin, method, path, b, 30, &status, &ans, &err) == 0, "%s",
		      err.msg);
	json_object_put(b);
	ck_assert_msg(status == want, "%s %s: HTTP %ld: %s", method, path, status,
		      ans ? json_object_to_json_string(ans) : "");
	return ans;
}

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static const char *libvirt_uri;	 /* the next host started also runs libvirt guests */
static unsigned exit_cost_exits; /* the next host started measures its exits with these */

static pid_t start_host_as(const char *name, const char *state_dir, const char *token)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pvmd_host_config cfg = {
		    .controller = base,
		    .token = token,
		    .name = name,
		    .state_dir = state_dir,
		    .vmm = PVM_VMM,
		    .image_dir = PVM_GUEST_DIR,
		    .report_interval_ms = 500,
		    .restart_backoff_ms = 200,
		    .libvirt_uri = libvirt_uri,
		    .exit_cost_exits = exit_cost_exits,
		};
		struct sigaction sa = {.sa_handler = on_term};
		char log[PATH_MAX + 32];
		int fd, ret;

		snprintf(log, sizeof(log), "%s/%s.log", dir, name);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		pvm_log_set_fd(fd);
		sigaction(SIGTERM, &sa, NULL);
		ret = pvmd_host_run(&cfg, &stop_flag, &err);
		if (ret < 0)
			pvm_log_error("host: %s", err.msg);
		_exit(ret < 0 ? 1 : 0);
	}
	note_pid(pid);
	return pid;
}

static pid_t start_host(void)
{
	return start_host_as("host-a", host_dir, host_token);
}

/* The pids of VMMs answering on this guest's socket path under a host's directory. */
static int vmm_pids_in(const char *hdir, const char *id, int *pids, int max)
{
	char cmd[PATH_MAX * 2];
	FILE *fp;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "pgrep -f -- '[-]-api-sock %s/guests/%s.sock'", hdir, id);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	while (n < max && fscanf(fp, "%d", &pids[n]) == 1)
		n++;
	pclose(fp);
	return n;
}

static int vmm_pids(const char *id, int *pids, int max)
{
	return vmm_pids_in(host_dir, id, pids, max);
}

static const char *field(json_object *o, const char *name)
{
	const char *s = NULL;

	pvm_json_get_str(o, name, &s);
	return s ? s : "";
}

/* Polls GET /v1/guests/ID until observed_state is want (20 s at most). */
static json_object *wait_observed(const char *id, const char *want)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	for (int i = 0; i < 400; i++) {
		json_object *g = call("GET", path, NULL, 200);

		if (strcmp(field(g, "observed_state"), want) == 0)
			return g;
		json_object_put(g);
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_abort_msg("guest %s never became %s; host log:\n%s", id, want, host_log());
	return NULL;
}

static bool has_hook_stats(json_object *g, const char *hook)
{
	json_object *arr = NULL;

	if (!json_object_object_get_ex(g, "hook_stats", &arr) || !arr)
		return false;
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(field(json_object_array_get_idx(arr, i), "hook"), hook) == 0)
			return true;
	return false;
}

static bool cap_accepted(json_object *g, const char *hook)
{
	json_object *arr = NULL;

	if (!json_object_object_get_ex(g, "capabilities", &arr) || !arr)
		return false;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *c = json_object_array_get_idx(arr, i);

		if (strcmp(field(c, "name"), hook) == 0 &&
		    strcmp(field(c, "state"), "accepted") == 0)
			return true;
	}
	return false;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvmd-host-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(host_dir, sizeof(host_dir), "%s/h", dir);
	snprintf(host_dir_b, sizeof(host_dir_b), "%s/b", dir);
	memset(&err, 0, sizeof(err));
}

static void remove_cgroups(const char *hdir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/guests", hdir);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char *dot = strrchr(e->d_name, '.');

		if (dot && strcmp(dot, ".log") == 0) {
			*dot = '\0';
			pvmd_cgroup_remove(e->d_name);
		}
	}
	if (d)
		closedir(d);
}

static void teardown(void)
{
	char cmd[PATH_MAX * 2], path[PATH_MAX + 16];
	FILE *fp;
	int pid;

	snprintf(path, sizeof(path), "%s/pids", dir);
	fp = fopen(path, "r");
	while (fp && fscanf(fp, "%d", &pid) == 1)
		kill(pid, SIGKILL);
	if (fp)
		fclose(fp);
	snprintf(cmd, sizeof(cmd), "pkill -KILL -f -- '[-]-api-sock %s/'; sleep 0.1", dir);
	ck_assert_int_ne(system(cmd), -1);
	/* The killed VMMs' cgroups: their console logs name the guests. */
	remove_cgroups(host_dir);
	remove_cgroups(host_dir_b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_ne(system(cmd), -1);
}

START_TEST(test_host_end_to_end)
{
	json_object *o, *g, *hosts, *ev;
	char id[64], path[256];
	int pids[4], n, p1, p2, status;

	start_controller();
	o = call("POST", "/v1/tokens", "{\"name\":\"host-a\",\"role\":\"host\"}", 201);
	snprintf(host_token, sizeof(host_token), "%s", field(o, "secret"));
	json_object_put(o);
	exit_cost_exits = 2000;
	host = start_host();
	exit_cost_exits = 0;

	/* registered and heartbeating: ready, with its capabilities */
	for (int i = 0; i < 400; i++) {
		o = call("GET", "/v1/hosts", NULL, 200);
		json_object_object_get_ex(o, "items", &hosts);
		if (hosts && json_object_array_length(hosts) == 1 &&
		    strcmp(field(json_object_array_get_idx(hosts, 0), "state"), "ready") == 0)
			break;
		json_object_put(o);
		o = NULL;
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_msg(o, "host never became ready:\n%s", host_log());
	g = json_object_array_get_idx(hosts, 0);
	ck_assert_str_eq(field(g, "name"), "host-a");
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN),
				     "\"drivers\":[\"hv\"]"));
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN),
				     "\"kvm_pv_features\""));
	json_object_put(o);

	o = call("POST", "/v1/guests",
		 "{\"name\":\"idle-a\",\"image\":\"idle\",\"vcpus\":1,\"memory_mib\":16,"
		 "\"restart_policy\":\"always\"}",
		 201);
	snprintf(id, sizeof(id), "%s", field(o, "id"));
	json_object_put(o);
	g = wait_observed(id, "running");
	ck_assert_str_ne(field(g, "host_id"), "");
	json_object_put(g);
	n = vmm_pids(id, pids, 4);
	ck_assert_int_eq(n, 1);
	p1 = pids[0];

	/* the VMM's statistics and the negotiated hooks reach the controller */
	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	for (int i = 0; i < 200; i++) {
		g = call("GET", path, NULL, 200);
		if (has_hook_stats(g, "console") && cap_accepted(g, "halt"))
			break;
		json_object_put(g);
		g = NULL;
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_msg(g, "no hook statistics reported");
	json_object_put(g);
	/* and in /metrics, per guest and hook */
	{
		char *m = metrics(), want[128], *line;

		snprintf(want, sizeof(want), "guest=\"%s\",hook=\"console\"", id);
		line = strstr(m, want);
		ck_assert_msg(line, "no console hook statistics of %s in /metrics", id);
		free(m);
	}

	/* the host measured what an exit costs on each platform it offers, with
	 * real VMM runs of the bare guest, and reports it (and /metrics shows it) */
	for (int i = 0; i < 400; i++) {
		json_object *caps, *plats, *costs = NULL, *v;
		size_t have = 0, n = 0;

		o = call("GET", "/v1/hosts", NULL, 200);
		json_object_object_get_ex(o, "items", &hosts);
		g = json_object_array_get_idx(hosts, 0);
		if (json_object_object_get_ex(g, "capabilities", &caps) &&
		    json_object_object_get_ex(caps, "platforms", &plats) &&
		    json_object_object_get_ex(caps, "exit_cost_ns", &costs)) {
			n = json_object_array_length(plats);
			for (size_t k = 0; k < n; k++)
				have +=
				    json_object_object_get_ex(
					costs,
					json_object_get_string(json_object_array_get_idx(plats, k)),
					&v) &&
				    json_object_get_int64(v) > 0;
		}
		json_object_put(o);
		if (n && have == n)
			break;
		ck_assert_msg(i < 399, "no exit cost for every platform:\n%s", host_log());
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	{
		char *m = metrics();

		ck_assert_msg(strstr(m, "pvm_host_exit_cost_seconds{host="), "no exit cost metric");
		free(m);
	}

	/* a SIGKILLed VMM comes back (policy always), with observed-state events */
	ck_assert_int_eq(kill(p1, SIGKILL), 0);
	p2 = p1;
	for (int i = 0; i < 400 && p2 == p1; i++) {
		pvm_sleep_ns(50 * 1000 * 1000);
		if (vmm_pids(id, pids, 4) == 1)
			p2 = pids[0];
	}
	ck_assert_int_ne(p2, p1);
	json_object_put(wait_observed(id, "running"));
	ev = call("GET", "/v1/events?since=0", NULL, 200);
	ck_assert_msg(strstr(json_object_to_json_string(ev), "failed"), "no event of the crash: %s",
		      json_object_to_json_string(ev));
	json_object_put(ev);

	/* SIGKILL the host daemon and start it again: the guest is re-adopted */
	ck_assert_int_eq(kill(host, SIGKILL), 0);
	ck_assert_int_eq(waitpid(host, &status, 0), host);
	host = start_host();
	pvm_sleep_ns(3000ull * 1000 * 1000); /* several loop turns of the new daemon */
	n = vmm_pids(id, pids, 4);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(pids[0], p2);
	json_object_put(wait_observed(id, "running"));

	/* desired state stopped: the VMM stops gracefully */
	json_object_put(call("PATCH", path, "{\"desired_state\":\"stopped\"}", 200));
	json_object_put(wait_observed(id, "stopped"));
	ck_assert_int_eq(vmm_pids(id, pids, 4), 0);
	snprintf(path, sizeof(path), "%s/guests/%s.log", host_dir, id);
	ck_assert_ptr_nonnull(strstr(slurp(path), "idle: stopping on request"));

	/* deleted: the host forgets it (its console log goes with it) */
	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	json_object_put(call("DELETE", path, NULL, 204));
	snprintf(path, sizeof(path), "%s/guests/%s.log", host_dir, id);
	for (int i = 0; i < 200 && access(path, F_OK) == 0; i++)
		pvm_sleep_ns(50 * 1000 * 1000);
	ck_assert_int_ne(access(path, F_OK), 0);

	/* SIGTERM stops the host daemon cleanly */
	ck_assert_int_eq(kill(host, SIGTERM), 0);
	ck_assert_int_eq(waitpid(host, &status, 0), host);
	host = -1;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

static json_object *create_guest(const char *name, const char *extra)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"image\":\"idle\",\"vcpus\":1,\"memory_mib\":16%s}", name,
		 extra);
	return call("POST", "/v1/guests", body, 201);
}

static char *new_host_token(const char *name, char *out, size_t len)
{
	char body[128];
	json_object *o;

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"host\"}", name);
	o = call("POST", "/v1/tokens", body, 201);
	snprintf(out, len, "%s", field(o, "secret"));
	json_object_put(o);
	return out;
}

static void wait_hosts_ready(int want)
{
	for (int i = 0; i < 400; i++) {
		json_object *o = call("GET", "/v1/hosts", NULL, 200), *items = NULL;
		int ready = 0;

		json_object_object_get_ex(o, "items", &items);
		for (size_t k = 0; items && k < json_object_array_length(items); k++)
			ready += strcmp(field(json_object_array_get_idx(items, k), "state"),
					"ready") == 0;
		json_object_put(o);
		if (ready == want)
			return;
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_abort_msg("hosts never became ready:\n%s", host_log());
}

START_TEST(test_two_hosts_evacuation)
{
	char tok_b[256], ids[3][64], hosts[3][64], path[256];
	const char *hdir;
	json_object *o;
	int pids[4];
	pid_t host_b, victim;

	start_controller();
	new_host_token("host-a", host_token, sizeof(host_token));
	new_host_token("host-b", tok_b, sizeof(tok_b));
	host = start_host();
	host_b = start_host_as("host-b", host_dir_b, tok_b);
	wait_hosts_ready(2);

	/* one anti-affinity group of two: the scheduler must use both hosts */
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "g%d", i);
		o = create_guest(name, i < 2 ? ",\"anti_affinity\":\"pair\"" : "");
		snprintf(ids[i], sizeof(ids[i]), "%s", field(o, "id"));
		json_object_put(o);
	}
	for (int i = 0; i < 3; i++) {
		o = wait_observed(ids[i], "running");
		snprintf(hosts[i], sizeof(hosts[i]), "%s", field(o, "host_id"));
		json_object_put(o);
	}
	ck_assert_str_ne(hosts[0], hosts[1]);
	/* each VMM runs on the host the controller chose, and only there */
	for (int i = 0; i < 3; i++) {
		int on_a = vmm_pids_in(host_dir, ids[i], pids, 4);
		int on_b = vmm_pids_in(host_dir_b, ids[i], pids, 4);

		ck_assert_int_eq(on_a + on_b, 1);
		if (i == 1)
			ck_assert_int_eq(on_a, vmm_pids_in(host_dir, ids[0], pids, 4) ? 0 : 1);
	}

	/* SIGKILL the daemon of g2's host and its VMMs: g2 is evacuated */
	hdir = vmm_pids_in(host_dir, ids[2], pids, 4) ? host_dir : host_dir_b;
	victim = hdir == host_dir ? host : host_b;
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	snprintf(path, sizeof(path), "pkill -KILL -f -- '[-]-api-sock %s/'", hdir);
	ck_assert_int_ne(system(path), -1);
	snprintf(path, sizeof(path), "/v1/guests/%s", ids[2]);
	for (int i = 0; i < 400; i++) {
		o = call("GET", path, NULL, 200);
		if (strcmp(field(o, "host_id"), hosts[2]) != 0 &&
		    strcmp(field(o, "observed_state"), "running") == 0)
			break;
		json_object_put(o);
		o = NULL;
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_msg(o, "guest %s was not evacuated", ids[2]);
	json_object_put(o);
	ck_assert_int_eq(vmm_pids_in(hdir == host_dir ? host_dir_b : host_dir, ids[2], pids, 4), 1);
	o = call("GET", "/v1/hosts", NULL, 200);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "unreachable"));
	json_object_put(o);
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

/* `pvmd --role host` as an operator runs it: the real binary. */
static pid_t exec_pvmd_host(const char *tokfile)
{
	char log[PATH_MAX];
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		snprintf(log, sizeof(log), "%s/pvmd-host.log", dir);
		dup2(open(log, O_WRONLY | O_CREAT | O_APPEND, 0644), 2);
		execl(PVMD_BIN, "pvmd", "--role", "host", "--controller", base, "--token-file",
		      tokfile, "--state-dir", host_dir, "--host-name", "bin-host", "--vmm", PVM_VMM,
		      "--image-dir", PVM_GUEST_DIR, "--report-interval-ms", "500", (char *)NULL);
		_exit(127);
	}
	note_pid(pid);
	return pid;
}

START_TEST(test_binary_readopt)
{
	char tok[256], tokfile[PATH_MAX], id[64];
	int pids[4], vmm, status;
	json_object *o;
	pid_t pid;
	FILE *fp;

	start_controller();
	new_host_token("bin-host", tok, sizeof(tok));
	snprintf(tokfile, sizeof(tokfile), "%s/bin.token", dir);
	fp = fopen(tokfile, "w");
	fprintf(fp, "%s\n", tok);
	fclose(fp);
	pid = exec_pvmd_host(tokfile);
	wait_hosts_ready(1);
	o = create_guest("bin-guest", ",\"restart_policy\":\"always\"");
	snprintf(id, sizeof(id), "%s", field(o, "id"));
	json_object_put(o);
	json_object_put(wait_observed(id, "running"));
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	vmm = pids[0];
	/* SIGKILL pvmd and start it again: the guest runs on, adopted, not restarted */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	pid = exec_pvmd_host(tokfile);
	pvm_sleep_ns(2500ull * 1000 * 1000);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	ck_assert_int_eq(pids[0], vmm);
	json_object_put(wait_observed(id, "running"));
	/* SIGTERM: a clean exit, the guest keeps running */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

/* Restart policies other than always: never keeps a crashed guest down,
 * on-failure brings it back. */
START_TEST(test_restart_policies)
{
	char ids[2][64];
	int pids[4], old[2];
	json_object *o;

	start_controller();
	new_host_token("host-a", host_token, sizeof(host_token));
	host = start_host();
	wait_hosts_ready(1);
	o = create_guest("never", ",\"restart_policy\":\"never\"");
	snprintf(ids[0], sizeof(ids[0]), "%s", field(o, "id"));
	json_object_put(o);
	o = create_guest("onfail", ",\"restart_policy\":\"on-failure\"");
	snprintf(ids[1], sizeof(ids[1]), "%s", field(o, "id"));
	json_object_put(o);
	for (int i = 0; i < 2; i++) {
		json_object_put(wait_observed(ids[i], "running"));
		ck_assert_int_eq(vmm_pids(ids[i], pids, 4), 1);
		old[i] = pids[0];
		ck_assert_int_eq(kill(old[i], SIGKILL), 0);
	}
	json_object_put(wait_observed(ids[0], "failed"));
	for (int i = 0; i < 400; i++) {
		if (vmm_pids(ids[1], pids, 4) == 1 && pids[0] != old[1])
			break;
		pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_int_eq(vmm_pids(ids[1], pids, 4), 1);
	ck_assert_int_ne(pids[0], old[1]);
	json_object_put(wait_observed(ids[1], "running"));
	/* several backoff periods later, "never" is still down */
	pvm_sleep_ns(1000ull * 1000 * 1000);
	ck_assert_int_eq(vmm_pids(ids[0], pids, 4), 0);
	json_object_put(wait_observed(ids[0], "failed"));
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

/* Libvirt guests through the host role, on libvirt's test driver (in-process). */
START_TEST(test_libvirt_guest)
{
	json_object *o;
	char id[64], path[128];

	start_controller();
	new_host_token("host-a", host_token, sizeof(host_token));
	libvirt_uri = "test:///default";
	host = start_host();
	wait_hosts_ready(1);
	o = call("GET", "/v1/hosts", NULL, 200);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
				     "\"drivers\":[\"hv\",\"libvirt\"]"));
	json_object_put(o);
	o = create_guest("lv-1", ",\"kind\":\"libvirt\"");
	snprintf(id, sizeof(id), "%s", field(o, "id"));
	json_object_put(o);
	json_object_put(wait_observed(id, "running"));
	/* it is a libvirt domain, not a VMM */
	ck_assert_int_eq(vmm_pids(id, (int[4]){0}, 4), 0);
	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	json_object_put(call("PATCH", path, "{\"desired_state\":\"stopped\"}", 200));
	json_object_put(wait_observed(id, "stopped"));
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

/* Runs `pvmd --role host` as pvmd's main would, in a child process. */
static pid_t run_role(const char *const *kv, int *code_now)
{
	struct pvm_config_key keys[32];
	size_t nk = 0;
	pid_t pid;

	keys[nk++] = (struct pvm_config_key){"state_dir", NULL, "", false};
	for (size_t i = 0; i < pvmd_nhost_keys; i++)
		keys[nk++] = pvmd_host_keys[i];
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pvm_config cfg;
		sigset_t sigs;
		char log[PATH_MAX];
		int fd;

		snprintf(log, sizeof(log), "%s/role.log", dir);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		pvm_log_set_fd(fd);
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGTERM);
		sigaddset(&sigs, SIGINT);
		sigaddset(&sigs, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
		if (pvm_config_init(&cfg, keys, nk) < 0)
			_exit(99);
		for (size_t i = 0; kv[i]; i += 2)
			if (pvm_config_set(&cfg, kv[i], kv[i + 1], PVM_CONFIG_FLAG, NULL) < 0)
				_exit(98);
		_exit(pvmd_role_host.run(&cfg, &sigs));
	}
	note_pid(pid);
	if (code_now) {
		int status;

		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		*code_now = WEXITSTATUS(status);
	}
	return pid;
}

START_TEST(test_role_host)
{
	char tok[256], tokfile[PATH_MAX], empty[PATH_MAX], id[64];
	const char *kv[32];
	json_object *o;
	int code, status, pids[4], vmm;
	pid_t pid;
	FILE *fp;

	start_controller();
	new_host_token("role-host", tok, sizeof(tok));
	snprintf(tokfile, sizeof(tokfile), "%s/host.token", dir);
	fp = fopen(tokfile, "w");
	fprintf(fp, "%s\n", tok);
	fclose(fp);
	snprintf(empty, sizeof(empty), "%s/empty.token", dir);
	fclose(fopen(empty, "w"));

	/* bad configuration: exit code 2, nothing registered */
	kv[0] = "state_dir", kv[1] = host_dir, kv[2] = NULL;
	run_role(kv, &code);
	ck_assert_int_eq(code, 2);
	kv[2] = "controller", kv[3] = base, kv[4] = "token_file", kv[5] = "/nonexistent/token";
	kv[6] = NULL;
	run_role(kv, &code);
	ck_assert_int_eq(code, 2);
	kv[5] = empty;
	run_role(kv, &code);
	ck_assert_int_eq(code, 2);
	kv[5] = tokfile, kv[6] = "report_interval_ms", kv[7] = "soon", kv[8] = NULL;
	run_role(kv, &code);
	ck_assert_int_eq(code, 2);
	o = call("GET", "/v1/hosts", NULL, 200);
	ck_assert_ptr_null(strstr(json_object_to_json_string(o), "role-host"));
	json_object_put(o);

	/* a good one registers, survives SIGHUP, stops on SIGTERM with 0 */
	kv[6] = "host_name", kv[7] = "role-host", kv[8] = "vmm", kv[9] = PVM_VMM;
	kv[10] = "labels", kv[11] = "{\"zone\":\"a\"}", kv[12] = "image_dir";
	kv[13] = PVM_GUEST_DIR, kv[14] = NULL;
	pid = run_role(kv, NULL);
	wait_hosts_ready(1);
	o = call("GET", "/v1/hosts", NULL, 200);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "role-host"));
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "zone"));
	json_object_put(o);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	pvm_sleep_ns(200 * 1000 * 1000);
	ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
	o = create_guest("kept", "");
	snprintf(id, sizeof(id), "%s", field(o, "id"));
	json_object_put(o);
	json_object_put(wait_observed(id, "running"));
	/* SIGTERM: pvmd stops with 0 and, by default, the guest keeps running */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	vmm = pids[0];
	/* started again with --stop-guests-on-exit: re-adopts it, and stops it on SIGTERM */
	kv[14] = "stop_guests_on_exit", kv[15] = "true", kv[16] = NULL;
	pid = run_role(kv, NULL);
	pvm_sleep_ns(1500ull * 1000 * 1000);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 1);
	ck_assert_int_eq(pids[0], vmm);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(vmm_pids(id, pids, 4), 0);
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

START_TEST(test_host_bad_config)
{
	struct pvmd_host_config cfg = {.controller = "http://127.0.0.1:1", .token = "x"};
	volatile sig_atomic_t stop = 1;

	/* no state directory */
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.state_dir = host_dir;
	/* labels that are not a JSON object, hooks the VMM does not know */
	cfg.labels = "{\"zone\":";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.labels = "[1]";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.labels = "{\"zone\":\"a\"}";
	cfg.vmm = PVM_VMM;
	cfg.hooks = "console,warp";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "hooks"));
	cfg.hooks = "console,,block";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.hooks = "console,agent";
	cfg.vmm = PVM_VMM;
	cfg.controller = "ftp://example";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.controller = "http://127.0.0.1:1";
	cfg.token = "";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EINVAL);
	cfg.token = "x";
	cfg.vmm = "/nonexistent/pvm-vmm";
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -ENOENT);
	/* a stop request before the controller answered ends cleanly */
	cfg.vmm = PVM_VMM;
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), 0);
}
END_TEST

START_TEST(test_host_bad_token)
{
	struct pvmd_host_config cfg = {
	    .token = "not-a-token", .state_dir = host_dir, .vmm = PVM_VMM};
	volatile sig_atomic_t stop = 0;

	start_controller();
	cfg.controller = base;
	/* a rejected token is fatal, not retried forever */
	ck_assert_int_eq(pvmd_host_run(&cfg, &stop, &err), -EACCES);
	ck_assert_ptr_nonnull(strstr(err.msg, "401"));
	pvmd_client_close(admin);
	admin = NULL;
}
END_TEST

int main(void)
{
	Suite *s;
	SRunner *sr;
	int failed;
	const struct {
		const char *name;
		const TTest *t;
	} tests[] = {
	    {"bad_config", test_host_bad_config},
	    {"bad_token", test_host_bad_token},
	    {"end_to_end", test_host_end_to_end},
	    {"two_hosts_evacuation", test_two_hosts_evacuation},
	    {"role_host", test_role_host},
	    {"libvirt_guest", test_libvirt_guest},
	    {"restart_policies", test_restart_policies},
	    {"binary_readopt", test_binary_readopt},
	};

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	test_platform_require();
	s = suite_create("daemon_host_role");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(tests); i++) {
		TCase *tc = tcase_create(tests[i].name);

		tcase_set_timeout(tc, 90);
		tcase_add_unchecked_fixture(tc, setup, teardown);
		tcase_add_test(tc, tests[i].t);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
