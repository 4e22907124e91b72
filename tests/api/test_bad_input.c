/* SPDX-License-Identifier: MIT */
/*
 * Bad input, table-driven: each request gets the right status and problem
 * type, and the store is exactly as it was before (same rows, same
 * generations, no new event).
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/harness.h"

enum tok {
	T_ADMIN,
	T_NONE,
	T_GARBAGE,
	T_BASIC,
	T_REVOKED,
	T_EXPIRED,
	T_READER,
	T_OPERATOR,
	T_HOST,
	T_OTHER
};

struct bad {
	const char *name;
	const char *method;
	const char *path; /* %H host, %O other host, %G guest, %I image */
	enum tok tok;
	const char *body; /* "@HUGE", "@DEEP", "@BADUTF8" are built at run time */
	const char *header;
	int status;
	const char *problem;
	const char *field; /* expected JSON pointer, or NULL */
};

#define G	    "/v1/guests"
#define GOOD_TAIL   "\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":64"
#define SPEC(extra) "{\"name\":\"bad\"," GOOD_TAIL extra "}"
#define TOK(ttl)    "{\"name\":\"ttl\",\"role\":\"reader\",\"ttl_s\":" ttl "}"

static const struct bad cases[] = {
    /* malformed JSON */
    {"truncated", "POST", G, T_ADMIN, "{", NULL, 400, "malformed-json", NULL},
    {"empty body", "POST", G, T_ADMIN, "", NULL, 400, "malformed-json", NULL},
    {"trailing comma", "POST", G, T_ADMIN, "{\"name\":\"a\",}", NULL, 400, "malformed-json", NULL},
    {"two documents", "POST", G, T_ADMIN, "{} {}", NULL, 400, "malformed-json", NULL},
    {"single quotes", "POST", G, T_ADMIN, "{'name':'x'}", NULL, 400, "malformed-json", NULL},
    {"unterminated string", "POST", G, T_ADMIN, "{\"name\":\"a", NULL, 400, "malformed-json", NULL},
    {"bare word", "POST", G, T_ADMIN, "nul", NULL, 400, "malformed-json", NULL},
    {"too deep", "POST", G, T_ADMIN, "@DEEP", NULL, 400, "malformed-json", NULL},
    {"bad UTF-8", "POST", G, T_ADMIN, "@BADUTF8", NULL, 400, "malformed-json", NULL},
    {"array document", "POST", G, T_ADMIN, "[1,2]", NULL, 400, "invalid-field", ""},
    /* wrong types */
    {"name number", "POST", G, T_ADMIN, "{\"name\":5," GOOD_TAIL "}", NULL, 400, "invalid-field",
     "/name"},
    {"vcpus string", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":\"2\",\"memory_mib\":64}", NULL, 400,
     "invalid-field", "/vcpus"},
    {"vcpus fraction", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":1.5,\"memory_mib\":64}", NULL, 400, "invalid-field",
     "/vcpus"},
    {"memory bool", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":true}", NULL, 400, "invalid-field",
     "/memory_mib"},
    {"pv array", "POST", G, T_ADMIN, SPEC(",\"pv\":[]"), NULL, 400, "invalid-field", "/pv"},
    {"labels string", "POST", G, T_ADMIN, SPEC(",\"labels\":\"x\""), NULL, 400, "invalid-field",
     "/labels"},
    {"hooks string", "POST", G, T_ADMIN, SPEC(",\"pv\":{\"hooks_required\":\"console\"}"), NULL,
     400, "invalid-field", "/pv/hooks_required"},
    {"hooks numbers", "POST", G, T_ADMIN, SPEC(",\"pv\":{\"hooks_required\":[1]}"), NULL, 400,
     "invalid-field", "/pv/hooks_required/0"},
    {"name null", "POST", G, T_ADMIN, "{\"name\":null," GOOD_TAIL "}", NULL, 400, "invalid-field",
     "/name"},
    {"NUL in name", "POST", G, T_ADMIN, "{\"name\":\"a\\u0000b\"," GOOD_TAIL "}", NULL, 400,
     "invalid-field", "/name"},
    /* unknown fields */
    {"unknown top field", "POST", G, T_ADMIN, SPEC(",\"color\":\"red\""), NULL, 400,
     "invalid-field", "/color"},
    {"unknown pv field", "POST", G, T_ADMIN, SPEC(",\"pv\":{\"turbo\":true}"), NULL, 400,
     "invalid-field", "/pv/turbo"},
    /* missing required */
    {"no name", "POST", G, T_ADMIN, "{" GOOD_TAIL "}", NULL, 400, "invalid-field", "/name"},
    {"no vcpus", "POST", G, T_ADMIN, "{\"name\":\"a\",\"image\":\"x\",\"memory_mib\":64}", NULL,
     400, "invalid-field", "/vcpus"},
    {"no image", "POST", G, T_ADMIN, "{\"name\":\"a\",\"vcpus\":1,\"memory_mib\":64}", NULL, 400,
     "invalid-field", "/image"},
    /* negative or absurd sizes */
    {"vcpus zero", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":0,\"memory_mib\":64}", NULL, 400, "invalid-field",
     "/vcpus"},
    {"vcpus negative", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":-1,\"memory_mib\":64}", NULL, 400, "invalid-field",
     "/vcpus"},
    {"vcpus absurd", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":100000,\"memory_mib\":64}", NULL, 400,
     "invalid-field", "/vcpus"},
    {"memory negative", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":-5}", NULL, 400, "invalid-field",
     "/memory_mib"},
    {"memory int64 max", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":9223372036854775807}", NULL, 400,
     "invalid-field", "/memory_mib"},
    {"memory 1e30", "POST", G, T_ADMIN,
     "{\"name\":\"a\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":1e30}", NULL, 400, "invalid-field",
     "/memory_mib"},
    {"disk negative", "POST", G, T_ADMIN, SPEC(",\"disk_gib\":-1"), NULL, 400, "invalid-field",
     "/disk_gib"},
    {"cmdline number", "POST", G, T_ADMIN, SPEC(",\"cmdline\":7"), NULL, 400, "invalid-field",
     "/cmdline"},
    {"cmdline newline", "POST", G, T_ADMIN, SPEC(",\"cmdline\":\"a=1\\nb=2\""), NULL, 400,
     "invalid-field", "/cmdline"},
    {"cmdline not ascii", "POST", G, T_ADMIN, SPEC(",\"cmdline\":\"caf\u00e9\""), NULL, 400,
     "invalid-field", "/cmdline"},
    {"name empty", "POST", G, T_ADMIN, "{\"name\":\"\"," GOOD_TAIL "}", NULL, 400, "invalid-field",
     "/name"},
    {"name too long", "POST", G, T_ADMIN,
     "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaa\"," GOOD_TAIL "}",
     NULL, 400, "invalid-field", "/name"},
    {"name charset", "POST", G, T_ADMIN, "{\"name\":\"bad name!\"," GOOD_TAIL "}", NULL, 400,
     "invalid-field", "/name"},
    {"platform unknown", "POST", G, T_ADMIN, SPEC(",\"platform\":\"xen\""), NULL, 400,
     "invalid-field", "/platform"},
    {"platform auto", "POST", G, T_ADMIN, SPEC(",\"platform\":\"auto\""), NULL, 400,
     "invalid-field", "/platform"},
    {"platform number", "POST", G, T_ADMIN, SPEC(",\"platform\":1"), NULL, 400, "invalid-field",
     "/platform"},
    {"platform empty", "POST", G, T_ADMIN, SPEC(",\"platform\":\"\""), NULL, 400, "invalid-field",
     "/platform"},
    {"kind unknown", "POST", G, T_ADMIN, SPEC(",\"kind\":\"windows\""), NULL, 400, "invalid-field",
     "/kind"},
    {"restart policy", "POST", G, T_ADMIN, SPEC(",\"restart_policy\":\"sometimes\""), NULL, 400,
     "invalid-field", "/restart_policy"},
    {"desired state", "POST", G, T_ADMIN, SPEC(",\"desired_state\":\"paused\""), NULL, 400,
     "invalid-field", "/desired_state"},
    {"unknown hook", "POST", G, T_ADMIN,
     SPEC(",\"pv\":{\"hooks_required\":[\"console\",\"teleport\"]}"), NULL, 400, "invalid-field",
     "/pv/hooks_required/1"},
    {"unknown kvm feature", "POST", G, T_ADMIN, SPEC(",\"pv\":{\"kvm_features\":[\"warp\"]}"), NULL,
     400, "invalid-field", "/pv/kvm_features/0"},
    {"abi version 0", "POST", G, T_ADMIN, SPEC(",\"pv\":{\"abi_version\":0}"), NULL, 400,
     "invalid-field", "/pv/abi_version"},
    {"label key", "POST", G, T_ADMIN, SPEC(",\"labels\":{\"Bad Key\":\"x\"}"), NULL, 400,
     "invalid-field", "/labels/Bad Key"},
    {"label value", "POST", G, T_ADMIN, SPEC(",\"labels\":{\"zone\":1}"), NULL, 400,
     "invalid-field", "/labels/zone"},
    {"anti-affinity group", "POST", G, T_ADMIN, SPEC(",\"anti_affinity\":\"a b\""), NULL, 400,
     "invalid-field", "/anti_affinity"},
    {"idempotency key too long", "POST", G, T_ADMIN, SPEC(""),
     "Idempotency-Key: "
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkk",
     400, "invalid-field", NULL},
    /* size and media type */
    {"huge body", "POST", G, T_ADMIN, "@HUGE", NULL, 413, "body-too-large", NULL},
    {"huge chunked body", "POST", G, T_ADMIN, "@HUGE", "Transfer-Encoding: chunked", 413,
     "body-too-large", NULL},
    {"text/plain body", "POST", G, T_ADMIN, SPEC(""), "Content-Type: text/plain", 415,
     "unsupported-media-type", NULL},
    /* unknown ids and routes */
    {"get unknown guest", "GET", G "/gst_nope", T_ADMIN, NULL, NULL, 404, "not-found", NULL},
    {"patch unknown guest", "PATCH", G "/gst_nope", T_ADMIN, "{\"desired_state\":\"stopped\"}",
     NULL, 404, "not-found", NULL},
    {"delete unknown guest", "DELETE", G "/gst_nope", T_ADMIN, NULL, NULL, 404, "not-found", NULL},
    {"get unknown host", "GET", "/v1/hosts/hst_nope", T_ADMIN, NULL, NULL, 404, "not-found", NULL},
    {"delete unknown image", "DELETE", "/v1/images/img_nope", T_ADMIN, NULL, NULL, 404, "not-found",
     NULL},
    {"revoke unknown token", "DELETE", "/v1/tokens/tok_nope", T_ADMIN, NULL, NULL, 404, "not-found",
     NULL},
    {"heartbeat unknown host", "POST", "/v1/hosts/hst_nope/heartbeat", T_ADMIN, "{}", NULL, 404,
     "not-found", NULL},
    {"no such route", "GET", "/v1/nothing", T_ADMIN, NULL, NULL, 404, "not-found", NULL},
    {"wrong method", "PUT", G, T_ADMIN, SPEC(""), NULL, 405, "method-not-allowed", NULL},
    /* tokens and roles */
    {"no token", "POST", G, T_NONE, SPEC(""), NULL, 401, "unauthorized", NULL},
    {"garbage token", "POST", G, T_GARBAGE, SPEC(""), NULL, 401, "unauthorized", NULL},
    {"basic scheme", "POST", G, T_BASIC, SPEC(""), NULL, 401, "unauthorized", NULL},
    {"revoked token", "POST", G, T_REVOKED, SPEC(""), NULL, 401, "unauthorized", NULL},
    {"reader creates", "POST", G, T_READER, SPEC(""), NULL, 403, "forbidden", NULL},
    {"reader deletes", "DELETE", G "/%G", T_READER, NULL, NULL, 403, "forbidden", NULL},
    {"host creates guest", "POST", G, T_HOST, SPEC(""), NULL, 403, "forbidden", NULL},
    {"host heartbeats for another", "POST", "/v1/hosts/%H/heartbeat", T_OTHER, "{}", NULL, 403,
     "forbidden", NULL},
    {"host reports another's guest", "POST", G "/%G/reports", T_OTHER,
     "{\"observed_state\":\"running\"}", NULL, 403, "forbidden", NULL},
    {"operator reports", "POST", G "/%G/reports", T_OPERATOR, "{\"observed_state\":\"running\"}",
     NULL, 403, "forbidden", NULL},
    {"operator creates token", "POST", "/v1/tokens", T_OPERATOR,
     "{\"name\":\"x\",\"role\":\"admin\"}", NULL, 403, "forbidden", NULL},
    {"reader lists tokens", "GET", "/v1/tokens", T_READER, NULL, NULL, 403, "forbidden", NULL},
    {"host reads another host", "GET", "/v1/hosts/%H", T_OTHER, NULL, NULL, 403, "forbidden", NULL},
    {"host polls another host", "GET", "/v1/hosts/%H/assignments", T_OTHER, NULL, NULL, 403,
     "forbidden", NULL},
    /* conditional requests */
    {"stale If-Match patch", "PATCH", G "/%G", T_ADMIN, "{\"desired_state\":\"stopped\"}",
     "If-Match: \"999\"", 412, "precondition-failed", NULL},
    {"stale If-Match delete", "DELETE", G "/%G", T_ADMIN, NULL, "If-Match: \"999\"", 412,
     "precondition-failed", NULL},
    {"stale If-Match image", "DELETE", "/v1/images/%I", T_ADMIN, NULL, "If-Match: \"7\"", 412,
     "precondition-failed", NULL},
    {"stale If-Match host", "PATCH", "/v1/hosts/%O", T_ADMIN, "{\"cordoned\":true}",
     "If-Match: \"1\"", 412, "precondition-failed", NULL},
    {"garbage If-Match", "PATCH", G "/%G", T_ADMIN, "{\"desired_state\":\"stopped\"}",
     "If-Match: abc", 400, "invalid-field", NULL},
    /* idempotency */
    {"reused key, other body", "POST", G, T_ADMIN, "{\"name\":\"other\"," GOOD_TAIL "}",
     "Idempotency-Key: fixture-key", 422, "idempotency-key-reused", NULL},
    /* other resources */
    {"patch desired paused", "PATCH", G "/%G", T_ADMIN, "{\"desired_state\":\"paused\"}", NULL, 400,
     "invalid-field", "/desired_state"},
    {"patch unknown field", "PATCH", G "/%G", T_ADMIN, "{\"host_id\":\"hst_x\"}", NULL, 400,
     "invalid-field", "/host_id"},
    {"cordon string", "PATCH", "/v1/hosts/%H", T_ADMIN, "{\"cordoned\":\"yes\"}", NULL, 400,
     "invalid-field", "/cordoned"},
    {"heartbeat hook without abi", "POST", "/v1/hosts/%H/heartbeat", T_HOST,
     "{\"hooks\":[{\"name\":\"console\"}]}", NULL, 400, "invalid-field", "/hooks/0/abi_version"},
    {"heartbeat unknown hook", "POST", "/v1/hosts/%H/heartbeat", T_HOST,
     "{\"hooks\":[{\"name\":\"warp\",\"abi_version\":1}]}", NULL, 400, "invalid-field", "/hooks/0"},
    {"heartbeat cpus negative", "POST", "/v1/hosts/%H/heartbeat", T_HOST, "{\"cpus\":-1}", NULL,
     400, "invalid-field", "/cpus"},
    {"register without name", "POST", "/v1/hosts", T_ADMIN, "{\"cpus\":4}", NULL, 400,
     "invalid-field", "/name"},
    {"register unknown platform", "POST", "/v1/hosts", T_ADMIN,
     "{\"name\":\"p1\",\"platforms\":[\"kvm\",\"xen\"]}", NULL, 400, "invalid-field",
     "/platforms/1"},
    {"register duplicate platform", "POST", "/v1/hosts", T_ADMIN,
     "{\"name\":\"p2\",\"platforms\":[\"process\",\"process\"]}", NULL, 400, "invalid-field",
     "/platforms/1"},
    {"register platforms string", "POST", "/v1/hosts", T_ADMIN,
     "{\"name\":\"p3\",\"platforms\":\"kvm\"}", NULL, 400, "invalid-field", "/platforms"},
    {"register platform number", "POST", "/v1/hosts", T_ADMIN,
     "{\"name\":\"p4\",\"platforms\":[1]}", NULL, 400, "invalid-field", "/platforms/0"},
    {"heartbeat unknown platform", "POST", "/v1/hosts/%H/heartbeat", T_HOST,
     "{\"platforms\":[\"auto\"]}", NULL, 400, "invalid-field", "/platforms/0"},
    {"heartbeat duplicate platform", "POST", "/v1/hosts/%H/heartbeat", T_HOST,
     "{\"platforms\":[\"kvm\",\"process\",\"kvm\"]}", NULL, 400, "invalid-field", "/platforms/2"},
    {"report platform unknown", "POST", G "/%G/reports", T_HOST, "{\"platform\":\"qemu\"}", NULL,
     400, "invalid-field", "/platform"},
    {"report platform number", "POST", G "/%G/reports", T_HOST, "{\"platform\":7}", NULL, 400,
     "invalid-field", "/platform"},
    {"report state unknown", "POST", G "/%G/reports", T_HOST, "{\"observed_state\":\"flying\"}",
     NULL, 400, "invalid-field", "/observed_state"},
    {"report negative calls", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"console\",\"calls\":-1}]}", NULL, 400, "invalid-field",
     "/hook_stats/0/calls"},
    {"report hook twice", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"console\"},{\"hook\":\"console\",\"calls\":2}]}", NULL, 400,
     "invalid-field", "/hook_stats/1"},
    {"report hook stat unknown field", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"block\",\"call\":1}]}", NULL, 400, "invalid-field",
     "/hook_stats/0/call"},
    {"report hook stat string bytes", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"block\",\"bytes\":\"4096\"}]}", NULL, 400, "invalid-field",
     "/hook_stats/0/bytes"},
    /* the parser refuses it, naming the field */
    {"report hook stat duplicate key", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"block\",\"calls\":1,\"calls\":0}]}", NULL, 400, "malformed-json",
     "/hook_stats/0/calls"},
    {"report histogram unknown field", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"clock\",\"histogram\":{\"buckets\":[1]}}]}", NULL, 400,
     "invalid-field", "/hook_stats/0/histogram/buckets"},
    {"report histogram negative bucket", "POST", G "/%G/reports", T_HOST,
     "{\"hook_stats\":[{\"hook\":\"clock\",\"histogram\":{\"service_ns_log2\":[0,-1]}}]}", NULL,
     400, "invalid-field", "/hook_stats/0/histogram/service_ns_log2/1"},
    {"report offered cap", "POST", G "/%G/reports", T_HOST,
     "{\"capabilities\":[{\"name\":\"console\",\"state\":\"offered\"}]}", NULL, 400,
     "invalid-field", "/capabilities/0"},
    {"report exits array", "POST", G "/%G/reports", T_HOST, "{\"exits\":[1]}", NULL, 400,
     "invalid-field", "/exits"},
    {"report exits string count", "POST", G "/%G/reports", T_HOST, "{\"exits\":{\"io\":\"5\"}}",
     NULL, 400, "invalid-field", "/exits/io"},
    {"report exits negative", "POST", G "/%G/reports", T_HOST, "{\"exits\":{\"io\":-1}}", NULL, 400,
     "invalid-field", "/exits/io"},
    {"report exits fraction", "POST", G "/%G/reports", T_HOST, "{\"exits\":{\"io\":1.5}}", NULL,
     400, "invalid-field", "/exits/io"},
    {"report exits bad reason", "POST", G "/%G/reports", T_HOST, "{\"exits\":{\"I/O\":1}}", NULL,
     400, "invalid-field", "/exits"},
    {"report exits long reason", "POST", G "/%G/reports", T_HOST,
     "{\"exits\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}}", NULL,
     400, "invalid-field", "/exits"},
    {"report exits too many", "POST", G "/%G/reports", T_HOST, "@EXITS33", NULL, 400,
     "invalid-field", "/exits"},
    {"report agent string", "POST", G "/%G/reports", T_HOST, "{\"agent\":\"up\"}", NULL, 400,
     "invalid-field", "/agent"},
    {"report agent unknown field", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1.0\","
     "\"guest_kind\":\"microguest\"},\"mood\":\"happy\"}}",
     NULL, 400, "invalid-field", "/agent/mood"},
    {"report agent no hello", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"waiting\",\"stale\":false}}", NULL, 400, "invalid-field",
     "/agent/hello"},
    {"report agent stale string", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":\"no\",\"hello\":{}}}", NULL, 400,
     "invalid-field", "/agent/stale"},
    {"report agent state unknown", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"dancing\",\"stale\":false,\"hello\":{\"agent_version\":\"1\","
     "\"guest_kind\":\"linux\"}}}",
     NULL, 400, "invalid-field", "/agent/state"},
    {"report agent unknown hello field", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1\","
     "\"guest_kind\":\"linux\",\"shoe_size\":9}}}",
     NULL, 400, "invalid-field", "/agent/hello/shoe_size"},
    {"report agent negative calls", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1.0\","
     "\"guest_kind\":\"microguest\"},\"report\":{\"hooks\":{\"console\":{\"calls\":-3}}}}}",
     NULL, 400, "invalid-field", "/agent/report/hooks/console/calls"},
    {"report agent counter string", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1.0\","
     "\"guest_kind\":\"microguest\"},\"report\":{\"counters\":{\"bytes\":\"many\"}}}}",
     NULL, 400, "invalid-field", "/agent/report/counters/bytes"},
    {"report agent bad hook list", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1.0\","
     "\"guest_kind\":\"microguest\"},\"negotiation\":{\"status\":\"accepted\",\"accepted\":[7]}}}",
     NULL, 400, "invalid-field", "/agent/negotiation/accepted/0"},
    {"report unknown field", "POST", G "/%G/reports", T_HOST, "{\"exit\":{\"io\":1}}", NULL, 400,
     "invalid-field", "/exit"},
    {"report agent kvm features string", "POST", G "/%G/reports", T_HOST,
     "{\"agent\":{\"state\":\"connected\",\"stale\":false,\"hello\":{\"agent_version\":\"1\","
     "\"guest_kind\":\"linux\"},\"negotiation\":{\"status\":\"none\",\"kvm\":{\"features\":"
     "\"all\"}}}}",
     NULL, 400, "invalid-field", "/agent/negotiation/kvm/features"},
    {"token role unknown", "POST", "/v1/tokens", T_ADMIN, "{\"name\":\"x\",\"role\":\"root\"}",
     NULL, 400, "invalid-field", "/role"},
    /* token lifetimes: 60 s .. 10 years, an integer */
    {"ttl string", "POST", "/v1/tokens", T_ADMIN, TOK("\"3600\""), NULL, 400, "invalid-field",
     "/ttl_s"},
    {"ttl fraction", "POST", "/v1/tokens", T_ADMIN, TOK("60.5"), NULL, 400, "invalid-field",
     "/ttl_s"},
    {"ttl negative", "POST", "/v1/tokens", T_ADMIN, TOK("-3600"), NULL, 400, "invalid-field",
     "/ttl_s"},
    {"ttl zero", "POST", "/v1/tokens", T_ADMIN, TOK("0"), NULL, 400, "invalid-field", "/ttl_s"},
    {"ttl below a minute", "POST", "/v1/tokens", T_ADMIN, TOK("59"), NULL, 400, "invalid-field",
     "/ttl_s"},
    {"ttl over ten years", "POST", "/v1/tokens", T_ADMIN, TOK("315360001"), NULL, 400,
     "invalid-field", "/ttl_s"},
    {"ttl absurd", "POST", "/v1/tokens", T_ADMIN, TOK("9223372036854775807"), NULL, 400,
     "invalid-field", "/ttl_s"},
    {"ttl null", "POST", "/v1/tokens", T_ADMIN, TOK("null"), NULL, 400, "invalid-field", "/ttl_s"},
    {"ttl bool", "POST", "/v1/tokens", T_ADMIN, TOK("true"), NULL, 400, "invalid-field", "/ttl_s"},
    {"ttl duration text", "POST", "/v1/tokens", T_ADMIN, TOK("\"12h\""), NULL, 400, "invalid-field",
     "/ttl_s"},
    {"expired token reads", "GET", G, T_EXPIRED, NULL, NULL, 401, "token-expired", NULL},
    {"expired token writes", "POST", G, T_EXPIRED, SPEC(""), NULL, 401, "token-expired", NULL},
    {"expired token creates token", "POST", "/v1/tokens", T_EXPIRED, TOK("3600"), NULL, 401,
     "token-expired", NULL},
    {"image format", "POST", "/v1/images", T_ADMIN,
     "{\"name\":\"i\",\"format\":\"iso\",\"source\":\"/x\"}", NULL, 400, "invalid-field",
     "/format"},
    {"image sha256", "POST", "/v1/images", T_ADMIN,
     "{\"name\":\"i\",\"format\":\"raw\",\"source\":\"/x\",\"sha256\":\"xyz\"}", NULL, 400,
     "invalid-field", "/sha256"},
    {"duplicate image name", "POST", "/v1/images", T_ADMIN,
     "{\"name\":\"fixture\",\"format\":\"raw\",\"source\":\"/y\"}", NULL, 409, "conflict", NULL},
    {"limit zero", "GET", G "?limit=0", T_ADMIN, NULL, NULL, 400, "invalid-field", "?limit"},
    {"limit above 1000", "GET", G "?limit=1001", T_ADMIN, NULL, NULL, 400, "invalid-field",
     "?limit"},
    {"limit word", "GET", G "?limit=abc", T_ADMIN, NULL, NULL, 400, "invalid-field", "?limit"},
    {"page token path", "GET", G "?page_token=../../etc", T_ADMIN, NULL, NULL, 400, "invalid-field",
     "?page_token"},
    {"guests page token NUL", "GET", G "?page_token=%00%01garbage", T_ADMIN, NULL, NULL, 400,
     "invalid-field", "?page_token"},
    {"guests page token format", "GET", G "?page_token=g-0000%2F1", T_ADMIN, NULL, NULL, 400,
     "invalid-field", "?page_token"},
    {"hosts page token NUL", "GET",
     "/v1/hosts"
     "?page_token=%00%01garbage",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"hosts page token format", "GET",
     "/v1/hosts"
     "?page_token=g-0000%2F1",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"images page token NUL", "GET",
     "/v1/images"
     "?page_token=%00%01garbage",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"images page token format", "GET",
     "/v1/images"
     "?page_token=g-0000%2F1",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"tokens page token NUL", "GET",
     "/v1/tokens"
     "?page_token=%00%01garbage",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"tokens page token format", "GET",
     "/v1/tokens"
     "?page_token=g-0000%2F1",
     T_ADMIN, NULL, NULL, 400, "invalid-field", "?page_token"},
    {"events last id abc", "GET", "/v1/events", T_ADMIN, NULL, "Last-Event-ID: abc", 400,
     "invalid-field", "Last-Event-ID"},
    {"events last id -1", "GET", "/v1/events", T_ADMIN, NULL, "Last-Event-ID: -1", 400,
     "invalid-field", "Last-Event-ID"},
    {"events last id 99999999999999999999999", "GET", "/v1/events", T_ADMIN, NULL,
     "Last-Event-ID: 99999999999999999999999", 400, "invalid-field", "Last-Event-ID"},
    {"events since negative", "GET", "/v1/events?since=-1", T_ADMIN, NULL, NULL, 400,
     "invalid-field", "?since"},
    {"events wait word", "GET", "/v1/events?wait=abc", T_ADMIN, NULL, NULL, 400, "invalid-field",
     "?wait"},
    {"assignments wait too long", "GET", "/v1/hosts/%H/assignments?wait=100000", T_HOST, NULL, NULL,
     400, "invalid-field", "?wait"},
    {"explain bad spec", "POST", "/v1/placements/explain", T_ADMIN, "{\"name\":\"x\"}", NULL, 400,
     "invalid-field", NULL},
    {"explain bad policy", "POST", "/v1/placements/explain?policy=scorers=warp:1", T_ADMIN,
     SPEC(""), NULL, 400, "invalid-field", "?policy"},
    {"rebalance zero moves", "POST", "/v1/rebalance", T_ADMIN, "{\"max_moves\":0}", NULL, 400,
     "invalid-field", "/max_moves"},
    {"rebalance apply by reader", "POST", "/v1/rebalance", T_READER, "{\"apply\":true}", NULL, 403,
     "forbidden", "/apply"},
};

