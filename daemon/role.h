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

extern const struct pvmd_role pvmd_role_controller;

#endif /* PVMD_ROLE_H */
