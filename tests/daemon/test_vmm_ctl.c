/* SPDX-License-Identifier: MIT */
/*
 * The VMM control-socket client against a scripted peer on a real unix
 * socket (a misbehaving VMM cannot be made to order): good answers, VMM
 * errors, garbage, silence, early close, oversized answers. And what pvmd
 * relays of a VMM's statistics and agent session in its reports.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "daemon/host.h"
#include "daemon/vmm.h"
#include "hv/hv.h"

static char sock_path[108];
static struct pvm_err err;

struct peer {
	int lfd;
	const char *answer; /* sent after the request line; NULL: close at once */
	size_t repeat;	    /* answer sent this many times (for oversized answers) */
	bool silent;	    /* read the request, answer nothing until closed */
	char request[256];
	pthread_t thread;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	size_t len = 0;
	char c;

	if (fd < 0)
		return NULL;
	if (p->answer || p->silent) {
		while (len + 1 < sizeof(p->request) && read(fd, &c, 1) == 1 && c != '\n')
			p->request[len++] = c;
		p->request[len] = '\0';
	}
	for (size_t i = 0; p->answer && i < (p->repeat ? p->repeat : 1); i++)
		if (send(fd, p->answer, strlen(p->answer), MSG_NOSIGNAL) < 0)
			break;
	if (p->silent)
		while (read(fd, &c, 1) > 0)
			;
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sock_path, sizeof(sock_path), "/tmp/pvmd-ctl-%d.sock", (int)getpid());
	unlink(sock_path);
	strcpy(sa.sun_path, sock_path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(p->lfd, 0);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static int call_peer(struct peer *p, unsigned timeout_ms, json_object **ans)
{
	int ret;

	peer_start(p);
	ret = pvmd_vmm_call(sock_path, "{\"cmd\":\"status\"}", timeout_ms, ans, &err);
	shutdown(p->lfd, SHUT_RDWR);
	close(p->lfd);
	pthread_join(p->thread, NULL);
	unlink(sock_path);
	return ret;
}

START_TEST(test_ok)
{
	struct peer p = {.answer = "{\"ok\":true,\"state\":\"running\"}\n"};
	json_object *ans = NULL;
	const char *st = NULL;

	ck_assert_msg(call_peer(&p, 2000, &ans) == 0, "%s", err.msg);
	ck_assert_str_eq(p.request, "{\"cmd\":\"status\"}");
	ck_assert_int_eq(pvm_json_get_str(ans, "state", &st), 0);
	ck_assert_str_eq(st, "running");
	json_object_put(ans);
}
END_TEST

START_TEST(test_bad_answers)
{
	static const struct {
		const char *answer;
		int code;
		const char *msg;
	} cases[] = {
	    {"{\"ok\":false,\"error\":\"not paused\"}\n", -EPROTO, "not paused"},
	    {"{\"ok\":false}\n", -EPROTO, "unknown error"},
	    {"{\"state\":\"running\"}\n", -EPROTO, "without \"ok\""},
	    {"{\"ok\":\"yes\"}\n", -EPROTO, "without \"ok\""},
	    {"[1,2]\n", -EPROTO, "without \"ok\""},
	    {"garbage\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true,}\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true}{}\n", -EINVAL, "bad answer"},
	    {"\xff\xfe\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true", -ECONNRESET, "closed before answering"},
	};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(cases); i++) {
		struct peer p = {.answer = cases[i].answer};
		json_object *ans = NULL;

		memset(&err, 0, sizeof(err));
		ck_assert_msg(call_peer(&p, 2000, &ans) == cases[i].code, "case %zu: %d %s", i,
			      err.code, err.msg);
		ck_assert_ptr_null(ans);
		ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
	}
}
END_TEST

