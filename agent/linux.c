/* SPDX-License-Identifier: MIT */
/* Reading the KVM pv state and workload counters of a running Linux kernel. */
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "agent/linux.h"

/* Reads the first line of root+path into buf without its newline. */
static int read_line(const char *root, const char *path, char *buf, size_t len)
{
	char full[4096];
	FILE *f;
	int ret = 0;

	snprintf(full, sizeof(full), "%s%s", root, path);
	f = fopen(full, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = -ENODATA;
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return ret;
}

int agent_linux_clocksource(const char *root, char *out, size_t len)
{
	char line[256];
	size_t n = 0;
	int ret;

	ret = read_line(root, "/sys/devices/system/clocksource/clocksource0/current_clocksource",
			line, sizeof(line));
	if (ret)
		return ret;
	/* Keep what the protocol accepts: printable, bounded. */
	for (const char *p = line; *p && n + 1 < len && n < AGENT_CLOCKSOURCE_MAX; p++)
		out[n++] = (*p >= 0x20 && *p <= 0x7e) ? *p : '?';
	out[n] = '\0';
	return 0;
}

uint32_t agent_linux_virtio_devices(const char *root)
{
	char path[4096], line[32];
	uint32_t set = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/sys/bus/virtio/devices", root);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char rel[512], *end;
		unsigned long id;

		if (e->d_name[0] == '.')
			continue;
		/* "0x0003": the device type, as the transport read it. */
		snprintf(rel, sizeof(rel), "/sys/bus/virtio/devices/%s/device", e->d_name);
		if (read_line(root, rel, line, sizeof(line)) != 0)
			continue;
		id = strtoul(line, &end, 16);
		if (end != line && *end == '\0' && id > 0 && id < 32)
			set |= 1u << id;
	}
	closedir(d);
	return set;
}

int agent_linux_stat(const char *root, struct agent_linux_stat *st)
{
	char path[4096], line[1024];
	unsigned long long v[8];
	bool cpu = false;
	FILE *f;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/proc/stat", root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long x;

		if (!cpu && sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
				   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
			st->steal_ticks = v[7];
			cpu = true;
		} else if (sscanf(line, "ctxt %llu", &x) == 1) {
			st->ctxt = x;
		} else if (sscanf(line, "intr %llu", &x) == 1) {
			st->intr = x;
		} else if (sscanf(line, "processes %llu", &x) == 1) {
			st->processes = x;
		} else if (sscanf(line, "procs_running %llu", &x) == 1) {
			st->procs_running = x;
		}
	}
	fclose(f);
	return cpu ? 0 : -ENODATA;
}

void agent_linux_cpuid(uint32_t *flags, uint32_t *features)
{
	unsigned a, b, c, d;
	char sig[13];

	*flags = 0;
	*features = 0;
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 31))) /* no hypervisor: the 0x4000000x leaves mean nothing */
		return;
	*flags |= AGENT_KVM_CPUID_READ;
	__cpuid(0x40000000, a, b, c, d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = '\0';
	if (strcmp(sig, "KVMKVMKVM") != 0 || a < 0x40000001)
		return;
	*flags |= AGENT_KVM_SIGNATURE;
	__cpuid(0x40000001, a, b, c, d);
	*features = a;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int agent_linux_boot_id(const char *root, uint8_t id[16])
{
	char line[128];
	int n = 0, ret;

	ret = read_line(root, "/proc/sys/kernel/random/boot_id", line, sizeof(line));
	if (ret)
		return ret;
	for (const char *p = line; *p && n < 32; p++) {
		int h = hex(*p);

		if (*p == '-')
			continue;
		if (h < 0)
			return -EINVAL;
		if (n % 2 == 0)
			id[n / 2] = (uint8_t)(h << 4);
		else
			id[n / 2] |= (uint8_t)h;
		n++;
	}
	return n == 32 ? 0 : -EINVAL;
}

void agent_linux_os(char *out, size_t len)
{
	struct utsname u;

	if (uname(&u) != 0) {
		snprintf(out, len, "Linux");
		return;
	}
	snprintf(out, len, "%s %s", u.sysname, u.release);
	for (char *p = out; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

void agent_linux_negotiation(const char *root, struct agent_negotiation *n)
{
	struct agent_linux_stat st;

	memset(n, 0, sizeof(*n));
	n->status = AGENT_NEG_NONE;
	agent_linux_cpuid(&n->kvm_flags, &n->kvm_features);
	if (agent_linux_clocksource(root, n->clocksource, sizeof(n->clocksource)) == 0 &&
	    strcmp(n->clocksource, "kvm-clock") == 0)
		n->kvm_flags |= AGENT_KVM_CLOCK_IN_USE;
	n->virtio_devices = agent_linux_virtio_devices(root);
	if (agent_linux_stat(root, &st) == 0) {
		n->steal_ticks = st.steal_ticks;
		if (st.steal_ticks)
			n->kvm_flags |= AGENT_KVM_STEAL_NONZERO;
	}
}

static void counter(struct agent_report *r, const char *name, uint64_t v)
{
	struct agent_counter *c = &r->counters[r->ncounters++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = v;
}

void agent_linux_fill_report(const char *root, struct agent_report *r)
{
	struct agent_linux_stat st;

	if (agent_linux_stat(root, &st) != 0)
		return;
	counter(r, "steal_ticks", st.steal_ticks);
	counter(r, "ctxt", st.ctxt);
	counter(r, "intr", st.intr);
	counter(r, "processes", st.processes);
	counter(r, "procs_running", st.procs_running);
}
