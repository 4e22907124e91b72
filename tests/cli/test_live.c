/* SPDX-License-Identifier: MIT */
/*
 * pvmctl against a real controller: `pvmd --role controller` on an
 * ephemeral loopback port with its own state directory, driven through the
 * real pvmctl binary. Hosts are registered and guests reported through the
 * REST API with libcurl, as host daemons would (no host daemon runs here).
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "common/common.h"
#include "store/store.h"

static char dir[] = "/tmp/pvm-cli-live-XXXXXX";
static pid_t pvmd_pid;
static char base[64];	   /* http://127.0.0.1:PORT */
static char admin[128];	   /* the bootstrap admin token */
static char h3_token[128]; /* a host token bound to host h3 */
static char h1_id[64], h3_id[64];

/* ---- plumbing ------------------------------------------------------------ */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	pvm_buf_append(arg, data, size * n);
	return size * n;
}

/* One REST call; returns the status, *ans (may be NULL) gets the parsed body. */
static long api(const char *token, const char *method, const char *path, const char *body,
		json_object **ans)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct pvm_buf b;
	char url[256], auth[200];
	long status = 0;

	pvm_buf_init(&b);
	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (ans)
		*ans = b.len ? json_tokener_parse(b.data) : NULL;
	pvm_buf_free(&b);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static char out[1 << 17], err[1 << 14];

static char **child_env(const char *token)
{
	static char e_addr[96], e_tok[200], e_home[96];
	static const char *const san[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	static char kept[3][512];
	static char *envp[10];
	int n = 0;

	snprintf(e_addr, sizeof(e_addr), "PVM_ADDR=%s", base);
	snprintf(e_tok, sizeof(e_tok), "PVM_TOKEN=%s", token ? token : "");
	snprintf(e_home, sizeof(e_home), "HOME=%s", dir);
	envp[n++] = e_addr;
	if (token)
		envp[n++] = e_tok;
	envp[n++] = e_home;
	envp[n++] = "PATH=/usr/bin:/bin";
	/* the sanitizer build's settings reach pvmctl too */
	for (size_t i = 0; i < 3; i++) {
		if (!getenv(san[i]))
			continue;
		snprintf(kept[i], sizeof(kept[i]), "%s=%s", san[i], getenv(san[i]));
		envp[n++] = kept[i];
	}
	envp[n] = NULL;
	return envp;
}

/*
 * pvmctl, or pvmctl under valgrind when PVM_CLI_VALGRIND names it: memory
 * pvmctl reads before writing (an unfilled buffer it prints) or leaks makes
 * it exit 99, which no check expects.
 */
static void exec_pvmctl(char **args, char **envp)
{
	const char *vg = getenv("PVM_CLI_VALGRIND");
	char *argv[64];
	size_t n = 0;

	if (!vg || !*vg) {
		execve(PVMCTL_PATH, args, envp);
		return;
	}
	argv[n++] = (char *)vg;
	argv[n++] = "-q";
	argv[n++] = "--error-exitcode=99";
	argv[n++] = "--leak-check=full";
	argv[n++] = "--errors-for-leak-kinds=definite";
	argv[n++] = PVMCTL_PATH;
	for (size_t i = 1; args[i] && n < PVM_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	execve(vg, argv, envp);
}

/* Starts pvmctl with stdout into out_path, stderr into err_path. */
static pid_t spawn(const char *token, const char *out_path, const char *err_path, char **args)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fo, 1);
		dup2(fe, 2);
		exec_pvmctl(args, child_env(token));
		_exit(127);
	}
	return pid;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, len - 1, fp) : 0;

	buf[n] = '\0';
	if (fp)
		fclose(fp);
}