START_TEST(test_silence_and_absence)
{
	struct peer silent = {.silent = true};
	struct peer closes = {0};
	struct peer huge = {.answer =
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			    .repeat = 20000};
	json_object *ans = NULL;

	ck_assert_int_eq(call_peer(&silent, 200, &ans), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(err.msg, "no answer in 200 ms"));
	ck_assert_int_eq(call_peer(&closes, 2000, &ans), -ECONNRESET);
	ck_assert_int_eq(call_peer(&huge, 5000, &ans), -E2BIG);
	ck_assert_int_eq(pvmd_vmm_call("/nonexistent/vmm.sock", "{}", 100, &ans, &err), -ENOENT);
	ck_assert_int_lt(pvmd_vmm_call("/tmp/a/very/long/path/that/does/not/fit/in/sun_path/of/"
				       "a/unix/socket/address/because/it/is/longer/than/108/bytes",
				       "{}", 100, &ans, &err),
			 0);
	ck_assert_ptr_null(ans);
}
END_TEST

static json_object *parse(const char *s)
{
	json_object *o = NULL;

	ck_assert_msg(pvm_json_parse(s, strlen(s), &pvm_json_default_limits, &o, &err) == 0, "%s",
		      err.msg);
	return o;
}

/* pvmd takes the VMM's report as the controller will: strictly, the fields
 * it refuses named under /report; statistics without one (libvirt) have none. */
START_TEST(test_report_from_stats)
{
	static const char *const bad[][2] = {
	    {"{\"report\":{\"hook_stats\":[{\"hook\":\"console\",\"calls\":-1}]}}",
	     "/report/hook_stats/0/calls"},
	    {"{\"report\":{\"hook_stats\":[{\"hook\":\"console\",\"call\":1}]}}",
	     "/report/hook_stats/0/call"},
	    {"{\"report\":{\"platform\":\"auto\"}}", "/report/platform"},
	    {"{\"report\":{\"exits\":{\"io\":\"1\"}}}", "/report/exits/io"},
	    {"{\"report\":[]}", "/report"},
	};
	struct pvm_report *r = calloc(1, sizeof(*r));
	json_object *stats = parse(
	    "{\"platform\":\"kvm\",\"hooks\":{},\"report\":{\"platform\":\"kvm\","
	    "\"hook_stats\":[{\"hook\":\"console\",\"calls\":3,\"doorbells\":2,\"bytes\":300,"
	    "\"errors\":1,\"exits_avoided\":298,\"histogram\":{\"service_ns_total\":900,"
	    "\"service_ns_log2\":[0,1,2]}}],\"capabilities\":[{\"name\":\"console\","
	    "\"state\":\"accepted\",\"abi_version\":1}],\"exits\":{\"io\":4103,\"total\":4103}}}");
	json_object *body = json_object_new_object(), *e;

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(pvmd_report_from_stats(stats, r, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(r->nhooks, 1);
	ck_assert_int_eq(r->hooks[0].exits_avoided, 298);
	ck_assert_uint_eq(r->hooks[0].nbuckets, 3);
	ck_assert_uint_eq(r->ncaps, 1);
	ck_assert_uint_eq(r->nexits, 2);
	/* and relays it in the report's own words */
	ck_assert_int_eq(pvm_report_encode(r, body), 0);
	e = json_object_array_get_idx(json_object_object_get(body, "hook_stats"), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "hook")), "console");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "bytes")), 300);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(body, "platform")), "kvm");
	json_object_put(body);
	json_object_put(stats);

	stats = parse("{\"driver\":\"libvirt\",\"vcpus\":1}");
	ck_assert_int_eq(pvmd_report_from_stats(stats, r, &err), -ENOENT);
	json_object_put(stats);
	ck_assert_int_eq(pvmd_report_from_stats(NULL, r, &err), -ENOENT);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		stats = parse(bad[i][0]);
		ck_assert_int_lt(pvmd_report_from_stats(stats, r, &err), 0);
		ck_assert_str_eq(err.field, bad[i][1]);
		json_object_put(stats);
	}
	free(r);
}
END_TEST

