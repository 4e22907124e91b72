// SPDX-License-Identifier: MIT
/*
 * pvm-vmm: runs one pv microguest in the foreground.
 *   pvm-vmm run --image FILE [--platform auto|kvm|process] [--mem MIB] [--vcpus N] [--disk FILE]
 *       [--cmdline STR] [--hooks LIST|none] [--api-sock PATH] [--stats-json FILE]
 *   pvm-vmm platforms
 * Exit code: the guest's, or HV_EXIT_* (2: bad configuration, one line on stderr).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/hv.h"

#define GRACEFUL_STOP_MS 5000

static const struct pvm_config_key keys[] = {
    {"image", NULL, "guest ELF64 image (required)", false},
    {"platform", "auto",
     "what runs the guest: auto (kvm where it works, else process), kvm, "
     "process",
     false},
    {"mem", "64", "guest memory in MiB", false},
    {"vcpus", "1", "number of vCPUs", false},
    {"disk", NULL, "file backing the block device", false},
    {"cmdline", "", "guest command line", false},
    {"hooks", "all", "hooks offered: all | none | a list such as console,block (docs/pv-abi.md)",
     false},
    {"api_sock", NULL, "unix socket for the JSON control protocol", false},
    {"stats_json", NULL, "write statistics here at exit", false},
    {"console_limit", "0", "bytes the guest may write to the console; 0: no limit", false},
    {"seccomp", "on", "on: each VMM thread runs under its syscall allow-list; off", false},
    {"log.level", "warn", "error|warn|info|debug", false},
};

struct sigctx {
	struct hv_vm *vm;
	bool finished;
	pthread_t thread;
};

/* SIGTERM/SIGINT: graceful stop; a second one forces. */
static void *signal_thread(void *arg)
{
	struct sigctx *c = arg;
	sigset_t set;
	int sig, n = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (__atomic_load_n(&c->finished, __ATOMIC_ACQUIRE))
			return NULL;
		pvm_log_info("signal %d: %s stop", sig, n ? "forced" : "graceful");
		hv_vm_stop(c->vm, n++ ? 0 : GRACEFUL_STOP_MS);
	}
}

static void usage(FILE *fp, struct pvm_config *cfg)
{
	fprintf(fp, "usage: pvm-vmm run --image FILE [options]\n");
	pvm_config_usage(cfg, fp);
}

static int config_error(const char *msg)
{
	fprintf(stderr, "pvm-vmm: %s\n", msg);
	return HV_EXIT_CONFIG;
}

static int load_config(struct pvm_config *cfg, struct hv_config *hc, int argc, char **argv,
		       struct pvm_err *err)
{
	int64_t v;
	int nrest = 0, ret;
	enum pvm_log_level lvl;

	ret = pvm_config_load_env(cfg, environ, err);
	if (!ret)
		ret = pvm_config_load_args(cfg, argc, argv, &nrest, err);
	if (ret)
		return ret;
	if (nrest)
		return pvm_err_set(err, -EINVAL, "unexpected argument '%s'", argv[0]);
	if (pvm_log_parse_level(pvm_config_get(cfg, "log.level"), &lvl))
		return pvm_err_set(err, -EINVAL, "--log-level: want error|warn|info|debug");
	pvm_log_set_level(lvl);
	hv_config_init(hc);
	hc->image = pvm_config_get(cfg, "image");
	if (!hc->image)
		return pvm_err_set(err, -EINVAL, "--image is required");
	ret = pvm_config_get_int(cfg, "mem", HV_MIN_MEM_MIB, HV_MAX_MEM_MIB, &v, err);
	if (ret)
		return ret;
	hc->mem_mib = (uint64_t)v;
	ret = pvm_config_get_int(cfg, "vcpus", 1, HV_MAX_VCPUS, &v, err);
	if (ret)
		return ret;
	hc->vcpus = (unsigned int)v;
	ret = pvm_config_get_int(cfg, "console_limit", 0, INT64_MAX, &v, err);
	if (ret)
		return ret;
	hc->console_limit = (uint64_t)v;
	ret = hv_platform_parse(pvm_config_get(cfg, "platform"), &hc->platform, err);
	if (ret)
		return ret;
	ret = pvm_config_get_bool(cfg, "seccomp", &hc->confine, err);
	if (ret)
		return ret;
	hc->disk = pvm_config_get(cfg, "disk");
	hc->cmdline = pvm_config_get(cfg, "cmdline");
	return hv_hooks_parse(pvm_config_get(cfg, "hooks"), &hc->offered, err);
}