/* Runs pvmctl ARGS... (NULL-terminated) to completion; returns its exit code. */
static int ctl(const char *token, ...)
{
	char *args[40], op[128], ep[128];
	int n = 0, status;
	va_list ap;
	pid_t pid;

	args[n++] = "pvmctl";
	va_start(ap, token);
	while ((args[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	snprintf(op, sizeof(op), "%s/ctl.out", dir);
	snprintf(ep, sizeof(ep), "%s/ctl.err", dir);
	pid = spawn(token, op, ep, args);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	slurp(op, out, sizeof(out));
	slurp(ep, err, sizeof(err));
	ck_assert_msg(WIFEXITED(status), "pvmctl died: %s", err);
	return WEXITSTATUS(status);
}

static json_object *out_json(void)
{
	json_object *o = json_tokener_parse(out);

	ck_assert_msg(o != NULL, "not JSON: %s", out);
	return o;
}

/* stderr is exactly one line */
static void one_line_err(void)
{
	ck_assert_msg(err[0] && strchr(err, '\n') == err + strlen(err) - 1, "stderr: %s", err);
}

#define CK_OUT(s) ck_assert_msg(strstr(out, (s)) != NULL, "stdout lacks '%s':\n%s", (s), out)
#define CK_ERR(s) ck_assert_msg(strstr(err, (s)) != NULL, "stderr lacks '%s':\n%s", (s), err)
#define CK_EXIT(code, tok, ...)                                                                    \
	do {                                                                                       \
		int rc_ = ctl(tok, __VA_ARGS__, NULL);                                             \
		ck_assert_msg(rc_ == (code), "exit %d, wanted %d; stdout:\n%s\nstderr:\n%s", rc_,  \
			      (code), out, err);                                                   \
	} while (0)

/* ---- the controller ------------------------------------------------------ */

static void register_host(const char *token, const char *name, const char *labels, char *id)
{
	char body[512], path[128];
	json_object *ans;

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"address\":\"10.0.0.%zu\",\"cpus\":8,\"memory_mib\":8192,"
		 "\"disk_gib\":100,\"labels\":%s,\"platforms\":[\"kvm\",\"process\"]}",
		 name, strlen(name), labels);
	ck_assert_int_eq(api(token, "POST", "/v1/hosts", body, &ans), 201);
	snprintf(id, 64, "%s", jstr(ans, "id"));
	json_object_put(ans);
	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", id);
	ck_assert_int_eq(api(token, "POST", path,
			     "{\"hooks\":[{\"name\":\"console\",\"abi_version\":1},"
			     "{\"name\":\"block\",\"abi_version\":1},"
			     "{\"name\":\"clock\",\"abi_version\":1}],\"abi_versions\":[1],"
			     "\"platforms\":[\"kvm\",\"process\"]}",
			     NULL),
			 200);
}

/*
 * Starts a controller with its state in state_dir (plus extra flags, up to
 * 4); fills the port it bound and its admin token.
 */
static pid_t start_pvmd(const char *state_dir, const char *const *extra, char *port_s, char *token,
			size_t token_len)
{
	char log[160], tokpath[160];
	uint64_t deadline;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/pvmd.log", state_dir);
	snprintf(tokpath, sizeof(tokpath), "%s/admin.token", state_dir);
	port_s[0] = '\0';
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *argv[16] = {"pvmd",	    "--role",	     "controller",
					"--listen", "127.0.0.1:0",   "--state-dir",
					state_dir,  "--heartbeat-s", "120"};
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600), n = 9;

		for (; extra && *extra && n < 15; extra++)
			argv[n++] = *extra;
		dup2(fd, 1);
		dup2(fd, 2);
		execv(PVMD_PATH, (char **)argv);
		_exit(127);
	}
	/* The log names the port once the socket is bound. */
	deadline = pvm_now_ns() + 20000000000ull;
	while (!port_s[0] && pvm_now_ns() < deadline) {
		char text[8192];
		const char *p;

		slurp(log, text, sizeof(text));
		/* "controller listening on http://127.0.0.1:41234, state in ..." */
		p = strstr(text, "listening on http");
		p = p ? strstr(p, "://") : NULL;
		p = p ? strchr(p + 3, ':') : NULL;
		if (p)
			sscanf(p + 1, "%15[0-9]", port_s);
		else
			pvm_sleep_ns(20000000);
	}
	if (!port_s[0]) {
		/* Never leave a controller behind a failed start. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	ck_assert_msg(port_s[0], "pvmd did not start (see %s)", log);
	slurp(tokpath, token, token_len);
	token[strcspn(token, "\r\n")] = '\0';
	ck_assert_int_gt(strlen(token), 8);
	return pid;
}

static void start_server(void)
{
	char port_s[16];
	json_object *ans;
	char h2_id[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	pvmd_pid = start_pvmd(dir, NULL, port_s, admin, sizeof(admin));
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", port_s);

	register_host(admin, "h1", "{\"zone\":\"a\"}", h1_id);
	register_host(admin, "h2", "{\"zone\":\"b\"}", h2_id);
	/* h3 speaks for itself with a host token, so it can report its guests */
	ck_assert_int_eq(
	    api(admin, "POST", "/v1/tokens", "{\"name\":\"h3\",\"role\":\"host\"}", &ans), 201);
	snprintf(h3_token, sizeof(h3_token), "%s", jstr(ans, "secret"));
	json_object_put(ans);
	register_host(h3_token, "h3", "{\"pin\":\"w\"}", h3_id);
	ck_assert_int_eq(api(admin, "POST", "/v1/images",
			     "{\"name\":\"img\",\"format\":\"elf\",\"source\":\"/srv/img.elf\","
			     "\"size_bytes\":65536}",
			     NULL),
			 201);
}

static void stop_server(void)
{
	char cmd[128];

	if (pvmd_pid > 0) {
		kill(pvmd_pid, SIGTERM);
		waitpid(pvmd_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(host_commands)
{
	json_object *o, *items;

	CK_EXIT(0, admin, "host", "list");
	CK_OUT("NAME");
	CK_OUT("h1");
	CK_OUT("h3");
	CK_OUT("ready");
	ck_assert_ptr_null(strstr(out, "hst_")); /* ids only with -o wide */
	CK_EXIT(0, admin, "host", "list", "-o", "wide");
	CK_OUT(h1_id);
	CK_OUT("10.0.0.2");
	CK_OUT("zone=a");
	CK_EXIT(0, admin, "host", "list", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "items", &items));
	ck_assert_int_eq(json_object_array_length(items), 3);
	ck_assert(json_object_object_get_ex(o, "next_page_token", NULL));
	json_object_put(o);

	CK_EXIT(0, admin, "host", "show", "h1");
	CK_OUT("Name:");
	CK_OUT("Free CPUs:");
	CK_OUT("Platforms:       kvm,process\n");
	CK_EXIT(0, admin, "host", "show", h1_id, "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "name"), "h1");
	json_object_put(o);

	CK_EXIT(0, admin, "host", "cordon", "h2");
	CK_OUT("host h2 cordoned");
	CK_EXIT(0, admin, "host", "show", "h2", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "cordoned"), "true");
	json_object_put(o);
	CK_EXIT(0, admin, "host", "drain", "h2", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "draining"), "true");
	json_object_put(o);
	CK_EXIT(0, admin, "host", "uncordon", "h2");
	CK_EXIT(0, admin, "host", "show", "h2", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "cordoned"), "false");
	ck_assert_str_eq(jstr(o, "draining"), "false");
	json_object_put(o);

	CK_EXIT(3, admin, "host", "show", "nosuch");
	one_line_err();
	CK_ERR("nosuch");
	CK_EXIT(3, admin, "host", "show", "hst_00000000000000000000000000000000");
	CK_ERR("[HTTP 404]");
	CK_EXIT(3, admin, "host", "cordon", "nosuch");
}
END_TEST

START_TEST(host_rm_busy_then_free)
{
	/* a host with a guest bound is a conflict (4); an empty one goes */
	CK_EXIT(0, admin, "guest", "create", "pinned", "--image", "img", "--selector", "pin=w");
	CK_EXIT(4, admin, "host", "rm", "h3");
	one_line_err();
	CK_ERR("Conflict");
	CK_EXIT(0, admin, "guest", "rm", "pinned");
	/* an empty host goes */
	{
		char h4_id[64];

		register_host(admin, "h4", "{}", h4_id);
		CK_EXIT(0, admin, "host", "rm", "h4");
		CK_OUT("host h4 removed");
		CK_EXIT(3, admin, "host", "show", h4_id);
		CK_EXIT(3, admin, "host", "rm", "h4");
	}
	/* a host token may read its own host, and no other */
	CK_EXIT(0, h3_token, "host", "show", h3_id);
	CK_EXIT(5, h3_token, "host", "show", h1_id);
}
END_TEST

START_TEST(image_commands)
{
	json_object *o;

	CK_EXIT(0, admin, "image", "create", "img2", "--format", "raw", "--source", "/srv/disk.raw",
		"--size", "1048576");
	CK_OUT("image img2 created (img_");
	CK_EXIT(0, admin, "image", "list");
	CK_OUT("img2");
	CK_OUT("1.0MiB");
	CK_EXIT(0, admin, "image", "list", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "items", NULL));
	json_object_put(o);
	CK_EXIT(0, admin, "image", "show", "img2", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "format"), "raw");
	json_object_put(o);
	CK_EXIT(0, admin, "image", "show", "img2");
	CK_OUT("Source:");
	CK_OUT("/srv/disk.raw");
	CK_EXIT(4, admin, "image", "create", "img2", "--format", "raw", "--source", "/x");
	CK_EXIT(0, admin, "image", "create", "img3", "--format", "elf", "--source", "/y", "-o",
		"json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "name"), "img3");
	json_object_put(o);
	CK_EXIT(0, admin, "image", "rm", "img3", "-o", "json");
	ck_assert_str_eq(out, "");
	CK_EXIT(0, admin, "image", "rm", "img2");
	CK_OUT("image img2 removed");
	CK_EXIT(3, admin, "image", "rm", "img2");
	CK_EXIT(3, admin, "image", "show", "img2");
}
END_TEST

