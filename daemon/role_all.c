/* SPDX-License-Identifier: MIT */
/*
 * pvmd with no role: the all-in-one default a new user starts with. The
 * controller and the host role in one process, on 127.0.0.1, with SQLite under
 * the state directory. The host speaks to the controller over the same REST
 * API a remote host would use, with a host token kept in STATE/host.token.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/host.h"
#include "daemon/role.h"

struct host_thread {
	struct pvmd_host_config hc;
	volatile sig_atomic_t *stop;
	struct pvm_err err;
	int ret;
};

static void *host_main(void *arg)
{
	struct host_thread *t = arg;

	t->ret = pvmd_host_run(&t->hc, t->stop, &t->err);
	if (t->ret < 0)
		pvm_log_error("host: %s", t->err.msg);
	return NULL;
}

/* The local host's token: reused from STATE/host.token, or created through
 * the API with the bootstrap admin token on first start. */
static int host_token(struct pvmd_controller *c, const char *state_dir, char *out, size_t len,
		      struct pvm_err *err)
{
	char path[4096], admin[PVMD_TOKEN_MAX], host[64], name[96];
	struct pvmd_client *cl = NULL;
	json_object *body = NULL, *ans = NULL;
	const char *secret = NULL;
	long status = 0;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/host.token", state_dir);
	if (access(path, F_OK) == 0)
		return pvmd_read_token(path, out, len, err);
	ret = pvmd_read_token(pvmd_controller_token_path(c), admin, sizeof(admin), err);
	if (ret < 0)
		return ret;
	ret = pvmd_client_open(pvmd_controller_url(c), admin, NULL, &cl, err);
	if (ret < 0)
		goto out;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "local");
	host[sizeof(host) - 1] = '\0';
	snprintf(name, sizeof(name), "all-in-one host %s", host);
	body = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string(name));
	json_object_object_add(body, "role", json_object_new_string("host"));
	ret = pvmd_client_call(cl, "POST", "/v1/tokens", body, 10, &status, &ans, err);
	if (ret < 0)
		goto out;
	if (status != 201 || pvm_json_get_str(ans, "secret", &secret) < 0) {
		ret = pvm_err_set(err, -EIO, "creating the host token: HTTP %ld", status);
		goto out;
	}
	if ((size_t)snprintf(out, len, "%s", secret) >= len) {
		ret = pvm_err_set(err, -ENAMETOOLONG, "host token too long");
		goto out;
	}
	fd = pvm_secret_file_open(path, err);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ret = pvm_secret_file_write(fd, path, secret, err);
	close(fd);
	if (ret < 0)
		unlink(path);
out:
	explicit_bzero(admin, sizeof(admin));
	json_object_put(body);
	json_object_put(ans);
	pvmd_client_close(cl);
	return ret;
}

static int all_run(const struct pvm_config *cfg, const sigset_t *sigs)
{
	struct host_thread t = {.ret = 0};
	struct pvmd_controller *c = NULL;
	struct pvmd_signals sc;
	struct pvm_err err = {0};
	char token[PVMD_TOKEN_MAX];
	pthread_t thr;
	int code = 1, ret;

	ret = pvmd_host_config_from(cfg, &t.hc, &err);
	if (ret < 0) {
		pvm_log_error("config: %s", err.msg);
		return 2;
	}
	ret = pvmd_controller_start(cfg, &c, &err);
	if (ret < 0) {
		pvm_log_error("%s", err.msg);
		return err.field[0] ? 2 : 1;
	}
	ret = host_token(c, t.hc.state_dir, token, sizeof(token), &err);
	if (ret < 0) {
		pvm_log_error("host token: %s", err.msg);
		goto out;
	}
	t.hc.controller = pvmd_controller_url(c);
	t.hc.token = token;
	if (pvmd_signals_start(&sc, sigs, cfg) < 0) {
		pvm_log_error("cannot start the signal thread");
		goto out;
	}
	t.stop = &sc.stop;
	/* Operators look for these two lines; the token itself is never printed. */
	printf("pvm is running: %s\nadmin token: %s\n", pvmd_controller_url(c),
	       pvmd_controller_token_path(c));
	fflush(stdout);
	if (pthread_create(&thr, NULL, host_main, &t) != 0) {
		pvm_log_error("cannot start the host role");
		pvmd_signals_join(&sc);
		goto out;
	}
	pthread_join(thr, NULL);
	pvmd_signals_join(&sc);
	code = pvmd_host_exit_code(t.ret);
out:
	explicit_bzero(token, sizeof(token));
	pvmd_controller_stop(c);
	return code;
}

const struct pvmd_role pvmd_role_all = {
    .name = "all-in-one",
    .run = all_run,
};
