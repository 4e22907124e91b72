/* SPDX-License-Identifier: MIT */
/*
 * pvmd --role controller: the store (under the state directory, or the one
 * --store names, PostgreSQL for several controllers), the bootstrap admin
 * token, the controller and the REST API; SIGTERM finishes requests in
 * flight and hands the lease on. pvmd_controller_start/stop let another
 * role (all-in-one) embed it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "api/api.h"
#include "controller/controller.h"
#include "daemon/role.h"
#include "store/store.h"

struct pvmd_controller {
	struct store *st;
	struct controller *ctl;
	struct api_server *srv;
	char url[128];
	char token_path[4096];
};

const char *pvmd_store_location(const struct pvm_config *cfg, char *buf, size_t size)
{
	const char *location = pvm_config_get(cfg, "store");

	if (location && *location)
		return location;
	snprintf(buf, size, "%s/pvm.db", pvm_config_get(cfg, "state_dir"));
	return buf;
}

int pvmd_controller_start(const struct pvm_config *cfg, struct pvmd_controller **out,
			  struct pvm_err *err)
{
	const char *dir = pvm_config_get(cfg, "state_dir");
	const char *location;
	struct pvmd_controller *c;
	struct store_options so = {0};
	struct controller_config cc = {0};
	struct api_config ac = {0};
	int64_t hb, limit, grace, pool;
	bool created, open_metrics = false;
	char path[4096];
	int ret;

	*out = NULL;
	if ((ret = pvm_config_get_int(cfg, "heartbeat_s", 1, 3600, &hb, err)) < 0 ||
	    (ret = pvm_config_get_int(cfg, "body_limit", 1024, 1LL << 30, &limit, err)) < 0 ||
	    (ret = pvm_config_get_int(cfg, "grace_s", 1, 600, &grace, err)) < 0 ||
	    (ret = pvm_config_get_int(cfg, "store_pool", 1, 64, &pool, err)) < 0 ||
	    (ret = pvm_config_get_bool(cfg, "metrics_open", &open_metrics, err)) < 0)
		return ret;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return pvm_err_set(err, -errno, "state directory %s: %s", dir, strerror(errno));
	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	location = pvmd_store_location(cfg, path, sizeof(path));
	so.pool_size = (int)pool;
	ret = store_open(location, &so, &c->st, err);
	if (ret < 0) {
		pvm_err_prefix(err, "store");
		goto fail;
	}
	snprintf(c->token_path, sizeof(c->token_path), "%s/admin.token", dir);
	ret = api_bootstrap_admin(c->st, c->token_path, &created, err);
	if (ret < 0) {
		pvm_err_prefix(err, "bootstrap admin token");
		goto fail;
	}
	if (created)
		pvm_log_info("bootstrap admin token written to %s", c->token_path);
	cc.store = c->st;
	cc.heartbeat_s = (unsigned)hb;
	cc.sched_policy = pvm_config_get(cfg, "sched_policy");
	cc.replica = pvm_config_get(cfg, "replica");
	ret = controller_open(&cc, &c->ctl, err);
	if (ret < 0) {
		pvm_err_prefix(err, "controller");
		goto fail;
	}
	ac.listen = pvm_config_get(cfg, "listen");
	ac.tls_cert = pvm_config_get(cfg, "tls_cert");
	ac.tls_key = pvm_config_get(cfg, "tls_key");
	ac.body_limit = (size_t)limit;
	ac.metrics_open = open_metrics;
	ac.heartbeat_s = (unsigned)hb;
	ac.grace_s = (unsigned)grace;
	ac.store = c->st;
	ac.controller = c->ctl;
	ret = api_server_start(&ac, &c->srv, err);
	if (ret < 0) {
		pvm_err_prefix(err, "api");
		goto fail;
	}
	controller_on_event(c->ctl, api_server_event, c->srv);
	ret = controller_start(c->ctl, err);
	if (ret < 0)
		goto fail;
	snprintf(c->url, sizeof(c->url), "%s://%.*s:%u", ac.tls_cert ? "https" : "http",
		 (int)(strrchr(ac.listen, ':') - ac.listen), ac.listen, api_server_port(c->srv));
	pvm_log_info("controller listening on %s, state in %s", c->url, dir);
	*out = c;
	return 0;
fail:
	api_server_stop(c->srv);
	controller_close(c->ctl);
	store_close(c->st);
	free(c);
	return ret;
}

const char *pvmd_controller_url(const struct pvmd_controller *c)
{
	return c->url;
}

const char *pvmd_controller_token_path(const struct pvmd_controller *c)
{
	return c->token_path;
}

void pvmd_controller_stop(struct pvmd_controller *c)
{
	if (!c)
		return;
	api_server_stop(c->srv);
	controller_close(c->ctl);
	store_close(c->st);
	free(c);
}

static int controller_run(const struct pvm_config *cfg, const sigset_t *sigs)
{
	struct pvmd_controller *c;
	struct pvm_err err = {0};
	struct timespec ping = {0}, *wait = NULL;
	uint64_t watchdog_us = 0;
	int sig, ret;

	ret = pvmd_controller_start(cfg, &c, &err);
	if (ret < 0) {
		pvm_log_error("%s", err.msg);
		return err.field[0] ? 2 : 1;
	}
	/* Under WatchdogSec=, wake at half the interval to ping systemd. */
	if (sd_watchdog_enabled(0, &watchdog_us) > 0) {
		ping.tv_sec = (time_t)(watchdog_us / 2 / 1000000);
		ping.tv_nsec = (long)(watchdog_us / 2 % 1000000 * 1000);
		wait = &ping;
	}
	sd_notify(0, "READY=1");
	for (;;) {
		sig = sigtimedwait(sigs, NULL, wait);
		if (sig < 0) {
			if (errno == EAGAIN)
				sd_notify(0, "WATCHDOG=1");
			continue;
		}
		if (sig == SIGHUP) {
			pvmd_reload(cfg);
			continue;
		}
		break;
	}
	pvm_log_info("%s: finishing requests in flight", strsignal(sig));
	sd_notify(0, "STOPPING=1");
	pvmd_controller_stop(c);
	return 0;
}

const struct pvmd_role pvmd_role_controller = {
    .name = "controller",
    .run = controller_run,
};