START_TEST(guest_commands)
{
	json_object *o, *items, *spec, *pv, *v;

	CK_EXIT(0, admin, "guest", "create", "web-1", "--image", "img", "--vcpus", "2", "-m", "256",
		"--require", "console", "--prefer", "clock", "-l", "app=web", "--restart",
		"always");
	CK_OUT("guest web-1 created (gst_");
	CK_OUT("), scheduled on h");
	CK_EXIT(0, admin, "guest", "list");
	CK_OUT("web-1");
	CK_OUT("scheduled");
	ck_assert_ptr_null(strstr(out, "hst_")); /* hosts by name in tables */
	CK_EXIT(0, admin, "guest", "list", "-o", "wide");
	CK_OUT("app=web");
	CK_OUT("console");
	CK_EXIT(0, admin, "guest", "show", "web-1", "-o", "json");
	o = out_json();
	{
		const char *hid = jstr(o, "host_id");
		const char *on = strcmp(hid, h1_id) == 0   ? "h1"
				 : strcmp(hid, h3_id) == 0 ? "h3"
							   : "h2";
		const char *other = strcmp(on, "h1") == 0 ? "h2" : "h1";

		/* --host takes the host's name; another host's list lacks the guest */
		CK_EXIT(0, admin, "guest", "list", "--host", on);
		CK_OUT("web-1");
		CK_EXIT(0, admin, "guest", "list", "--host", other);
		ck_assert_ptr_null(strstr(out, "web-1"));
		CK_EXIT(3, admin, "guest", "list", "--host", "nosuch");
	}
	json_object_put(o);
	CK_EXIT(0, admin, "guest", "list", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "items", &items));
	ck_assert_int_ge(json_object_array_length(items), 1);
	json_object_put(o);

	CK_EXIT(0, admin, "guest", "show", "web-1", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "observed_state"), "scheduled");
	ck_assert_str_eq(jstr(o, "restart_policy"), "always");
	ck_assert(json_object_object_get_ex(o, "spec", &spec));
	ck_assert(json_object_object_get_ex(spec, "pv", &pv));
	ck_assert(json_object_object_get_ex(pv, "hooks_required", &v));
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), "console");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "memory_mib")), 256);
	json_object_put(o);
	CK_EXIT(0, admin, "guest", "show", "web-1");
	CK_OUT("Observed state:");
	CK_OUT("Required hooks:");
	ck_assert_ptr_nonnull(strstr(strstr(out, "Required hooks:"), "console"));

	CK_EXIT(0, admin, "guest", "stop", "web-1");
	CK_OUT("desired state stopped");
	CK_EXIT(0, admin, "guest", "show", "web-1", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "desired_state"), "stopped");
	json_object_put(o);
	CK_EXIT(0, admin, "guest", "start", "web-1", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(o, "desired_state"), "running");
	json_object_put(o);

	CK_EXIT(0, admin, "guest", "stats", "web-1");
	CK_OUT("no hook statistics yet");
	CK_EXIT(0, admin, "guest", "stats", "web-1", "-o", "json");
	o = out_json();
	ck_assert(json_object_is_type(o, json_type_array));
	json_object_put(o);

	/* the same name again: conflict */
	CK_EXIT(4, admin, "guest", "create", "web-1", "--image", "img");
	one_line_err();
	/* the server rejects the spec: usage (2), naming the field */
	CK_EXIT(2, admin, "guest", "create", "bad", "--image", "img", "--kind", "bogus");
	one_line_err();
	CK_ERR("/kind");
	CK_EXIT(2, admin, "guest", "create", "bad", "--image", "img", "--require", "teleport");
	CK_ERR("/pv/hooks_required");
	CK_EXIT(2, admin, "guest", "create", "bad", "--image", "img", "--platform", "xen");
	CK_ERR("/platform");
	CK_EXIT(3, admin, "guest", "show", "bad");

	/* a guest that must run on the process platform: the spec says so, and
	 * its host tells which platform it runs on */
	CK_EXIT(0, admin, "guest", "create", "web-p", "--image", "img", "--platform", "process");
	CK_OUT("scheduled on h");
	CK_EXIT(0, admin, "guest", "show", "web-p");
	CK_OUT("Platform:         - (requires process)\n");
	CK_EXIT(0, admin, "guest", "show", "web-p", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "spec", &spec));
	ck_assert_str_eq(jstr(spec, "platform"), "process");
	ck_assert(json_object_object_get_ex(o, "platform", &v) && !v);
	json_object_put(o);
	CK_EXIT(0, admin, "guest", "rm", "web-p");

	/* a spec file, with a flag overriding it */
	{
		char spec[160];
		FILE *fp;

		snprintf(spec, sizeof(spec), "%s/spec.json", dir);
		fp = fopen(spec, "w");
		ck_assert_ptr_nonnull(fp);
		fputs("{\"name\":\"from-file\",\"image\":\"img\",\"vcpus\":1,"
		      "\"memory_mib\":32,\"labels\":{\"tier\":\"db\"}}",
		      fp);
		fclose(fp);
		CK_EXIT(0, admin, "guest", "create", "-f", spec, "--memory", "48");
		CK_OUT("guest from-file created");
		CK_EXIT(0, admin, "guest", "show", "from-file", "-o", "json");
		o = out_json();
		ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "memory_mib")), 48);
		ck_assert_str_eq(
		    jstr(json_object_object_get(json_object_object_get(o, "spec"), "labels"),
			 "tier"),
		    "db");
		json_object_put(o);
		CK_EXIT(0, admin, "guest", "rm", "from-file");
	}

	CK_EXIT(0, admin, "guest", "rm", "web-1");
	CK_OUT("guest web-1 removed");
	CK_EXIT(3, admin, "guest", "show", "web-1");
	CK_EXIT(3, admin, "guest", "rm", "web-1");
	CK_EXIT(3, admin, "guest", "stop", "web-1");
}
END_TEST