START_TEST(test_report_agent)
{
	json_object *o, *agent, *v;

	/* before the hello there is nothing to relay */
	agent = parse("{\"state\":\"waiting\",\"hello\":null,\"report\":null}");
	ck_assert_ptr_null(pvmd_report_agent(agent));
	json_object_put(agent);
	/* the relay keeps what the controller takes and drops what a guest mis-named */
	agent =
	    parse("{\"protocol_version\":1,\"state\":\"connected\",\"syncing\":false,"
		  "\"hello\":{\"agent_version\":\"1.0\",\"protocol_min\":1,\"protocol_max\":1,"
		  "\"guest_kind\":\"microguest\",\"os\":\"pvm\",\"boot_id\":\"b\",\"age_ms\":5},"
		  "\"negotiation\":{\"status\":\"accepted\",\"pv_abi_version\":1,\"offered\":["
		  "\"console\"],"
		  "\"accepted\":[\"console\"],\"refused\":[],\"kvm\":{},\"age_ms\":4},"
		  "\"report\":{\"report_no\":2,\"interval_ms\":100,\"uptime_ns\":9,\"age_ms\":1,"
		  "\"stale\":true,\"hooks\":{\"console\":{\"calls\":3,\"cycles\":30,"
		  "\"cycles_per_call\":10,\"bytes\":12,\"errors\":0}},"
		  "\"counters\":{\"console_bytes\":12,\"Bad Name\":1}},\"counters\":{}}");
	o = pvmd_report_agent(agent);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "state")), "connected");
	ck_assert(json_object_get_boolean(json_object_object_get(o, "stale")));
	ck_assert(!json_object_object_get_ex(json_object_object_get(o, "hello"), "age_ms", NULL));
	/* the kernel's KVM pv features go up; the session's ages do not */
	ck_assert(json_object_object_get_ex(json_object_object_get(o, "negotiation"), "kvm", NULL));
	ck_assert(
	    !json_object_object_get_ex(json_object_object_get(o, "negotiation"), "age_ms", NULL));
	v = json_object_object_get(json_object_object_get(o, "report"), "hooks");
	v = json_object_object_get(v, "console");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(v, "calls")), 3);
	ck_assert(!json_object_object_get_ex(v, "cycles_per_call", NULL));
	v = json_object_object_get(json_object_object_get(o, "report"), "counters");
	ck_assert_int_eq(json_object_object_length(v), 1);
	ck_assert(!json_object_object_get_ex(o, "protocol_version", NULL));
	json_object_put(o);
	json_object_put(agent);
}
END_TEST

START_TEST(test_kvm_features)
{
	json_object *a = NULL;
	bool clocksource = false;

	ck_assert_int_eq(pvmd_kvm_pv_features(&a, &err), 0);
	ck_assert(json_object_is_type(a, json_type_array));
	for (size_t i = 0; i < json_object_array_length(a); i++)
		clocksource |=
		    !strcmp(json_object_get_string(json_object_array_get_idx(a, i)), "clocksource");
	/* Every KVM offers kvm-clock; without /dev/kvm the list is empty. */
	ck_assert(access("/dev/kvm", R_OK | W_OK) == 0 ? clocksource
						       : json_object_array_length(a) == 0);
	json_object_put(a);
}
END_TEST

static bool has_name(json_object *arr, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), name))
			return true;
	return false;
}

/* What a host offers: auto adds kvm where it works and always process; a
 * forced platform alone; another name is a configuration error. */
START_TEST(test_host_platforms)
{
	bool kvm = hv_platform_probe() == HV_PLATFORM_KVM;
	json_object *a = NULL;

	ck_assert_int_eq(pvmd_host_platforms(NULL, &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), kvm ? 2 : 1);
	ck_assert(has_name(a, "process"));
	ck_assert(has_name(a, "kvm") == kvm);
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("auto", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), kvm ? 2 : 1);
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("process", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), 1);
	ck_assert(has_name(a, "process"));
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("kvm", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), 1);
	ck_assert(has_name(a, "kvm"));
	json_object_put(a);
	a = NULL;
	ck_assert_int_eq(pvmd_host_platforms("xen", &a, &err), -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_str_eq(err.field, "platform");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon_vmm_ctl");
	TCase *tc = tcase_create("ctl");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ok);
	tcase_add_test(tc, test_bad_answers);
	tcase_add_test(tc, test_silence_and_absence);
	tcase_add_test(tc, test_report_from_stats);
	tcase_add_test(tc, test_report_agent);
	tcase_add_test(tc, test_kvm_features);
	tcase_add_test(tc, test_host_platforms);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
