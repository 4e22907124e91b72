/* SPDX-License-Identifier: MIT */
/*
 * The host-side agent session rendered as JSON for the control socket's
 * `agent` request. The document's schema is in docs/agent-protocol.md.
 */
#include <errno.h>
#include <stdio.h>

#include <json-c/json.h>

#include "agent/session.h"
#include "common/common.h"

#define MS 1000000ull

/* json_object_object_add takes the reference; a NULL value becomes null. */
static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

static json_object *u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *age_ms(uint64_t then, uint64_t now)
{
	return u64(now > then ? (now - then) / MS : 0);
}

static const char *guest_kind_name(uint8_t kind)
{
	return kind == AGENT_GUEST_MICRO ? "microguest" : "linux";
}

static json_object *hello_json(const struct agent_host *h, uint64_t now)
{
	const struct agent_hello *he = &h->hello;
	const uint8_t *id = he->boot_id;
	json_object *o = json_object_new_object();
	char ver[16], uuid[40];

	snprintf(ver, sizeof(ver), "%d.%d", he->agent_version >> 8, he->agent_version & 0xff);
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0],
		 id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11],
		 id[12], id[13], id[14], id[15]);
	add(o, "agent_version", json_object_new_string(ver));
	add(o, "protocol_min", json_object_new_int(he->proto_min));
	add(o, "protocol_max", json_object_new_int(he->proto_max));
	add(o, "guest_kind", json_object_new_string(guest_kind_name(he->guest_kind)));
	add(o, "os", json_object_new_string(he->os));
	add(o, "boot_id", json_object_new_string(uuid));
	add(o, "age_ms", age_ms(h->hello_ns, now));
	return o;
}

static json_object *hooks_array(uint32_t bitmap)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < AGENT_MAX_HOOKS; i++)
		if (bitmap & (1u << i))
			json_object_array_add(a, json_object_new_string(agent_hook_name(i)));
	return a;
}

static const char *refusal_name(uint8_t r)
{
	switch (r) {
	case AGENT_REFUSE_NOT_NEEDED:
		return "not_needed";
	case AGENT_REFUSE_DISABLED:
		return "disabled";
	case AGENT_REFUSE_UNSUPPORTED:
		return "unsupported";
	case AGENT_REFUSE_HOST_REFUSED:
		return "host_refused";
	case AGENT_REFUSE_BAD_VERSION:
		return "bad_version";
	}
	return "unknown";
}

/* The names of the bits set, "<unnamed>N" for a bit without one. */
static json_object *bit_names(uint32_t set, const char *(*name_of)(unsigned), const char *unnamed)
{
	json_object *names = json_object_new_array();

	for (unsigned i = 0; i < 32; i++) {
		const char *name = name_of(i);
		char other[16];

		if (!(set & (1u << i)))
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "%s%u", unnamed, i);
			name = other;
		}
		json_object_array_add(names, json_object_new_string(name));
	}
	return names;
}

static json_object *kvm_json(const struct agent_negotiation *n)
{
	json_object *o = json_object_new_object();
	json_object *names = bit_names(n->kvm_features, pvm_kvm_feature_name, "bit");

	add(o, "cpuid_read", json_object_new_boolean(!!(n->kvm_flags & AGENT_KVM_CPUID_READ)));
	add(o, "signature_kvm", json_object_new_boolean(!!(n->kvm_flags & AGENT_KVM_SIGNATURE)));
	add(o, "features", u64(n->kvm_features));
	add(o, "feature_names", names);
	add(o, "clocksource", json_object_new_string(n->clocksource));
	add(o, "kvm_clock_in_use",
	    json_object_new_boolean(!!(n->kvm_flags & AGENT_KVM_CLOCK_IN_USE)));
	add(o, "steal_ticks", u64(n->steal_ticks));
	add(o, "steal_time_nonzero",
	    json_object_new_boolean(!!(n->kvm_flags & AGENT_KVM_STEAL_NONZERO)));
	return o;
}

