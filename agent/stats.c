/* SPDX-License-Identifier: MIT */
/* Guest-side statistics for agent reports; freestanding. */
#include "agent/agent.h"
#include "agent/wire.h"

int agent_stats_hook(struct agent_stats *s, uint8_t hook, uint64_t cycles, uint64_t bytes,
		     bool error)
{
	struct agent_hook_stats *h = 0;

	if (hook >= AGENT_MAX_HOOKS)
		return AGENT_EINVAL;
	for (unsigned i = 0; i < s->nhooks && !h; i++)
		if (s->hooks[i].hook == hook)
			h = &s->hooks[i];
	if (!h) {
		if (s->nhooks == AGENT_REPORT_HOOKS)
			return AGENT_EINVAL;
		h = &s->hooks[s->nhooks++];
		__builtin_memset(h, 0, sizeof(*h));
		h->hook = hook;
	}
	h->calls++;
	h->cycles += cycles;
	h->bytes += bytes;
	h->errors += error;
	return 0;
}

static bool name_ok(const char *name, size_t *len)
{
	size_t n = wire_strnlen(name, AGENT_NAME_MAX + 1);

	if (n == 0 || n > AGENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return false;
	}
	*len = n;
	return true;
}

int agent_stats_counter(struct agent_stats *s, const char *name, uint64_t value)
{
	struct agent_counter *c;
	size_t n;

	if (!name_ok(name, &n))
		return AGENT_EINVAL;
	for (unsigned i = 0; i < s->ncounters; i++) {
		c = &s->counters[i];
		if (wire_strnlen(c->name, AGENT_NAME_MAX + 1) == n &&
		    __builtin_memcmp(c->name, name, n) == 0) {
			c->value = value;
			return 0;
		}
	}
	if (s->ncounters == AGENT_REPORT_COUNTERS)
		return AGENT_EINVAL;
	c = &s->counters[s->ncounters++];
	__builtin_memset(c, 0, sizeof(*c));
	wire_copy(c->name, name, n);
	c->value = value;
	return 0;
}

void agent_stats_fill(void *stats, struct agent_report *r)
{
	const struct agent_stats *s = stats;

	r->nhooks = s->nhooks;
	r->ncounters = s->ncounters;
	wire_copy(r->hooks, s->hooks, sizeof(r->hooks[0]) * s->nhooks);
	wire_copy(r->counters, s->counters, sizeof(r->counters[0]) * s->ncounters);
}
