/* SPDX-License-Identifier: MIT */
/*
 * pvmd's roles: each role is one file with one entry point; pvmd.c parses
 * configuration and signals and runs the role that was asked for.
 * Internal to daemon/.
 */
#ifndef PVMD_ROLE_H
#define PVMD_ROLE_H

#include <signal.h>

#include "common/common.h"

struct pvmd_role {
	const char *name;
	/*
	 * Runs until a stop signal. `sigs` holds the signals pvmd blocked
	 * (SIGTERM, SIGINT, SIGHUP) for the role to sigwait() on. Returns the
	 * process exit code.
	 */
	int (*run)(const struct pvm_config *cfg, const sigset_t *sigs);
};

/* Loads every layer into cfg (argv as main's) and checks the log settings
 * without applying them. */
int pvmd_config_load(struct pvm_config *cfg, int argc, char **argv, enum pvm_log_level *level,
		     enum pvm_log_format *format, struct pvm_err *err);
/* Keeps main's argv for pvmd_reload. */
void pvmd_config_remember(int argc, char **argv);
/*
 * SIGHUP: reads the configuration again as at start-up (file < environment <
 * flags) and applies what can change in a running pvmd, the log level and
 * format; a changed key that needs a restart is logged as such. A file that
 * no longer parses leaves everything as it was.
 */
void pvmd_reload(const struct pvm_config *running);

/*
 * A one-shot subcommand (pvmd backup, pvmd restore): its keys join pvmd's,
 * so it reads the same INI file, environment and flags as the daemon and
 * finds the same store.
 */
struct pvmd_command {
	const char *name;
	const char *usage; /* after "pvmd NAME " */
	const struct pvm_config_key *keys;
	size_t nkeys;
	int (*run)(const struct pvm_config *cfg); /* returns the exit code */
};

extern const struct pvmd_command pvmd_cmd_backup, pvmd_cmd_restore;

/* The store the controller role opens: `store`, else state_dir/pvm.db
 * (written into buf). */
const char *pvmd_store_location(const struct pvm_config *cfg, char *buf, size_t size);

extern const struct pvmd_role pvmd_role_controller;
/* No --role: controller and host in one process (role_all.c). */
extern const struct pvmd_role pvmd_role_all;

/*
 * The controller as a part another role can embed (all-in-one): opens the
 * store (`store`, else under state_dir), writes the bootstrap token, starts
 * the controller (it leads when it holds the lease) and serves the API.
 * Reads the keys listen, state_dir, store, tls_cert, tls_key, metrics_open,
 * heartbeat_s, body_limit, grace_s, store_pool, sched_policy, replica.
 */
struct pvmd_controller;
int pvmd_controller_start(const struct pvm_config *cfg, struct pvmd_controller **out,
			  struct pvm_err *err);
/* "http://127.0.0.1:7070" with the port actually bound. */
const char *pvmd_controller_url(const struct pvmd_controller *c);
const char *pvmd_controller_token_path(const struct pvmd_controller *c);
/* Finishes requests in flight, stops serving, closes the store. */
void pvmd_controller_stop(struct pvmd_controller *c);

#endif /* PVMD_ROLE_H */