static json_object *neg_json(const struct agent_host *h, uint64_t now)
{
	static const char *const status[] = {"accepted", "refused", "none"};
	const struct agent_negotiation *n = &h->neg;
	json_object *o = json_object_new_object();
	json_object *refused = json_object_new_array();

	for (unsigned i = 0; i < n->nrefused; i++) {
		json_object *r = json_object_new_object();

		add(r, "hook", json_object_new_string(agent_hook_name(n->refused[i].hook)));
		add(r, "reason", json_object_new_string(refusal_name(n->refused[i].reason)));
		json_object_array_add(refused, r);
	}
	add(o, "status", json_object_new_string(status[n->status]));
	add(o, "pv_abi_version", json_object_new_int(n->pv_abi_version));
	add(o, "offered", hooks_array(n->offered));
	add(o, "accepted", hooks_array(n->accepted));
	add(o, "refused", refused);
	add(o, "kvm", kvm_json(n));
	add(o, "virtio_devices", bit_names(n->virtio_devices, pvm_virtio_device_name, "type"));
	add(o, "age_ms", age_ms(h->neg_ns, now));
	return o;
}

static json_object *guest_hook_json(const struct agent_hook_stats *s)
{
	json_object *e = json_object_new_object();

	add(e, "calls", u64(s->calls));
	add(e, "cycles", u64(s->cycles));
	add(e, "cycles_per_call", u64(s->calls ? s->cycles / s->calls : 0));
	add(e, "bytes", u64(s->bytes));
	add(e, "errors", u64(s->errors));
	return e;
}

static json_object *report_json(const struct agent_host *h, uint64_t now)
{
	const struct agent_report *r = &h->report;
	json_object *o = json_object_new_object();
	json_object *hooks = json_object_new_object();
	json_object *counters = json_object_new_object();

	for (unsigned i = 0; i < r->nhooks; i++)
		add(hooks, agent_hook_name(r->hooks[i].hook), guest_hook_json(&r->hooks[i]));
	for (unsigned i = 0; i < r->ncounters; i++)
		add(counters, r->counters[i].name, u64(r->counters[i].value));
	add(o, "report_no", u64(r->report_no));
	add(o, "interval_ms", u64(r->interval_ms));
	add(o, "uptime_ns", u64(r->uptime_ns));
	add(o, "age_ms", age_ms(h->report_ns, now));
	add(o, "stale", json_object_new_boolean(session_report_stale(h, now)));
	add(o, "hooks", hooks);
	add(o, "counters", counters);
	return o;
}

static json_object *counters_json(const struct agent_host *h)
{
	json_object *o = json_object_new_object();
	json_object *by = json_object_new_object();

	for (unsigned i = 1; i < AGENT_R_COUNT; i++)
		if (h->dec.by_reason[i])
			add(by, agent_reason_name(i), u64(h->dec.by_reason[i]));
	add(o, "bytes_in", u64(h->bytes_in));
	add(o, "frames", u64(h->dec.frames));
	add(o, "garbage_bytes", u64(h->dec.garbage_bytes));
	add(o, "rejected", u64(h->dec.rejected));
	add(o, "rejected_by_reason", by);
	add(o, "rate_limited_frames", u64(h->rl_frames));
	add(o, "rate_limited_bytes", u64(h->rl_bytes));
	add(o, "stale_replies", u64(h->stale_replies));
	add(o, "syncs_sent", u64(h->syncs_sent));
	add(o, "syncs_answered", u64(h->syncs_answered));
	add(o, "pings_sent", u64(h->pings_sent));
	add(o, "pongs", u64(h->pongs));
	return o;
}

static const char *state_name(const struct agent_host *h)
{
	if (h->have_bye)
		return "gone";
	if (!h->have_hello)
		return "waiting";
	return h->syncing ? "syncing" : "connected";
}