START_TEST(no_host_exit_7)
{
	json_object *o;

	CK_EXIT(0, admin, "guest", "explain", "--image", "img", "--vcpus", "1");
	CK_OUT("FITS");
	CK_OUT("chosen: ");
	CK_EXIT(0, admin, "guest", "explain", "--image", "img", "-o", "wide");
	CK_OUT("SCORES");
	CK_OUT("binpack=");
	CK_EXIT(7, admin, "guest", "explain", "--image", "img", "--vcpus", "200");
	CK_OUT("capacity");
	CK_ERR("no host can take");
	CK_EXIT(7, admin, "guest", "explain", "--image", "img", "--vcpus", "200", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "hosts", NULL));
	json_object_put(o);

	CK_EXIT(7, admin, "guest", "create", "huge", "--image", "img", "--vcpus", "200");
	CK_OUT("guest huge created");
	/* Not placed: no host named (once printed from an unfilled buffer). */
	ck_assert_msg(strstr(out, "scheduled on") == NULL, "stdout: %s", out);
	CK_OUT("), pending");
	one_line_err();
	CK_ERR("pending");
	CK_EXIT(7, admin, "guest", "explain", "huge");
	CK_EXIT(7, admin, "guest", "create", "huge2", "--image", "img", "--vcpus", "200", "--wait",
		"--wait-timeout", "1");
	CK_ERR("no host can take it");
	CK_EXIT(0, admin, "guest", "rm", "huge");
	CK_EXIT(0, admin, "guest", "rm", "huge2");
}
END_TEST

/* The guest id of name, once it is bound to a host ("" until then). */
static void bound_id(const char *name, char *id, size_t len)
{
	uint64_t deadline = pvm_now_ns() + 20000000000ull;

	id[0] = '\0';
	while (!id[0] && pvm_now_ns() < deadline) {
		json_object *ans = NULL, *items;

		if (api(admin, "GET", "/v1/guests", NULL, &ans) == 200 &&
		    json_object_object_get_ex(ans, "items", &items)) {
			for (size_t i = 0; i < json_object_array_length(items); i++) {
				json_object *g = json_object_array_get_idx(items, i);
				const char *h = jstr(g, "host_id");

				if (strcmp(jstr(g, "name"), name) == 0 && h && h[0])
					snprintf(id, len, "%s", jstr(g, "id"));
			}
		}
		json_object_put(ans);
		if (!id[0])
			pvm_sleep_ns(20000000);
	}
	ck_assert_msg(id[0], "guest %s was never bound", name);
}

