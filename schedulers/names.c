/* SPDX-License-Identifier: MIT */
/* Hook lists (hv/pv_abi.h names the hooks), host states, guest kinds and plugins by name. */
#include <stdio.h>
#include <string.h>

#include "schedulers/internal.h"

static const char *const state_names[] = {
    [SCHED_HOST_READY] = "ready",
    [SCHED_HOST_UNREACHABLE] = "unreachable",
    [SCHED_HOST_DOWN] = "down",
};

static const char *const kind_names[SCHED_KIND_COUNT] = {
    [SCHED_KIND_MICROGUEST] = "microguest",
    [SCHED_KIND_LINUX] = "linux",
    [SCHED_KIND_LIBVIRT] = "libvirt",
};

int sched_hook_parse(const char *list, uint32_t *bits, struct pvm_err *err)
{
	uint32_t out = 0;
	const char *p = list;

	if (!list || !bits)
		return pvm_err_set(err, -EINVAL, "no hook list");
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int h = pv_hook_bit(p, len);

		if (h < 0)
			return pvm_err_set(err, -EINVAL, "unknown hook \"%.*s\" (known: %s)",
					   (int)(len > 32 ? 32 : len), p, PV_HOOK_NAMES);
		if (out & SCHED_HOOK_BIT(h))
			return pvm_err_set(err, -EINVAL, "hook \"%s\" named twice",
					   pv_hook_name(h));
		out |= SCHED_HOOK_BIT(h);
		if (!end)
			break;
		p = end + 1;
		if (!*p)
			return pvm_err_set(err, -EINVAL, "empty hook name after ','");
	}
	*bits = out;
	return 0;
}

int sched_hook_format(uint32_t bits, char *buf, size_t len)
{
	size_t need = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned int b = 0; b < 32; b++) {
		char tmp[16];
		const char *name;
		int n;

		if (!(bits & (1u << b)))
			continue;
		name = pv_hook_name(b);
		if (!name) {
			snprintf(tmp, sizeof(tmp), "bit%u", b);
			name = tmp;
		}
		n = snprintf(len > need ? buf + need : NULL, len > need ? len - need : 0, "%s%s",
			     need ? "," : "", name);
		need += (size_t)n;
	}
	return (int)need;
}

const char *sched_host_state_name(enum sched_host_state s)
{
	return (unsigned int)s < PVM_ARRAY_SIZE(state_names) ? state_names[s] : NULL;
}

int sched_host_state_parse(const char *s, enum sched_host_state *out)
{
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(state_names); i++)
		if (s && !strcmp(s, state_names[i])) {
			*out = (enum sched_host_state)i;
			return 0;
		}
	return -EINVAL;
}

const char *sched_kind_name(enum sched_kind k)
{
	return (unsigned int)k < SCHED_KIND_COUNT ? kind_names[k] : NULL;
}

int sched_kind_parse(const char *s, enum sched_kind *out)
{
	for (unsigned int i = 0; i < SCHED_KIND_COUNT; i++)
		if (s && !strcmp(s, kind_names[i])) {
			*out = (enum sched_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *sched_filter_name(enum sched_filter_id id)
{
	const struct sched_filter_plugin *p = sched_filter_plugin(id);

	return p ? p->name : NULL;
}

const char *sched_scorer_name(enum sched_scorer_id id)
{
	const struct sched_scorer_plugin *p = sched_scorer_plugin(id);

	return p ? p->name : NULL;
}
