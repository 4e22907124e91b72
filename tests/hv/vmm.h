/* SPDX-License-Identifier: MIT */
/* Test helpers: run the real pvm-vmm binary and collect what it printed. */
#ifndef PVM_TESTS_HV_VMM_H
#define PVM_TESTS_HV_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "hv/hv.h"

struct vmm_result {
	int code; /* exit code, or 128 + signal */
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
};

/* Path of a guest image by workload name ("console"). Static buffer. */
const char *vmm_guest(const char *name);
/* Runs pvm-vmm with argv (NULL-terminated, without argv[0]) to the end. */
int vmm_run(struct vmm_result *r, const char *const *argv);
void vmm_result_free(struct vmm_result *r);

/* Starts pvm-vmm in the background, stdout to out_path; returns its pid. */
pid_t vmm_spawn(const char *const *argv, const char *out_path);
/* Waits for pid and returns its exit code (128 + signal when killed). */
int vmm_wait(pid_t pid);

/* Reads and parses a JSON file; NULL on error. */
json_object *vmm_read_json(const char *path);
/* Integer at a dotted path ("hooks.console.errors"); -1 when absent. */
long long vmm_json_int(json_object *o, const char *path);

/* Skips the whole test binary (exit 77) when PVM_PLATFORM names a platform
 * this machine lacks (tests/platform.h); call it first in main. */
void vmm_require_platform(void);
/* The platform the test runs on, for hv_config.platform. */
enum hv_platform_id vmm_platform(void);
/* A fresh temporary file path under the test's own directory. */
const char *vmm_tmp(const char *name);

/* Connects to a control socket (retrying while it appears); -1 on failure. */
int vmm_ctl_connect(const char *path);
/* Sends one request line and parses the answer line; NULL on failure. */
json_object *vmm_ctl_ask(int fd, const char *line);

#endif /* PVM_TESTS_HV_VMM_H */