static int wait_child(pid_t pid, const char *op, const char *ep)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	slurp(op, out, sizeof(out));
	slurp(ep, err, sizeof(err));
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(create_wait_follows_to_running_and_failed)
{
	char op[128], ep[128], id[64], path[128];
	json_object *o;
	char *args[] = {"pvmctl", "guest",  "create",	      NULL, "--image", "img", "--selector",
			"pin=w",  "--wait", "--wait-timeout", "30", NULL};
	pid_t pid;
	int rc;

	snprintf(op, sizeof(op), "%s/wait.out", dir);
	snprintf(ep, sizeof(ep), "%s/wait.err", dir);
	args[3] = "gw";
	pid = spawn(admin, op, ep, args);
	bound_id("gw", id, sizeof(id));
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", id);
	ck_assert_int_eq(
	    api(h3_token, "POST", path,
		"{\"observed_state\":\"running\",\"capabilities\":[{\"name\":"
		"\"console\",\"state\":\"accepted\",\"abi_version\":1},{\"name\":"
		"\"block\",\"state\":\"refused\",\"reason\":\"not offered\"}],"
		"\"hook_stats\":[{\"hook\":"
		"\"console\",\"calls\":100,\"doorbells\":4,\"bytes\":4096,"
		"\"errors\":1,\"exits_avoided\":96}],\"exits\":{\"io\":5,\"total\":7}}",
		NULL),
	    200);
	rc = wait_child(pid, op, ep);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_msg(strstr(out, "guest gw running on h3"), "%s", out);
	/* not a terminal: plain progress lines, no spinner */
	ck_assert_msg(strstr(err, "guest gw: running on h3\n"), "%s", err);
	ck_assert_ptr_null(strchr(err, '\r'));

	CK_EXIT(0, admin, "guest", "show", "gw");
	CK_OUT("Negotiated hooks: block refused (not offered), console accepted v1\n");
	CK_OUT("vCPU exits:       7\n");
	CK_OUT("Guest agent:      -\n");
	CK_EXIT(0, admin, "guest", "stats", "gw");
	CK_OUT("HOOK");
	CK_OUT("console");
	CK_OUT("4.0KiB");
	CK_OUT("96");
	CK_EXIT(0, admin, "guest", "stats", "gw", "-o", "json");
	o = out_json();
	ck_assert_str_eq(jstr(json_object_array_get_idx(o, 0), "hook"), "console");
	json_object_put(o);

	args[3] = "gf";
	pid = spawn(admin, op, ep, args);
	bound_id("gf", id, sizeof(id));
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", id);
	ck_assert_int_eq(api(h3_token, "POST", path, "{\"observed_state\":\"failed\"}", NULL), 200);
	rc = wait_child(pid, op, ep);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, "guest gf failed"), "%s", err);

	/* a short-lived guest that ran to its end between two polls */
	args[3] = "gs";
	pid = spawn(admin, op, ep, args);
	bound_id("gs", id, sizeof(id));
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", id);
	ck_assert_int_eq(api(h3_token, "POST", path, "{\"observed_state\":\"stopped\"}", NULL),
			 200);
	rc = wait_child(pid, op, ep);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_msg(strstr(out, "guest gs ran and stopped on h3"), "%s", out);

	CK_EXIT(0, admin, "guest", "rm", "gw");
	CK_EXIT(0, admin, "guest", "rm", "gf");
	CK_EXIT(0, admin, "guest", "rm", "gs");
}
END_TEST

START_TEST(token_commands_and_auth_errors)
{
	char reader[128];
	json_object *o;

	CK_EXIT(0, admin, "token", "create", "ro", "--role", "reader", "-o", "json");
	o = out_json();
	snprintf(reader, sizeof(reader), "%s", jstr(o, "secret"));
	ck_assert_str_eq(jstr(o, "role"), "reader");
	json_object_put(o);
	CK_EXIT(0, admin, "token", "create", "ops", "--role", "operator");
	CK_OUT("secret: pvm_");
	CK_ERR("shown only this once");
	CK_EXIT(0, admin, "token", "list");
	CK_OUT("ro");
	CK_OUT("reader");
	CK_EXIT(0, admin, "token", "list", "-o", "json");
	json_object_put(out_json());
	ck_assert_ptr_null(strstr(out, reader)); /* secrets are never listed */

	CK_EXIT(0, reader, "guest", "list");
	CK_EXIT(5, reader, "guest", "create", "nope", "--image", "img");
	one_line_err();
	CK_ERR("[HTTP 403]");
	CK_EXIT(5, reader, "token", "list");
	CK_EXIT(5, "pvm_not_a_token", "host", "list");
	CK_ERR("[HTTP 401]");
	CK_EXIT(5, NULL, "host", "list");

	CK_EXIT(2, admin, "token", "create", "bad", "--role", "emperor");
	/* a host token binds to the host that registers with it: no --host */
	CK_EXIT(2, admin, "token", "create", "bad", "--role", "host", "--host", "h1");
	CK_EXIT(0, admin, "token", "revoke", "ro");
	CK_OUT("token ro revoked");
	CK_EXIT(0, admin, "token", "list", "-o", "wide");
	CK_OUT("true");
	/* a revoked token is refused from then on */
	CK_EXIT(5, reader, "guest", "list");
	one_line_err();
	CK_ERR("[HTTP 401]");
	CK_EXIT(3, admin, "token", "revoke", "nosuch");
}
END_TEST

