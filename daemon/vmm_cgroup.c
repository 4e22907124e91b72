/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 limits for VMMs: <root>/pvm/<guest> with memory.max and cpu.max.
 * Hosts differ: a pure v2 hierarchy at /sys/fs/cgroup, a hybrid one with v2
 * at /sys/fs/cgroup/unified (often without controllers, which v1 holds), or
 * none. What is missing is logged once and VMMs run without those limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/vmm.h"

/* Guest memory plus what the VMM itself needs (page tables, threads, buffers). */
#define VMM_OVERHEAD_MIB 64

static bool logged_missing, logged_nocontrollers;

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[4200];
	ssize_t len = (ssize_t)strlen(val), n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, (size_t)len);
	close(fd);
	return n == len ? 0 : -EIO;
}

static bool has_file(const char *dir, const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static const char *v2_root(void)
{
	static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(roots); i++)
		if (has_file(roots[i], "cgroup.controllers"))
			return roots[i];
	return NULL;
}

int pvmd_cgroup_prepare(const char *name, uint64_t memory_mib, unsigned vcpus, char *out,
			size_t len)
{
	const char *root = v2_root();
	char parent[4096], val[64];
	bool mem, cpu;

	out[0] = '\0';
	if (!root) {
		if (!logged_missing)
			pvm_log_warn("cgroup v2 is not mounted here: VMMs run without cgroup "
				     "limits");
		logged_missing = true;
		return 0;
	}
	snprintf(parent, sizeof(parent), "%s/pvm", root);
	if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
		pvm_log_warn("cgroup %s: %s: VMMs run without cgroup limits", parent,
			     strerror(errno));
		return 0;
	}
	/* Delegating controllers fails where cgroup v1 holds them (hybrid hosts). */
	write_file(root, "cgroup.subtree_control", "+memory +cpu");
	write_file(parent, "cgroup.subtree_control", "+memory +cpu");
	if ((size_t)snprintf(out, len, "%s/%s", parent, name) >= len ||
	    (mkdir(out, 0755) < 0 && errno != EEXIST)) {
		pvm_log_warn("cgroup for %s: %s: no limits", name, strerror(errno));
		out[0] = '\0';
		return 0;
	}
	mem = has_file(out, "memory.max");
	cpu = has_file(out, "cpu.max");
	if (mem) {
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)(memory_mib + VMM_OVERHEAD_MIB) << 20);
		if (write_file(out, "memory.max", val) < 0)
			pvm_log_warn("cgroup %s: cannot set memory.max", out);
	}
	if (cpu) {
		snprintf(val, sizeof(val), "%u 100000", vcpus * 100000u);
		if (write_file(out, "cpu.max", val) < 0)
			pvm_log_warn("cgroup %s: cannot set cpu.max", out);
	}
	if ((!mem || !cpu) && !logged_nocontrollers) {
		pvm_log_warn("cgroup v2 at %s lacks the %s%s%s controller: VMMs are grouped "
			     "there but not limited by it",
			     root, mem ? "" : "memory", !mem && !cpu ? " and " : "",
			     cpu ? "" : "cpu");
		logged_nocontrollers = true;
	}
	return 0;
}

void pvmd_cgroup_remove(const char *name)
{
	const char *root = v2_root();
	char path[4200];

	if (!root)
		return;
	snprintf(path, sizeof(path), "%s/pvm/%s", root, name);
	rmdir(path); /* fails while processes remain, or when it was never made */
}