static struct th t;
static char host_id[64], other_id[64], guest_id[64], image_id[64];
static char tok_reader[128], tok_operator[128], tok_host[128], tok_other[128], tok_revoked[128];
static char tok_expired[STORE_SECRET_MAX];

static void setup(void)
{
	struct th_resp r;
	char rid[64], path[128];
	const char *key[] = {"Idempotency-Key: fixture-key", NULL};

	th_start(&t, NULL);
	th_host(&t, "h1", 8, 8192, "[\"console\"]", host_id, sizeof(host_id), tok_host,
		sizeof(tok_host));
	th_host(&t, "h2", 8, 8192, "[\"console\"]", other_id, sizeof(other_id), tok_other,
		sizeof(tok_other));
	th_token(&t, "reader", tok_reader, sizeof(tok_reader), NULL, 0);
	th_token(&t, "operator", tok_operator, sizeof(tok_operator), NULL, 0);
	th_token(&t, "reader", tok_revoked, sizeof(tok_revoked), rid, sizeof(rid));
	snprintf(path, sizeof(path), "/v1/tokens/%s", rid);
	th_req(&t, "DELETE", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	th_resp_free(&r);
	/* An admin token that expired a minute ago: the API cannot make one. */
	{
		struct store_token x = {.role = STORE_ROLE_ADMIN};
		struct pvm_err err = {0};

		snprintf(x.name, sizeof(x.name), "expired-admin");
		x.expires_ms = (int64_t)(pvm_wall_ns() / 1000000ull) - 60000;
		ck_assert_int_eq(store_token_create(t.st, &x, tok_expired, &err), 0);
	}
	/* cordon the other host so the fixture guest lands on h1 */
	snprintf(path, sizeof(path), "/v1/hosts/%s", other_id);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":true}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/guests", t.admin, "{\"name\":\"fixture\"," GOOD_TAIL "}", key, &r);
	ck_assert_int_eq(r.status, 201);
	snprintf(guest_id, sizeof(guest_id), "%s", th_str(&r, "id"));
	ck_assert_str_eq(th_str(&r, "host_id"), host_id);
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/images", t.admin,
	       "{\"name\":\"fixture\",\"format\":\"raw\",\"source\":\"/x\"}", NULL, &r);
	ck_assert_int_eq(r.status, 201);
	snprintf(image_id, sizeof(image_id), "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

static void teardown(void)
{
	th_cleanup(&t);
}

static void expand(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 1 < len; in++) {
		const char *sub = NULL;

		if (*in == '%' && in[1]) {
			switch (in[1]) {
			case 'H':
				sub = host_id;
				break;
			case 'O':
				sub = other_id;
				break;
			case 'G':
				sub = guest_id;
				break;
			case 'I':
				sub = image_id;
				break;
			}
		}
		if (sub) {
			n += (size_t)snprintf(out + n, len - n, "%s", sub);
			in++;
		} else {
			out[n++] = *in;
		}
	}
	out[n < len ? n : len - 1] = '\0';
}