/*
 * Lifetimes: --ttl durations reach the API as ttl_s and come back as
 * expires_at; bad ones are usage errors. An expired token (made through the
 * store in pvmd's own database with an expiry in the past: the API cannot
 * make one) is refused with exit 5 and one line saying it expired.
 */
START_TEST(token_ttl_and_expired)
{
	static const char *const good[] = {"90s", "15m", "12h", "30d"};
	static const char *const bad[] = {"10x", "15", "m", "-5m", "1.5h", "1h30m", "", "h5"};
	struct store_token t = {.role = STORE_ROLE_ADMIN};
	char secret[STORE_SECRET_MAX], db[160], name[32];
	struct pvm_err e = {0};
	struct store *st;
	json_object *o, *items;
	bool seen = false;

	for (size_t i = 0; i < PVM_ARRAY_SIZE(good); i++) {
		snprintf(name, sizeof(name), "ttl-%s", good[i]);
		CK_EXIT(0, admin, "token", "create", name, "--role", "reader", "--ttl", good[i],
			"-o", "json");
		o = out_json();
		ck_assert_msg(jstr(o, "expires_at") && strlen(jstr(o, "expires_at")) == 24,
			      "expires_at: %s", out);
		json_object_put(o);
	}
	CK_EXIT(0, admin, "token", "create", "ttl-text", "--role", "reader", "--ttl", "12h");
	CK_OUT("expires: 20");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		CK_EXIT(2, admin, "token", "create", "ttl-bad", "--role", "reader", "--ttl",
			bad[i]);
		CK_ERR("--ttl");
	}
	CK_EXIT(2, admin, "token", "create", "ttl-short", "--role", "reader", "--ttl", "59s");
	CK_ERR("between 60s and 3650d");
	CK_EXIT(2, admin, "token", "create", "ttl-long", "--role", "reader", "--ttl", "3651d");
	CK_ERR("between 60s and 3650d");
	CK_EXIT(2, admin, "token", "create", "ttl-huge", "--role", "reader", "--ttl",
		"99999999999d");
	CK_ERR("between 60s and 3650d");
	CK_EXIT(2, admin, "token", "create", "ttl-zero", "--role", "reader", "--ttl", "0m");
	CK_ERR("between 60s and 3650d");

	snprintf(db, sizeof(db), "%s/pvm.db", dir);
	ck_assert_msg(store_open(db, NULL, &st, &e) == 0, "%s", e.msg);
	snprintf(t.name, sizeof(t.name), "gone");
	t.expires_ms = (int64_t)(pvm_wall_ns() / 1000000) - 3600 * 1000;
	ck_assert_msg(store_token_create(st, &t, secret, &e) == 0, "%s", e.msg);
	store_close(st);

	CK_EXIT(5, secret, "host", "list");
	one_line_err();
	CK_ERR("Token expired");
	CK_ERR(t.id);
	CK_ERR("[HTTP 401]");
	CK_EXIT(5, secret, "token", "list", "-o", "json");
	one_line_err();
	CK_ERR("expired");

	/* the list shows who expires when: never, a time, or a time that passed */
	CK_EXIT(0, admin, "token", "list");
	CK_OUT("EXPIRES");
	CK_OUT("never");
	CK_OUT("(expired)");
	CK_EXIT(0, admin, "token", "list", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "items", &items));
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i);

		ck_assert(json_object_object_get_ex(it, "expires_at", NULL));
		if (strcmp(jstr(it, "id"), t.id) == 0) {
			ck_assert_int_eq(strlen(jstr(it, "expires_at")), 24);
			seen = true;
		}
	}
	ck_assert(seen);
	json_object_put(o);
}
END_TEST

START_TEST(events_list_and_follow)
{
	char op[128], ep[128], since[32];
	char *args[] = {"pvmctl", "events", "--follow", "-o", "json", "--since", since, NULL};
	json_object *o, *evs;
	uint64_t deadline;
	pid_t pid;
	int status;
	bool seen = false;

	CK_EXIT(0, admin, "events");
	CK_OUT("SEQ");
	CK_OUT("host.created");
	CK_EXIT(0, admin, "events", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "events", &evs));
	ck_assert_int_gt(json_object_array_length(evs), 3);
	snprintf(since, sizeof(since), "%lld",
		 (long long)json_object_get_int64(json_object_object_get(o, "last_seq")));
	json_object_put(o);
	CK_EXIT(0, admin, "events", "--since", since);
	ck_assert_ptr_null(strstr(out, "host.created"));

	snprintf(op, sizeof(op), "%s/follow.out", dir);
	snprintf(ep, sizeof(ep), "%s/follow.err", dir);
	pid = spawn(admin, op, ep, args);
	CK_EXIT(0, admin, "image", "create", "followed", "--format", "elf", "--source", "/x");
	CK_EXIT(0, admin, "guest", "create", "followed", "--image", "img");
	deadline = pvm_now_ns() + 20000000000ull;
	while (!seen && pvm_now_ns() < deadline) {
		slurp(op, out, sizeof(out));
		seen = strstr(out, "\"guest.created\"") != NULL;
		if (!seen)
			pvm_sleep_ns(20000000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	ck_assert_msg(seen, "follow printed: %s", out);
	/* one JSON object per line */
	o = json_tokener_parse(strtok(out, "\n"));
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "seq", NULL));
	json_object_put(o);
	CK_EXIT(0, admin, "guest", "rm", "followed");
}
END_TEST

