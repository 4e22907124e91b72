/* SPDX-License-Identifier: MIT */
/*
 * The shapes of the API's answers, as the OpenAPI document states them.
 * Request bodies are checked against their tables; answers are built by the
 * encoders beside each handler, and the api_openapi test checks every
 * route's live answer against these tables through the document, so an
 * encoder and its table cannot drift apart unnoticed.
 */
#include "api/handlers.h"
#include "store/store.h"

#define ANY_INT	 .type = PVM_JSON_INT, .required = true, .min = INT64_MIN, .max = INT64_MAX
#define COUNT	 .type = PVM_JSON_INT, .required = true, .max = INT64_MAX
#define MS	 .type = PVM_JSON_INT, .required = true, .max = INT64_MAX, .doc = "ms since the epoch"
#define STR	 .type = PVM_JSON_STRING, .required = true
#define OBJ	 .type = PVM_JSON_OBJECT, .required = true
#define BOOL	 .type = PVM_JSON_BOOL, .required = true
#define NUM	 .type = PVM_JSON_DOUBLE, .required = true, .min = 0, .max = 0
#define TABLE(t) .fields = t, .nfields = PVM_ARRAY_SIZE(t)
#define ITEMS(t) .type = PVM_JSON_ARRAY, .required = true, .item = &t
#define GEN                                                                                        \
	{                                                                                          \
		.name = "generation", COUNT, .doc = "the ETag; moves with every change"            \
	}
#define CREATED                                                                                    \
	{                                                                                          \
		.name = "created_ms", MS                                                           \
	}
#define UPDATED                                                                                    \
	{                                                                                          \
		.name = "updated_ms", MS                                                           \
	}

static const struct pvm_json_field sizes[] = {
    {.name = "cpus", ANY_INT},
    {.name = "memory_mib", ANY_INT},
    {.name = "disk_gib", ANY_INT},
};

static const struct pvm_json_field host[] = {
    {.name = "id", STR},
    {.name = "name", STR},
    {.name = "address", STR},
    {.name = "state", STR, .name_of = store_host_state_nth},
    {.name = "cordoned", BOOL},
    {.name = "draining", BOOL},
    {.name = "labels", OBJ},
    {.name = "capabilities", OBJ, .doc = "what its last heartbeat reported"},
    {.name = "cpus", COUNT},
    {.name = "memory_mib", COUNT},
    {.name = "disk_gib", COUNT},
    {.name = "free",
     OBJ,
     TABLE(sizes),
     .doc = "what placed guests leave (negative: overcommitted)"},
    {.name = "last_heartbeat_ms", MS},
    GEN,
    CREATED,
    UPDATED,
};

static const struct pvm_json_field guest[] = {
    {.name = "id", STR},
    {.name = "name", STR},
    {.name = "kind", STR, .name_of = store_guest_kind_nth},
    {.name = "desired_state", STR, .name_of = store_desired_state_nth},
    {.name = "observed_state", STR, .name_of = store_observed_state_nth},
    {.name = "restart_policy", STR, .name_of = store_restart_policy_nth},
    {.name = "vcpus", COUNT},
    {.name = "memory_mib", COUNT},
    {.name = "disk_gib", COUNT},
    {.name = "host_id", STR, .nullable = true, .doc = "null until placed"},
    {.name = "platform",
     STR,
     .nullable = true,
     .name_of = pvm_platform_name,
     .doc = "the platform its host's VMM runs it on (the spec's platform is what it requires)"},
    {.name = "spec", OBJ, .doc = "the GuestSpec it was created with"},
    {.name = "image_source",
     .type = PVM_JSON_STRING,
     .doc = "in a host's assignments only: the source of the registered image it names"},
    GEN,
    CREATED,
    UPDATED,
};

static const struct pvm_json_field cap[] = {
    {.name = "name", STR},
    {.name = "state", STR, .name_of = store_cap_state_nth},
    {.name = "abi_version", COUNT},
    {.name = "reason", .type = PVM_JSON_STRING, .doc = "why it was refused"},
};
static const struct pvm_json_field cap_item = {.type = PVM_JSON_OBJECT, TABLE(cap)};

static const struct pvm_json_field hook_stat[] = {
    {.name = "hook", STR},
    {.name = "calls", COUNT},
    {.name = "doorbells", COUNT},
    {.name = "bytes", COUNT},
    {.name = "errors", COUNT},
    {.name = "exits_avoided", COUNT, .doc = "as the VMM counted what it served"},
    {.name = "histogram", .type = PVM_JSON_OBJECT, .required = true, .nullable = true},
    UPDATED,
};
static const struct pvm_json_field hook_stat_item = {.type = PVM_JSON_OBJECT, TABLE(hook_stat)};

/* GET /v1/guests/{id} adds these to the guest (api_guest_answer). */
static const struct pvm_json_field guest_detail[] = {
    {.name = "capabilities", ITEMS(cap_item), .doc = "the negotiated hooks"},
    {.name = "hook_stats", ITEMS(hook_stat_item)},
    {.name = "exits", OBJ, .doc = "vCPU exits by reason, as the VMM counted them"},
    {.name = "agent",
     OBJ,
     .nullable = true,
     .doc = "the guest agent's state: its own word, never used for placement"},
};

static const struct pvm_json_field image[] = {
    {.name = "id", STR},
    {.name = "name", STR},
    {.name = "format", STR},
    {.name = "source", STR},
    {.name = "size_bytes", COUNT},
    {.name = "sha256", STR, .nullable = true},
    GEN,
    CREATED,
};

