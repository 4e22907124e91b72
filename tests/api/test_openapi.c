/* SPDX-License-Identifier: MIT */
/*
 * The OpenAPI contract, checked by a real OpenAPI validator from the npm
 * registry (tests/openapi/check.mjs): a real server over a real store is
 * filled with a host, an image, a placed guest with reported statistics and
 * a token, then check.mjs validates the document and every operation's live
 * answers against it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define ID 64

static struct th t;

static void setup(void)
{
	struct api_config c = {.heartbeat_s = 30};

	th_start(&t, &c);
}

static void teardown(void)
{
	th_cleanup(&t);
}

/* Runs node check.mjs with the ids in its environment; its exit code. */
static int run_check(const char *const *envs)
{
	const char *node = getenv("PVM_NODE"), *script = getenv("PVM_OPENAPI_CHECK");
	char *argv[] = {(char *)node, (char *)script, t.base, NULL};
	char *envp[16];
	size_t n = 0;
	int status = 0;
	pid_t pid;

	for (; envs[n] && n < 14; n++)
		envp[n] = (char *)envs[n];
	envp[n++] = "PATH=/usr/bin:/bin";
	envp[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execve(node, argv, envp);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(document_and_answers_match)
{
	char host[ID], htok[128], tok[128], tid[ID], path[160];
	char e_admin[192], e_host[ID + 16], e_htok[160], e_guest[ID + 16], e_image[ID + 16];
	char e_token[ID + 16];
	const char *envs[] = {e_admin, e_host, e_htok, e_guest, e_image, e_token, NULL};
	struct th_resp r;

	th_host(&t, "h1", 8, 8192, "[\"console\",\"clock\"]", host, sizeof(host), htok,
		sizeof(htok));
	th_token(&t, "reader", tok, sizeof(tok), tid, sizeof(tid));
	th_req(&t, "POST", "/v1/images", t.admin,
	       "{\"name\":\"console.elf\",\"format\":\"elf\",\"source\":\"/images/console.elf\","
	       "\"size_bytes\":65536,\"sha256\":"
	       "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	       NULL, &r);
	ck_assert_msg(r.status == 201, "image: %ld %s", r.status, r.body);
	snprintf(e_image, sizeof(e_image), "IMAGE_ID=%s", th_str(&r, "id"));
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"web\",\"image\":\"console.elf\",\"vcpus\":1,\"memory_mib\":64,"
	       "\"pv\":{\"hooks_required\":[\"console\"]},\"labels\":{\"app\":\"web\"}}",
	       NULL, &r);
	ck_assert_msg(r.status == 201, "guest: %ld %s", r.status, r.body);
	ck_assert_str_eq(th_str(&r, "host_id"), host);
	snprintf(e_guest, sizeof(e_guest), "GUEST_ID=%s", th_str(&r, "id"));
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", th_str(&r, "id"));
	th_resp_free(&r);
	/* Statistics, so the guest's detail has members of every kind to check. */
	th_req(&t, "POST", path, htok,
	       "{\"observed_state\":\"running\",\"platform\":\"process\","
	       "\"capabilities\":[{\"name\":\"console\",\"state\":\"accepted\",\"abi_version\":1},"
	       "{\"name\":\"clock\",\"state\":\"refused\",\"abi_version\":1,\"reason\":\"off\"}],"
	       "\"hook_stats\":[{\"hook\":\"console\",\"calls\":10,\"doorbells\":2,\"bytes\":4096,"
	       "\"errors\":0,\"exits_avoided\":4094}],\"exits\":{\"io\":12,\"hlt\":3}}",
	       NULL, &r);
	ck_assert_msg(r.status == 200, "report: %ld %s", r.status, r.body);
	th_resp_free(&r);
	snprintf(e_admin, sizeof(e_admin), "ADMIN=%s", t.admin);
	snprintf(e_host, sizeof(e_host), "HOST_ID=%s", host);
	snprintf(e_htok, sizeof(e_htok), "HOST_TOKEN=%s", htok);
	snprintf(e_token, sizeof(e_token), "TOKEN_ID=%s", tid);
	ck_assert_int_eq(run_check(envs), 0);
}
END_TEST

int main(void)
{
	const char *node = getenv("PVM_NODE"), *script = getenv("PVM_OPENAPI_CHECK");
	Suite *su;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (!node || access(node, X_OK) != 0 || !script || access(script, R_OK) != 0) {
		printf("SKIP: node or the npm-installed checker is missing (%s, %s)\n",
		       node ? node : "no PVM_NODE", script ? script : "no PVM_OPENAPI_CHECK");
		return 77;
	}
	su = suite_create("api_openapi");
	tc = tcase_create("openapi");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, document_and_answers_match);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