static json_object *to_json(const struct agent_host *h, uint64_t now_ns)
{
	json_object *o = json_object_new_object();
	json_object *x;

	if (!o)
		return NULL;
	add(o, "protocol_version", json_object_new_int(AGENT_PROTO_VERSION));
	add(o, "state", json_object_new_string(state_name(h)));
	add(o, "syncing", json_object_new_boolean(h->syncing));
	add(o, "hello", h->have_hello ? hello_json(h, now_ns) : NULL);
	add(o, "negotiation", h->have_neg ? neg_json(h, now_ns) : NULL);
	add(o, "report", h->have_report ? report_json(h, now_ns) : NULL);
	x = NULL;
	if (h->have_heartbeat) {
		x = json_object_new_object();
		add(x, "uptime_ns", u64(h->heartbeat.uptime_ns));
		add(x, "reports_sent", u64(h->heartbeat.reports_sent));
		add(x, "age_ms", age_ms(h->heartbeat_ns, now_ns));
	}
	add(o, "heartbeat", x);
	add(o, "last_frame_age_ms", h->last_frame_ns ? age_ms(h->last_frame_ns, now_ns) : NULL);
	x = NULL;
	if (h->have_ack) {
		x = json_object_new_object();
		add(x, "request", json_object_new_string(agent_type_name(h->ack.req_type)));
		add(x, "request_seq", u64(h->ack.req_seq));
		add(x, "status", json_object_new_int(h->ack.status));
		add(x, "age_ms", age_ms(h->ack_ns, now_ns));
	}
	add(o, "last_ack", x);
	x = NULL;
	if (h->have_bye) {
		x = json_object_new_object();
		add(x, "reason",
		    json_object_new_string(h->bye_reason == AGENT_BYE_SHUTDOWN ? "shutdown"
									       : "exit"));
		add(x, "age_ms", age_ms(h->bye_ns, now_ns));
	}
	add(o, "bye", x);
	x = NULL;
	if (h->last_reject) {
		x = json_object_new_object();
		add(x, "reason", json_object_new_string(agent_reason_name(h->last_reject)));
		add(x, "age_ms", age_ms(h->last_reject_ns, now_ns));
	}
	add(o, "last_rejection", x);
	add(o, "ping_rtt_us", h->pongs ? u64(h->last_rtt_ns / 1000) : NULL);
	add(o, "counters", counters_json(h));
	return o;
}

json_object *agent_host_to_json(struct agent_host *h, uint64_t now_ns)
{
	json_object *o;

	pthread_mutex_lock(&h->lock);
	o = to_json(h, now_ns);
	pthread_mutex_unlock(&h->lock);
	return o;
}

static int merge(const struct agent_host *h, json_object *stats, uint64_t now_ns)
{
	const struct agent_report *r = &h->report;
	json_object *hooks, *agent, *counters;

	if (!json_object_object_get_ex(stats, "hooks", &hooks)) {
		hooks = json_object_new_object();
		if (!hooks)
			return -ENOMEM;
		add(stats, "hooks", hooks);
	}
	if (!json_object_is_type(hooks, json_type_object))
		return -EINVAL;
	agent = json_object_new_object();
	if (!agent)
		return -ENOMEM;
	add(stats, "agent", agent);
	add(agent, "state", json_object_new_string(state_name(h)));
	add(agent, "report_no", h->have_report ? u64(r->report_no) : NULL);
	add(agent, "age_ms", h->have_report ? age_ms(h->report_ns, now_ns) : NULL);
	add(agent, "stale", json_object_new_boolean(session_report_stale(h, now_ns)));
	counters = json_object_new_object();
	add(agent, "counters", counters);
	if (!h->have_report)
		return 0;
	for (unsigned i = 0; i < r->ncounters; i++)
		add(counters, r->counters[i].name, u64(r->counters[i].value));
	for (unsigned i = 0; i < r->nhooks; i++) {
		const char *name = agent_hook_name(r->hooks[i].hook);
		json_object *hook;

		if (!json_object_object_get_ex(hooks, name, &hook)) {
			hook = json_object_new_object();
			add(hooks, name, hook);
		}
		if (json_object_is_type(hook, json_type_object))
			add(hook, "guest", guest_hook_json(&r->hooks[i]));
	}
	return 0;
}

int agent_host_merge_stats(struct agent_host *h, json_object *stats, uint64_t now_ns)
{
	int ret;

	if (!json_object_is_type(stats, json_type_object))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	ret = merge(h, stats, now_ns);
	pthread_mutex_unlock(&h->lock);
	return ret;
}
