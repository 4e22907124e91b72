/* SPDX-License-Identifier: MIT */
/*
 * pvmd: configuration (INI < PVM_* environment < flags), logging, signals,
 * then the role asked for. Each role lives in its own role_*.c file; the
 * one-shot subcommands (backup, restore) in backup.c.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/host.h"
#include "daemon/role.h"

/* pvmd's own keys and the controller role's; each other role brings its own table. */
static const struct pvm_config_key main_keys[] = {
    {"config", NULL, "INI configuration file", false},
    {"role", "all-in-one", "all-in-one (controller and host), controller or host", false},
    {"listen", "127.0.0.1:7070", "ADDR:PORT the REST API listens on (port 0: any)", false},
    {"state_dir", "./pvm-state", "directory for the store and the admin token", false},
    {"tls_cert", NULL, "PEM certificate: serve HTTPS", false},
    {"tls_key", NULL, "PEM private key of --tls-cert", false},
    {"metrics_open", "false", "serve /metrics without a token", true},
    {"heartbeat_s", "10", "host heartbeat interval; 3 missed make a host unreachable", false},
    {"body_limit", "1048576", "largest request body in bytes", false},
    {"store", NULL, "the store: a SQLite file or postgres://... (default: state_dir/pvm.db)",
     false},
    {"store_pool", "8", "store connections (parallel readers)", false},
    {"replica", NULL, "this controller's name in the leader lease (default: host:pid)", false},
    {"grace_s", "10", "how long SIGTERM waits for requests in flight", false},
    {"sched_policy", NULL, "scheduler policy over the default (see sched_policy_parse)", false},
    {"log.level", "info", "error, warn, info or debug", false},
    {"log.format", "text", "text, json or journal", false},
    {"help", "false", "show this help", true},
};

static const struct pvmd_role *const roles[] = {&pvmd_role_all, &pvmd_role_controller,
						&pvmd_role_host};

static const struct pvmd_command *const commands[] = {&pvmd_cmd_backup, &pvmd_cmd_restore};

/* One key table for the configuration: main's, every role's, then the
 * subcommand's (cmd may be NULL). */
static struct pvm_config_key *all_keys(const struct pvmd_command *cmd, size_t *n)
{
	size_t nmain = PVM_ARRAY_SIZE(main_keys), ncmd = cmd ? cmd->nkeys : 0;
	struct pvm_config_key *k = malloc((nmain + pvmd_nhost_keys + ncmd) * sizeof(*k));

	if (!k)
		return NULL;
	memcpy(k, main_keys, sizeof(main_keys));
	memcpy(k + nmain, pvmd_host_keys, pvmd_nhost_keys * sizeof(*k));
	if (ncmd)
		memcpy(k + nmain + pvmd_nhost_keys, cmd->keys, ncmd * sizeof(*k));
	*n = nmain + pvmd_nhost_keys + ncmd;
	return k;
}

/* "pvmd backup ...": the subcommand argv[1] names, or NULL (the daemon). */
static const struct pvmd_command *find_command(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < PVM_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			return commands[i];
	return NULL;
}

static int setup(struct pvm_config *cfg, int argc, char **argv, struct pvm_err *err)
{
	enum pvm_log_level level;
	enum pvm_log_format format;
	int ret;

	ret = pvmd_config_load(cfg, argc, argv, &level, &format, err);
	if (ret < 0)
		return ret;
	pvm_log_init("pvmd", level, format);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		pvm_log_warn("%s", cfg->warnings[i]);
	pvmd_config_remember(argc, argv);
	return 0;
}

int main(int argc, char **argv)
{
	const struct pvmd_command *cmd = find_command(argc, argv);
	struct pvm_config_key *keys;
	struct pvm_config cfg;
	struct pvm_err err = {0};
	size_t nkeys;
	const char *name;
	sigset_t sigs;
	bool help = false;
	int code = 2;

	keys = all_keys(cmd, &nkeys);
	if (!keys || pvm_config_init(&cfg, keys, nkeys) < 0) {
		fprintf(stderr, "pvmd: out of memory\n");
		free(keys);
		return 1;
	}
	/* A subcommand's own flags follow its name, as the daemon's follow argv[0]. */
	if (setup(&cfg, cmd ? argc - 1 : argc, cmd ? argv + 1 : argv, &err) < 0) {
		fprintf(stderr, "pvmd: %s\n", err.msg);
		if (cmd)
			fprintf(stderr, "usage: pvmd %s %s\n", cmd->name, cmd->usage);
		else
			fprintf(stderr, "usage: pvmd [--role ROLE] [options] | pvmd backup|restore "
					"...; pvmd --help lists them\n");
		goto out;
	}
	pvm_config_get_bool(&cfg, "help", &help, NULL);
	if (help) {
		if (cmd)
			printf("usage: pvmd %s %s\n", cmd->name, cmd->usage);
		else
			printf("usage: pvmd [options]\n       pvmd backup --to FILE [options]\n"
			       "       pvmd restore --from FILE [--force] [options]\n");
		pvm_config_usage(&cfg, stdout);
		code = 0;
		goto out;
	}
	if (cmd) {
		code = cmd->run(&cfg);
		goto out;
	}
	/* Block the stop signals before any thread starts, so every thread
	 * inherits the mask and the role alone receives them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	name = pvm_config_get(&cfg, "role");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(roles); i++) {
		if (strcmp(roles[i]->name, name) == 0) {
			code = roles[i]->run(&cfg, &sigs);
			goto out;
		}
	}
	fprintf(stderr, "pvmd: unknown role %s (built: all-in-one, controller, host)\n", name);
out:
	pvm_config_free(&cfg);
	free(keys);
	return code;
}