static const struct pvm_json_field token[] = {
    {.name = "id", STR},
    {.name = "name", STR},
    {.name = "role", STR, .name_of = store_token_role_nth},
    {.name = "host_id", STR, .nullable = true, .doc = "the host a host token speaks for"},
    {.name = "revoked", BOOL},
    GEN,
    CREATED,
    {.name = "expires_at",
     STR,
     .nullable = true,
     .doc = "RFC 3339; null: never. An expired token gets 401 token-expired"},
    {.name = "secret", .type = PVM_JSON_STRING, .doc = "create only: the secret, shown once"},
};

static const struct pvm_json_field event[] = {
    {.name = "seq", COUNT, .doc = "monotonic: ?since= and Last-Event-ID take it"},
    {.name = "type", STR},
    {.name = "subject", STR, .nullable = true},
    {.name = "payload", OBJ},
    {.name = "time_ms", MS},
};
static const struct pvm_json_field event_item = {.type = PVM_JSON_OBJECT, TABLE(event)};

static const struct pvm_json_field events[] = {
    {.name = "events", ITEMS(event_item)},
    {.name = "last_seq", COUNT},
};

static const struct pvm_json_field guest_item = {.type = PVM_JSON_OBJECT, TABLE(guest)};

static const struct pvm_json_field assignments[] = {
    {.name = "generation", COUNT, .doc = "the event to long-poll from next (?since=)"},
    {.name = "guests", ITEMS(guest_item)},
};

static const struct pvm_json_field heartbeat_ack[] = {
    {.name = "state", STR, .name_of = store_host_state_nth},
    {.name = "heartbeat_interval_s", COUNT},
    {.name = "lease_s",
     COUNT,
     .doc = "silent this long, the host's guests are placed elsewhere (from its last heartbeat)"},
    {.name = "fence_margin_s",
     COUNT,
     .doc = "the host stops its own guests this long before its lease runs out"},
    GEN,
};

static const struct pvm_json_field report_ack[] = {
    {.name = "desired_state", STR, .name_of = store_desired_state_nth},
    GEN,
};

static const struct pvm_json_field health[] = {
    {.name = "status", STR},
};

static const char *role_nth(unsigned i)
{
	static const char *const r[] = {"leader", "follower"};

	return i < PVM_ARRAY_SIZE(r) ? r[i] : NULL;
}

static const struct pvm_json_field ready[] = {
    {.name = "status", STR},
    {.name = "role", STR, .name_of = role_nth},
    {.name = "leader", STR, .doc = "the leading controller's name"},
    {.name = "last_event_seq", COUNT},
    {.name = "fleet_seq", COUNT, .doc = "the last event this controller's fleet model holds"},
};

static const struct pvm_json_field version[] = {
    {.name = "name", STR},
    {.name = "version", STR},
    {.name = "api", STR},
    {.name = "hook_abi", COUNT},
    {.name = "schema", COUNT, .doc = "the store's schema version"},
};

static const struct pvm_json_field move[] = {
    {.name = "guest_id", STR},
    {.name = "from", STR},
    {.name = "to", STR},
    {.name = "delta",
     .type = PVM_JSON_DOUBLE,
     .required = true,
     .min = 0,
     .max = 0,
     .doc = "the cluster score's change by this move"},
    {.name = "plan",
     COUNT,
     .doc = "0: a single move that gains on its own; n: a step of consolidation plan n, whose "
	    "moves empty a host together"},
    {.name = "plan_delta",
     .type = PVM_JSON_DOUBLE,
     .required = true,
     .min = 0,
     .max = 0,
     .doc = "the score's change by the whole plan (delta for a single move)"},
    {.name = "applied", .type = PVM_JSON_BOOL, .doc = "with apply: whether it was carried out"},
};
static const struct pvm_json_field move_item = {.type = PVM_JSON_OBJECT, TABLE(move)};

static const struct pvm_json_field rebalance[] = {
    {.name = "moves", ITEMS(move_item)},
    {.name = "score_before", NUM},
    {.name = "score_after", NUM},
    {.name = "applied", BOOL},
};

static const struct pvm_json_field explain[] = {
    {.name = "guest", STR},
    {.name = "policy", STR},
    {.name = "hosts_total", COUNT},
    {.name = "hosts_feasible", COUNT},
    {.name = "chosen", STR, .nullable = true, .doc = "null: no host can take it"},
    {.name = "rejected", OBJ, .doc = "hosts each filter rejected"},
    {.name = "hosts",
     .type = PVM_JSON_ARRAY,
     .required = true,
     .doc = "every host's filter verdicts and scores"},
};

static const struct pvm_json_field problem[] = {
    {.name = "type", STR},
    {.name = "title", STR},
    {.name = "status", .type = PVM_JSON_INT, .required = true, .min = 100, .max = 599},
    {.name = "detail", STR},
    {.name = "field", .type = PVM_JSON_STRING, .doc = "the JSON pointer of the field at fault"},
};

#define ANSWER(n, t)                                                                               \
	{                                                                                          \
		.name = n, .fields = t, .nfields = PVM_ARRAY_SIZE(t)                               \
	}

const struct api_answer api_answers[] = {
    ANSWER("Host", host),
    ANSWER("Guest", guest),
    {.name = "GuestDetail",
     .fields = guest,
     .nfields = PVM_ARRAY_SIZE(guest),
     .more = guest_detail,
     .nmore = PVM_ARRAY_SIZE(guest_detail)},
    ANSWER("Image", image),
    ANSWER("Token", token),
    ANSWER("Events", events),
    ANSWER("Assignments", assignments),
    ANSWER("HeartbeatAck", heartbeat_ack),
    ANSWER("ReportAck", report_ack),
    ANSWER("Health", health),
    ANSWER("Ready", ready),
    ANSWER("Version", version),
    ANSWER("RebalanceResult", rebalance),
    ANSWER("Explain", explain),
    ANSWER("Problem", problem),
};
const size_t api_nanswers = PVM_ARRAY_SIZE(api_answers);
