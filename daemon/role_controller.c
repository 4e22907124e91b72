/* SPDX-License-Identifier: MIT */
/*
 * pvmd --role controller: the store under the state directory, the
 * bootstrap admin token, the REST API; SIGTERM finishes requests in flight.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "api/api.h"
#include "daemon/role.h"
#include "store/store.h"

static int controller_run(const struct pvm_config *cfg, const sigset_t *sigs)
{
	const char *dir = pvm_config_get(cfg, "state_dir");
	struct api_config ac = {0};
	struct api_server *srv = NULL;
	struct store *st = NULL;
	struct pvm_err err = {0};
	char path[4096];
	struct store_options so = {0};
	int64_t hb, limit, grace, pool;
	bool created, open_metrics = false;
	int sig, code = 1;

	if (pvm_config_get_int(cfg, "heartbeat_s", 1, 3600, &hb, &err) < 0 ||
	    pvm_config_get_int(cfg, "body_limit", 1024, 1LL << 30, &limit, &err) < 0 ||
	    pvm_config_get_int(cfg, "grace_s", 1, 600, &grace, &err) < 0 ||
	    pvm_config_get_int(cfg, "store_pool", 1, 64, &pool, &err) < 0 ||
	    pvm_config_get_bool(cfg, "metrics_open", &open_metrics, &err) < 0) {
		pvm_log_error("config: %s", err.msg);
		return 2;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		pvm_log_error("state directory %s: %s", dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	so.pool_size = (int)pool;
	if (store_open(path, &so, &st, &err) < 0) {
		pvm_log_error("store %s: %s", path, err.msg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	if (api_bootstrap_admin(st, path, &created, &err) < 0) {
		pvm_log_error("bootstrap admin token: %s", err.msg);
		goto out;
	}
	if (created)
		pvm_log_info("bootstrap admin token written to %s", path);
	ac.listen = pvm_config_get(cfg, "listen");
	ac.tls_cert = pvm_config_get(cfg, "tls_cert");
	ac.tls_key = pvm_config_get(cfg, "tls_key");
	ac.body_limit = (size_t)limit;
	ac.metrics_open = open_metrics;
	ac.heartbeat_s = (unsigned)hb;
	ac.grace_s = (unsigned)grace;
	ac.sched_policy = pvm_config_get(cfg, "sched_policy");
	ac.store = st;
	if (api_server_start(&ac, &srv, &err) < 0) {
		pvm_log_error("api: %s", err.msg);
		goto out;
	}
	pvm_log_info("controller listening on %s://%s (port %u), state in %s",
		     ac.tls_cert ? "https" : "http", ac.listen, api_server_port(srv), dir);
	sd_notify(0, "READY=1");
	for (;;) {
		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			pvm_log_info("SIGHUP: nothing to reload in the controller role");
			continue;
		}
		break;
	}
	pvm_log_info("%s: finishing requests in flight", strsignal(sig));
	sd_notify(0, "STOPPING=1");
	api_server_stop(srv);
	code = 0;
out:
	store_close(st);
	return code;
}

const struct pvmd_role pvmd_role_controller = {
    .name = "controller",
    .run = controller_run,
};