static int cmd_run(int argc, char **argv)
{
	struct pvm_config cfg;
	struct pvm_err err = {0};
	struct hv_config hc;
	struct hv_vm *vm = NULL;
	struct hv_ctl *ctl = NULL;
	struct sigctx sc = {0};
	const char *path;
	sigset_t set;
	int code;

	if (pvm_config_init(&cfg, keys, PVM_ARRAY_SIZE(keys)))
		return config_error("out of memory");
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout, &cfg);
			pvm_config_free(&cfg);
			return 0;
		}
	}
	if (load_config(&cfg, &hc, argc, argv, &err)) {
		pvm_config_free(&cfg);
		return config_error(err.msg);
	}
	/* signals go to the signal thread only; block them before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (hv_vm_create(&hc, &vm, &err)) {
		pvm_config_free(&cfg);
		/* a bad setting is the caller's (2); a platform that failed is ours (1) */
		if (!err.field[0]) {
			fprintf(stderr, "pvm-vmm: %s\n", err.msg);
			return HV_EXIT_INTERNAL;
		}
		return config_error(err.msg);
	}
	path = pvm_config_get(&cfg, "api_sock");
	if (path && hv_ctl_open(vm, path, &ctl, &err)) {
		hv_vm_destroy(vm);
		pvm_config_free(&cfg);
		return config_error(err.msg);
	}
	sc.vm = vm;
	if (pthread_create(&sc.thread, NULL, signal_thread, &sc)) {
		hv_ctl_close(ctl);
		hv_vm_destroy(vm);
		pvm_config_free(&cfg);
		return config_error("cannot start the signal thread");
	}
	code = hv_vm_run(vm);
	__atomic_store_n(&sc.finished, true, __ATOMIC_RELEASE);
	pthread_kill(sc.thread, SIGTERM);
	pthread_join(sc.thread, NULL);
	hv_ctl_close(ctl);
	if (code != 0)
		fprintf(stderr, "pvm-vmm: %s\n", hv_vm_exit_reason(vm));
	else
		pvm_log_info("%s", hv_vm_exit_reason(vm));
	path = pvm_config_get(&cfg, "stats_json");
	if (path && hv_stats_write(vm, path, &err)) {
		fprintf(stderr, "pvm-vmm: %s\n", err.msg);
		if (!code)
			code = HV_EXIT_INTERNAL;
	}
	hv_vm_destroy(vm);
	pvm_config_free(&cfg);
	return code;
}

/* pvm-vmm platforms: what this host can run, and what auto picks. */
static int cmd_platforms(void)
{
	enum hv_platform_id id = hv_platform_probe();

	printf("kvm %s\nprocess yes\nauto %s\n", id == HV_PLATFORM_KVM ? "yes" : "no",
	       hv_platform_name(id));
	return 0;
}

int main(int argc, char **argv)
{
	pvm_log_init("pvm-vmm", PVM_LOG_WARN, PVM_LOG_TEXT);
	/* a console piped into a reader that quits, or a console file at its
	 * size limit (RLIMIT_FSIZE), must not kill the VM: the bytes are lost */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(
		    argc < 2 ? stderr : stdout,
		    "usage: pvm-vmm run --image FILE [--platform auto|kvm|process] [--mem MIB]\n"
		    "       [--vcpus N] [--disk FILE]\n"
		    "       [--cmdline STR] [--hooks LIST|none] [--api-sock PATH] "
		    "[--stats-json FILE]\n");
		return argc < 2 ? HV_EXIT_CONFIG : 0;
	}
	if (strcmp(argv[1], "platforms") == 0 && argc == 2)
		return cmd_platforms();
	if (strcmp(argv[1], "run") != 0)
		return config_error("unknown command (want: run or platforms)");
	return cmd_run(argc - 2, argv + 2);
}