START_TEST(rebalance_command)
{
	json_object *o;
	int rc = ctl(admin, "rebalance", NULL);

	if (rc == 3 && strstr(err, "no route")) {
		/* the controller has no rebalance route yet: a clean error, nothing else */
		one_line_err();
		CK_EXIT(3, admin, "rebalance", "--apply");
		return;
	}
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert(strstr(out, "no move") || strstr(out, "SCORE DELTA"));
	CK_EXIT(0, admin, "rebalance", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "moves", NULL));
	json_object_put(o);
}
END_TEST

START_TEST(version_and_precedence)
{
	char cfg[160], flag[64];
	json_object *o, *c, *s;
	FILE *fp;

	CK_EXIT(0, admin, "version");
	CK_OUT("client: pvmctl ");
	CK_OUT("server: pvmd ");
	CK_EXIT(0, admin, "version", "-o", "json");
	o = out_json();
	ck_assert(json_object_object_get_ex(o, "client", &c));
	ck_assert(json_object_object_get_ex(o, "server", &s));
	ck_assert_ptr_nonnull(jstr(c, "version"));
	ck_assert_str_eq(jstr(s, "api"), "v1");
	json_object_put(o);

	/* HOME/.config/pvm/config supplies the token when PVM_TOKEN is unset */
	snprintf(cfg, sizeof(cfg), "%s/.config", dir);
	mkdir(cfg, 0700);
	snprintf(cfg, sizeof(cfg), "%s/.config/pvm", dir);
	mkdir(cfg, 0700);
	snprintf(cfg, sizeof(cfg), "%s/.config/pvm/config", dir);
	fp = fopen(cfg, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "addr = 127.0.0.1:1\ntoken = %s\n", admin);
	fclose(fp);
	/* PVM_ADDR beats the file's addr; the file's token is used */
	CK_EXIT(0, NULL, "host", "list");
	/* a flag beats PVM_TOKEN */
	CK_EXIT(5, admin, "host", "list", "--token", "pvm_wrong");
	/* a flag beats PVM_ADDR */
	snprintf(flag, sizeof(flag), "--addr=%s", "127.0.0.1:1");
	CK_EXIT(6, admin, "host", "list", flag);
	unlink(cfg);
}
END_TEST

/*
 * Runs pvmctl with stdout (tty_out) and/or stderr on a pseudo-terminal;
 * what the terminal showed goes into out. extra_env may be NULL.
 */
static int ctl_tty(const char *token, const char *extra_env, bool tty_out, char **args)
{
	char **envp = child_env(token), *env2[16], ep[128];
	int master = posix_openpt(O_RDWR | O_NOCTTY), status, n = 0;
	size_t len = 0;
	pid_t pid;

	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	for (; envp[n]; n++)
		env2[n] = envp[n];
	if (extra_env)
		env2[n++] = (char *)extra_env;
	env2[n] = NULL;
	snprintf(ep, sizeof(ep), "%s/tty.other", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
		int other = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		close(master);
		dup2(tty_out ? slave : other, 1);
		dup2(tty_out ? other : slave, 2);
		exec_pvmctl(args, env2);
		_exit(127);
	}
	for (;;) {
		ssize_t r = read(master, out + len, sizeof(out) - 1 - len);

		if (r <= 0)
			break; /* EIO once the child closed the terminal */
		len += (size_t)r;
	}
	out[len] = '\0';
	close(master);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(terminal_gets_colour_and_a_spinner)
{
	char *list[] = {"pvmctl", "host", "list", NULL};
	char *wait[] = {"pvmctl",  "guest", "create", "spin",		"--image", "img",
			"--vcpus", "200",   "--wait", "--wait-timeout", "1",	   NULL};

	ck_assert_int_eq(ctl_tty(admin, NULL, true, list), 0);
	ck_assert_msg(strstr(out, "\033[1mNAME"), "%s", out);
	ck_assert_msg(strstr(out, "\033[32mready\033[0m"), "%s", out);
	ck_assert_int_eq(ctl_tty(admin, "NO_COLOR=1", true, list), 0);
	ck_assert_ptr_nonnull(strstr(out, "NAME"));
	ck_assert_ptr_null(strchr(out, '\033'));
	ck_assert_int_eq(
	    ctl_tty(admin, NULL, true, (char *[]){"pvmctl", "host", "list", "--no-color", NULL}),
	    0);
	ck_assert_ptr_null(strchr(out, '\033'));

	/* a spinner redrawn in place on stderr, not one line per poll */
	ck_assert_int_eq(ctl_tty(admin, NULL, false, wait), 7);
	ck_assert_msg(strstr(out, "\r| spin: pending"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\033[K"));
	ck_assert_ptr_nonnull(strstr(out, "no host can take it"));
	CK_EXIT(0, admin, "guest", "rm", "spin");
}
END_TEST

static void write_datum(const char *path, const gnutls_datum_t *d)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(d->data, 1, d->size, fp), d->size);
	fclose(fp);
}

/* A self-signed certificate for 127.0.0.1 that is its own CA. */
static void make_cert(const char *cert_path, const char *key_path)
{
	static const unsigned char ip[4] = {127, 0, 0, 1};
	unsigned char serial[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	time_t now = time(NULL);

	ck_assert_int_eq(gnutls_x509_privkey_init(&key), 0);
	ck_assert_int_eq(gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, 2048, 0), 0);
	ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, now - 3600);
	gnutls_x509_crt_set_expiration_time(crt, now + 86400);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "127.0.0.1", 9);
	gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, sizeof(ip),
					     GNUTLS_FSAN_SET);
	gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
	gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
					       GNUTLS_KEY_KEY_ENCIPHERMENT |
					       GNUTLS_KEY_KEY_CERT_SIGN);
	ck_assert_int_eq(gnutls_x509_crt_set_key(crt, key), 0);
	ck_assert_int_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), 0);
	write_datum(cert_path, &d);
	gnutls_free(d.data);
	ck_assert_int_eq(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), 0);
	write_datum(key_path, &d);
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