static char *make_body(const char *b)
{
	if (!b)
		return NULL;
	if (strcmp(b, "@HUGE") == 0) {
		size_t n = 2u << 20;
		char *s = malloc(n + 32);

		strcpy(s, "{\"name\":\"");
		memset(s + 9, 'a', n);
		strcpy(s + 9 + n, "\"}");
		return s;
	}
	if (strcmp(b, "@DEEP") == 0) {
		char *s = malloc(256);
		size_t k = 0;

		for (int i = 0; i < 40; i++)
			s[k++] = '[';
		for (int i = 0; i < 40; i++)
			s[k++] = ']';
		s[k] = '\0';
		return s;
	}
	if (strcmp(b, "@EXITS33") == 0) {
		struct pvm_buf e;

		pvm_buf_init(&e);
		pvm_buf_printf(&e, "{\"exits\":{");
		for (int i = 0; i <= STORE_EXIT_REASONS_MAX; i++)
			pvm_buf_printf(&e, "%s\"r%d\":1", i ? "," : "", i);
		pvm_buf_printf(&e, "}}");
		return pvm_buf_steal(&e);
	}
	if (strcmp(b, "@BADUTF8") == 0)
		return strdup(
		    "{\"name\":\"\xff\xfe\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":64}");
	return strdup(b);
}

