/* SPDX-License-Identifier: MIT */
/*
 * pvmd --role host: configuration into struct pvmd_host_config, the bearer
 * token from --token-file, signals (SIGTERM/SIGINT stop, SIGHUP reloads),
 * sd_notify READY/WATCHDOG/STOPPING, then pvmd_host_run(). pvmd's main adds
 * pvmd_host_keys to its key table and &pvmd_role_host to its roles.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/host.h"
#include "hv/hv.h"

const struct pvm_config_key pvmd_host_keys[] = {
    {"controller", NULL,
     "host role: the controller's URL (http://ADDR:PORT), or several, comma-separated, "
     "failed over in turn",
     false},
    {"token_file", NULL, "host role: file holding the host's bearer token", false},
    {"host_name", NULL, "host role: name to register (default: the hostname)", false},
    {"vmm", NULL, "host role: pvm-vmm binary (default: beside pvmd)", false},
    {"hooks", "all",
     "host role: pv hooks the VMMs offer: all, none or a list such as console,block", false},
    {"platform", "auto",
     "host role: what runs the VMMs: auto (kvm where /dev/kvm works, else process), kvm, "
     "process",
     false},
    {"image_dir", NULL, "host role: where image names are looked up (default: STATE/images)",
     false},
    {"libvirt_uri", NULL, "host role: also run libvirt guests on this URI", false},
    {"labels", NULL, "host role: labels as a JSON object", false},
    {"report_interval_ms", "2000", "host role: how often guest statistics are reported", false},
    {"console_limit", "16777216",
     "host role: bytes a guest may write to its console log a run (0: no limit)", false},
    {"stop_guests_on_exit", "false", "host role: stop every guest when pvmd stops", true},
    {"exit_cost_exits", "2000",
     "host role: port writes timed at start to measure what one exit costs here, which the "
     "scheduler uses (0: do not measure; it assumes its default)",
     false},
};
const size_t pvmd_nhost_keys = PVM_ARRAY_SIZE(pvmd_host_keys);

static void *signal_thread(void *arg)
{
	struct pvmd_signals *c = arg;
	int sig;

	while (!c->stop) {
		if (sigwait(c->sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			pvmd_reload(c->cfg);
			continue;
		}
		pvm_log_info("%s: stopping", strsignal(sig));
		c->stop = 1;
	}
	return NULL;
}

static void notify(void *arg, const char *state)
{
	(void)arg;
	sd_notify(0, state);
}

int pvmd_read_token(const char *path, char *out, size_t len, struct pvm_err *err)
{
	ssize_t n;
	int fd;

	if (!path)
		return pvm_err_field(err, -EINVAL, "token_file",
				     "the host role needs --token-file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pvm_err_field(err, -errno, "token_file", "%s: %s", path, strerror(errno));
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return pvm_err_field(err, -EIO, "token_file", "%s: %s", path, strerror(errno));
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0])
		return pvm_err_field(err, -EINVAL, "token_file", "%s: no token in it", path);
	return 0;
}

int pvmd_host_config_from(const struct pvm_config *cfg, struct pvmd_host_config *hc,
			  struct pvm_err *err)
{
	enum hv_platform_id platform;
	int64_t interval = 2000, exits = 0;
	int ret;

	memset(hc, 0, sizeof(*hc));
	if (pvm_config_get(cfg, "report_interval_ms") &&
	    (ret = pvm_config_get_int(cfg, "report_interval_ms", 100, 3600000, &interval, err)) < 0)
		return ret;
	if (pvm_config_get(cfg, "stop_guests_on_exit") &&
	    (ret = pvm_config_get_bool(cfg, "stop_guests_on_exit", &hc->stop_guests_on_exit, err)) <
		0)
		return ret;
	hc->controller = pvm_config_get(cfg, "controller");
	hc->name = pvm_config_get(cfg, "host_name");
	hc->state_dir = pvm_config_get(cfg, "state_dir");
	hc->vmm = pvm_config_get(cfg, "vmm");
	hc->hooks = pvm_config_get(cfg, "hooks");
	hc->platform = pvm_config_get(cfg, "platform");
	if (hc->platform && hv_platform_parse(hc->platform, &platform, err) < 0)
		return pvm_err_field(err, -EINVAL, "platform",
				     "platform %.32s: want auto, kvm or process", hc->platform);
	hc->image_dir = pvm_config_get(cfg, "image_dir");
	hc->libvirt_uri = pvm_config_get(cfg, "libvirt_uri");
	hc->labels = pvm_config_get(cfg, "labels");
	hc->console_limit = pvm_config_get(cfg, "console_limit");
	hc->report_interval_ms = (unsigned)interval;
	if ((ret = pvm_config_get_int(cfg, "exit_cost_exits", 0, 1000000, &exits, err)) < 0)
		return ret;
	hc->exit_cost_exits = (unsigned)exits;
	hc->notify = notify;
	return 0;
}

int pvmd_signals_start(struct pvmd_signals *sc, const sigset_t *sigs, const struct pvm_config *cfg)
{
	sc->sigs = sigs;
	sc->cfg = cfg;
	sc->stop = 0;
	return pthread_create(&sc->thread, NULL, signal_thread, sc) == 0 ? 0 : -EAGAIN;
}

void pvmd_signals_join(struct pvmd_signals *sc)
{
	/* Wake the signal thread if the role ended on its own. */
	if (!sc->stop) {
		sc->stop = 1;
		pthread_kill(sc->thread, SIGTERM);
	}
	pthread_join(sc->thread, NULL);
}

int pvmd_host_exit_code(int ret)
{
	return ret == -EINVAL || ret == -ENOENT || ret == -EACCES ? 2 : ret < 0 ? 1 : 0;
}

static int host_role_run(const struct pvm_config *cfg, const sigset_t *sigs)
{
	struct pvmd_host_config hc;
	struct pvmd_signals sc;
	struct pvm_err err = {0};
	struct pvmd_client *check;
	char token[PVMD_TOKEN_MAX];
	int ret;

	if (!pvm_config_get(cfg, "controller")) {
		pvm_log_error("config: the host role needs --controller URL[,URL...]");
		return 2;
	}
	if (pvmd_host_config_from(cfg, &hc, &err) < 0 ||
	    pvmd_read_token(pvm_config_get(cfg, "token_file"), token, sizeof(token), &err) < 0) {
		pvm_log_error("config: %s", err.msg);
		return 2;
	}
	hc.token = token;
	hc.fence = true; /* other hosts may take over its guests */
	/* A bad controller list is a configuration error: say so before anything starts. */
	if (pvmd_client_open(hc.controller, token, NULL, &check, &err) < 0) {
		explicit_bzero(token, sizeof(token));
		pvm_log_error("config: %s", err.msg);
		return 2;
	}
	pvmd_client_close(check);
	if (pvmd_signals_start(&sc, sigs, cfg) < 0) {
		pvm_log_error("cannot start the signal thread");
		return 1;
	}
	ret = pvmd_host_run(&hc, &sc.stop, &err);
	explicit_bzero(token, sizeof(token));
	if (ret < 0)
		pvm_log_error("host: %s", err.msg);
	pvmd_signals_join(&sc);
	return pvmd_host_exit_code(ret);
}

const struct pvmd_role pvmd_role_host = {
    .name = "host",
    .run = host_role_run,
};