START_TEST(tls_needs_the_ca)
{
	char state[128], cert[160], key[160], port_s[16], token[128], url[64], cafile[200];
	const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	pid_t pid;

	snprintf(state, sizeof(state), "%s/tls", dir);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	snprintf(cert, sizeof(cert), "%s/cert.pem", state);
	snprintf(key, sizeof(key), "%s/key.pem", state);
	make_cert(cert, key);
	pid = start_pvmd(state, extra, port_s, token, sizeof(token));
	snprintf(url, sizeof(url), "--addr=https://127.0.0.1:%s", port_s);

	CK_EXIT(0, token, "version", url, "--cacert", cert);
	CK_OUT("server: pvmd ");
	CK_EXIT(0, token, "host", "list", url, "--cacert", cert);
	/* without the CA the certificate cannot be verified: unreachable */
	CK_EXIT(6, token, "host", "list", url);
	one_line_err();
	CK_ERR("cannot reach https://127.0.0.1:");
	/* the CA from the config file */
	snprintf(cafile, sizeof(cafile), "%s/pvm.conf", state);
	FILE *fp = fopen(cafile, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "cacert = %s\n", cert);
	fclose(fp);
	CK_EXIT(0, token, "host", "list", url, "--config", cafile);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
END_TEST

/* --addr with a dead controller first: reads and creates go to the live one. */
START_TEST(dead_controller_first_in_addr)
{
	char addrs[160], path[128];
	json_object *o, *items;

	/* port 1: nothing listens there, connecting is refused */
	snprintf(addrs, sizeof(addrs), "http://127.0.0.1:1,%s", base);
	CK_EXIT(0, admin, "--addr", addrs, "host", "list");
	CK_OUT("h1");
	ck_assert_str_eq(err, "");
	CK_EXIT(0, admin, "--addr", addrs, "-v", "guest", "create", "fo-live", "--image", "img");
	CK_OUT("guest fo-live created (gst_");
	CK_ERR("POST http://127.0.0.1:1/v1/guests: ");
	CK_ERR("/v1/guests: HTTP 201");
	/* created once */
	ck_assert_int_eq(api(admin, "GET", "/v1/guests?name=fo-live", NULL, &o), 200);
	ck_assert(json_object_object_get_ex(o, "items", &items));
	ck_assert_int_eq(json_object_array_length(items), 1);
	snprintf(path, sizeof(path), "/v1/guests/%s",
		 jstr(json_object_array_get_idx(items, 0), "id"));
	json_object_put(o);
	ck_assert_int_eq(api(admin, "DELETE", path, NULL, NULL) / 100, 2);
	/* every controller dead: one line naming each, unreachable */
	CK_EXIT(6, admin, "--addr", "http://127.0.0.1:1,http://127.0.0.1:2", "host", "list");
	CK_ERR("cannot reach http://127.0.0.1:1: ");
	CK_ERR("; http://127.0.0.1:2: ");
	one_line_err();
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (access(PVMD_PATH, X_OK) != 0) {
		printf("SKIP: pvmd is not built (%s)\n", PVMD_PATH);
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = suite_create("cli_live");
	if (getenv("PVM_CLI_VALGRIND")) {
		/* The paths that once printed memory pvmctl had not written. */
		tc = tcase_create("valgrind");
		tcase_set_timeout(tc, 240);
		tcase_add_unchecked_fixture(tc, start_server, stop_server);
		tcase_add_test(tc, guest_commands);
		tcase_add_test(tc, no_host_exit_7);
		tcase_add_test(tc, terminal_gets_colour_and_a_spinner);
		goto run;
	}
	tc = tcase_create("live");
	tcase_set_timeout(tc, 90);
	tcase_add_unchecked_fixture(tc, start_server, stop_server);
	tcase_add_test(tc, host_commands);
	tcase_add_test(tc, host_rm_busy_then_free);
	tcase_add_test(tc, image_commands);
	tcase_add_test(tc, guest_commands);
	tcase_add_test(tc, no_host_exit_7);
	tcase_add_test(tc, create_wait_follows_to_running_and_failed);
	tcase_add_test(tc, token_commands_and_auth_errors);
	tcase_add_test(tc, token_ttl_and_expired);
	tcase_add_test(tc, events_list_and_follow);
	tcase_add_test(tc, rebalance_command);
	tcase_add_test(tc, version_and_precedence);
	tcase_add_test(tc, tls_needs_the_ca);
	tcase_add_test(tc, terminal_gets_colour_and_a_spinner);
	tcase_add_test(tc, dead_controller_first_in_addr);
run:
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
