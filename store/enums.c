/* SPDX-License-Identifier: MIT */
/* The spelling of every store enum, shared by the database and the API. */
#include <errno.h>
#include <string.h>

#include "store/store-int.h"

static int parse_name(const char *const *names, size_t n, const char *s, int *out)
{
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!strcmp(names[i], s)) {
			*out = (int)i;
			return 0;
		}
	}
	return -EINVAL;
}

#define STORE_ENUM(type, fn, ...)                                                                  \
	static const char *const fn##_names[] = {__VA_ARGS__};                                     \
	const char *store_##fn##_name(enum type v)                                                 \
	{                                                                                          \
		if ((unsigned)v >= PVM_ARRAY_SIZE(fn##_names))                                     \
			return "invalid";                                                          \
		return fn##_names[v];                                                              \
	}                                                                                          \
	const char *store_##fn##_nth(unsigned i)                                                   \
	{                                                                                          \
		return i < PVM_ARRAY_SIZE(fn##_names) ? fn##_names[i] : NULL;                      \
	}                                                                                          \
	int store_##fn##_parse(const char *s, enum type *out)                                      \
	{                                                                                          \
		int v, ret;                                                                        \
                                                                                                   \
		ret = parse_name(fn##_names, PVM_ARRAY_SIZE(fn##_names), s, &v);                   \
		if (ret == 0)                                                                      \
			*out = (enum type)v;                                                       \
		return ret;                                                                        \
	}

STORE_ENUM(store_host_state, host_state, "ready", "not_ready", "unreachable")
STORE_ENUM(store_guest_kind, guest_kind, "microguest", "linux", "libvirt")
STORE_ENUM(store_desired_state, desired_state, "running", "stopped")
STORE_ENUM(store_observed_state, observed_state, "pending", "scheduled", "starting", "running",
	   "stopped", "failed", "unknown")
STORE_ENUM(store_restart_policy, restart_policy, "never", "on-failure", "always")
STORE_ENUM(store_cap_state, cap_state, "offered", "accepted", "refused")
STORE_ENUM(store_token_role, token_role, "admin", "operator", "reader", "host")