static const char *token_for(enum tok k)
{
	switch (k) {
	case T_ADMIN:
		return t.admin;
	case T_NONE:
		return NULL;
	case T_GARBAGE:
		return "pvm_0000000000000000000000000000000000000000000000000000000000000000";
	case T_BASIC:
		return NULL;
	case T_REVOKED:
		return tok_revoked;
	case T_EXPIRED:
		return tok_expired;
	case T_READER:
		return tok_reader;
	case T_OPERATOR:
		return tok_operator;
	case T_HOST:
		return tok_host;
	case T_OTHER:
		return tok_other;
	}
	return NULL;
}

START_TEST(bad_input)
{
	const struct bad *c = &cases[_i];
	const char *hdrs[3] = {NULL};
	size_t nh = 0;
	char path[512], *body, *before, *after;
	struct th_resp r;

	expand(c->path, path, sizeof(path));
	body = make_body(c->body);
	if (c->header)
		hdrs[nh++] = c->header;
	if (c->tok == T_BASIC)
		hdrs[nh++] = "Authorization: Basic YWRtaW46YWRtaW4=";
	before = th_digest(&t);
	th_req(&t, c->method, path, token_for(c->tok), body, hdrs, &r);
	ck_assert_msg(r.status == c->status, "%s: status %ld, want %d: %s", c->name, r.status,
		      c->status, r.body ? r.body : "");
	ck_assert_msg(strcmp(r.ctype, "application/problem+json") == 0, "%s: content type %s",
		      c->name, r.ctype);
	ck_assert_msg(strcmp(th_problem(&r), c->problem) == 0, "%s: problem %s, want %s: %s",
		      c->name, th_problem(&r), c->problem, r.body);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(r.json, "status")), c->status);
	ck_assert_str_ne(th_str(&r, "detail"), "");
	if (c->field)
		ck_assert_msg(strcmp(th_str(&r, "field"), c->field) == 0, "%s: field %s, want %s",
			      c->name, th_str(&r, "field"), c->field);
	after = th_digest(&t);
	ck_assert_msg(strcmp(before, after) == 0, "%s changed the store:\n%s\n---\n%s", c->name,
		      before, after);
	free(before);
	free(after);
	free(body);
	th_resp_free(&r);
}
END_TEST

/* An expired token's 401 carries the RFC 6750 challenge; a revoked one does not. */
START_TEST(expired_challenge)
{
	struct th_resp r;

	th_req(&t, "GET", G, tok_expired, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(r.www_auth,
			 "Bearer error=\"invalid_token\", error_description=\"token expired\"");
	ck_assert_ptr_nonnull(strstr(th_str(&r, "detail"), "expired"));
	th_resp_free(&r);
	th_req(&t, "GET", G, tok_revoked, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(th_problem(&r), "unauthorized");
	ck_assert_ptr_null(strstr(r.www_auth, "expired"));
	th_resp_free(&r);
}
END_TEST

START_TEST(enough_cases)
{
	ck_assert_uint_ge(PVM_ARRAY_SIZE(cases), 60);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_bad_input");
	TCase *tc = tcase_create("bad_input");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_ERROR, PVM_LOG_TEXT);
	/* One server for the whole table: every case must leave it unchanged anyway. */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, enough_cases);
	tcase_add_test(tc, expired_challenge);
	tcase_add_loop_test(tc, bad_input, 0, (int)PVM_ARRAY_SIZE(cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
