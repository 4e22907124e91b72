/* SPDX-License-Identifier: MIT */
/*
 * What pvmctl puts on the wire, checked against a scripted HTTP server on
 * loopback: the bearer token, an Idempotency-Key per mutating request that
 * survives a retry after a dropped answer, If-Match with the ETag just read
 * (retried on 412), problem+json answers turned into exit codes, and
 * failover along a list of controllers (a dead port beside the script). A
 * scripted server is used because the real controller cannot be told to
 * drop a connection or answer 412 on cue; the live test covers the rest.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"

#define MAX_STEPS 8

/* One scripted answer: NULL drops the connection without answering. */
struct step {
	const char *answer;
};

static struct {
	int fd;
	int port;
	struct step steps[MAX_STEPS];
	size_t nsteps;
	char requests[MAX_STEPS][4096];
	size_t nrequests;
	pthread_t thread;
} srv;

/* Reads one request (headers and Content-Length body) into buf. */
static void read_request(int c, char *buf, size_t len)
{
	size_t n = 0, want = 0;
	char *end = NULL;

	while (n + 1 < len) {
		ssize_t r = read(c, buf + n, len - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "Content-Length:");

			want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (end && n >= want)
			break;
	}
	buf[n] = '\0';
}

static void *serve(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < srv.nsteps; i++) {
		int c = accept(srv.fd, NULL, NULL);

		if (c < 0)
			break;
		read_request(c, srv.requests[i], sizeof(srv.requests[i]));
		srv.nrequests++;
		if (srv.steps[i].answer &&
		    write(c, srv.steps[i].answer, strlen(srv.steps[i].answer)) < 0)
			break;
		close(c);
	}
	return NULL;
}

static void script(const char *first, ...)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	const char *s = first;
	va_list ap;

	memset(&srv, 0, sizeof(srv));
	va_start(ap, first);
	/* "" ends the list; NULL entries are drops */
	while (!(s && !s[0])) {
		ck_assert_uint_lt(srv.nsteps, MAX_STEPS);
		srv.steps[srv.nsteps++].answer = s;
		s = va_arg(ap, const char *);
	}
	va_end(ap);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(srv.fd, 8), 0);
	ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&a, &len), 0);
	srv.port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&srv.thread, NULL, serve, NULL), 0);
}

static char out[16384]; /* pvmctl's stdout in the last run */
static char err[16384]; /* and its stderr */

static void slurp(FILE *fp, char *buf, size_t len)
{
	size_t n;

	rewind(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/*
 * Runs pvmctl in-process with PVM_ADDR=addr (a list of controllers; NULL:
 * the scripted server); stdout into out, stderr into err.
 */
static int run_at(const char *addr, const char *first, ...)
{
	char env_addr[256], *argv[32] = {"pvmctl"},
			    *envp[] = {env_addr, "PVM_TOKEN=tok_secret", "HOME=/nonexistent", NULL};
	int argc = 1, code, so, se;
	FILE *fo = tmpfile(), *fe = tmpfile();
	va_list ap;

	ck_assert_ptr_nonnull(fo);
	ck_assert_ptr_nonnull(fe);
	if (addr)
		snprintf(env_addr, sizeof(env_addr), "PVM_ADDR=%s", addr);
	else
		snprintf(env_addr, sizeof(env_addr), "PVM_ADDR=127.0.0.1:%d", srv.port);
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fileno(fo), 1);
	dup2(fileno(fe), 2);
	code = cli_main(argc, argv, envp);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(fo, out, sizeof(out));
	slurp(fe, err, sizeof(err));
	fputs(err, stderr);
	shutdown(srv.fd, SHUT_RDWR);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	return code;
}

#define run(...) run_at(NULL, __VA_ARGS__)

/* A loopback port bound but never listened on: connecting is refused, and
 * nothing else can take the port while fd stays open. */
static int dead_port(int *fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

/* The value of a header in a recorded request, copied into out. */
static const char *header(const char *req, const char *name, char *out, size_t len)
{
	const char *p = strcasestr(req, name);
	size_t n;

	if (!p)
		return NULL;
	p += strlen(name);
	while (*p == ' ' || *p == ':')
		p++;
	n = strcspn(p, "\r\n");
	snprintf(out, len, "%.*s", (int)n, p);
	return out;
}

/* An HTTP answer with the right Content-Length (buffers live until the next test). */
static const char *answer(const char *status, const char *extra, const char *body)
{
	static char pool[16][1024];
	static unsigned next;
	char *p = pool[next++ % 16];

	snprintf(p, sizeof(pool[0]),
		 "HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: application/json\r\n%s"
		 "Content-Length: %zu\r\n\r\n%s",
		 status, extra, strlen(body), body);
	return p;
}

START_TEST(create_retries_with_the_same_key)
{
	const char *created = answer("201 Created", "",
				     "{\"id\":\"gst_1\",\"name\":\"g\",\"observed_state\":"
				     "\"scheduled\",\"desired_state\":\"running\"}");
	char k1[128], k2[128], auth[128];

	script(NULL, created, "");
	ck_assert_int_eq(run("guest", "create", "g", "--image", "i", NULL), 0);
	ck_assert_uint_eq(srv.nrequests, 2);
	ck_assert(strncmp(srv.requests[0], "POST /v1/guests ", 16) == 0);
	ck_assert_ptr_nonnull(header(srv.requests[0], "Idempotency-Key", k1, sizeof(k1)));
	ck_assert_ptr_nonnull(header(srv.requests[1], "Idempotency-Key", k2, sizeof(k2)));
	/* 128 random bits in hex, and the command's first mutating request */
	ck_assert_uint_eq(strlen(k1), 34);
	ck_assert_uint_eq(strspn(k1, "0123456789abcdef"), 32);
	ck_assert_str_eq(k1 + 32, "-1");
	ck_assert_str_eq(k1, k2);
	ck_assert_str_eq(header(srv.requests[1], "Authorization", auth, sizeof(auth)),
			 "Bearer tok_secret");
	ck_assert_ptr_nonnull(strstr(srv.requests[1], "\"name\":\"g\""));
	ck_assert_ptr_nonnull(strstr(srv.requests[1], "\"image\":\"i\""));

	/* another create gets another key */
	script(created, "");
	ck_assert_int_eq(run("guest", "create", "g", "--image", "i", NULL), 0);
	ck_assert_str_ne(header(srv.requests[0], "Idempotency-Key", k2, sizeof(k2)), k1);
}
END_TEST

START_TEST(dropped_every_time_is_unreachable)
{
	script(NULL, NULL, NULL, "");
	ck_assert_int_eq(run("guest", "create", "g", "--image", "i", NULL), 6);
	ck_assert_uint_eq(srv.nrequests, 3);
	/* reads are not retried */
	script(NULL, "");
	ck_assert_int_eq(run("guest", "list", NULL), 6);
	ck_assert_uint_eq(srv.nrequests, 1);
}
END_TEST

#define HOST	       "{\"id\":\"hst_1\",\"name\":\"h1\",\"cordoned\":false}"
#define HOST_GET(etag) answer("200 OK", "ETag: \"" etag "\"\r\n", HOST)
#define STALE                                                                                      \
	answer("412 Precondition Failed", "",                                                      \
	       "{\"title\":\"Stale If-Match\",\"detail\":\"changed\"}")
#define PATCHED answer("200 OK", "", "{\"id\":\"hst_1\",\"name\":\"h1\",\"cordoned\":true}")

START_TEST(patch_sends_if_match_and_retries_stale)
{
	char v[64], k1[64], k2[64];

	script(HOST_GET("7"), STALE, HOST_GET("8"), PATCHED, "");
	ck_assert_int_eq(run("host", "cordon", "h1", NULL), 0);
	ck_assert_uint_eq(srv.nrequests, 4);
	ck_assert(strncmp(srv.requests[0], "GET /v1/hosts/h1 ", 17) == 0);
	ck_assert(strncmp(srv.requests[1], "PATCH /v1/hosts/hst_1 ", 22) == 0);
	ck_assert_str_eq(header(srv.requests[1], "If-Match", v, sizeof(v)), "\"7\"");
	ck_assert_str_eq(header(srv.requests[3], "If-Match", v, sizeof(v)), "\"8\"");
	ck_assert_ptr_nonnull(strstr(srv.requests[3], "{\"cordoned\":true}"));
	/* every PATCH has a key of its own, from the command's one stem; GETs none */
	ck_assert_ptr_null(strcasestr(srv.requests[0], "Idempotency-Key"));
	ck_assert_ptr_nonnull(header(srv.requests[1], "Idempotency-Key", k1, sizeof(k1)));
	ck_assert_ptr_nonnull(header(srv.requests[3], "Idempotency-Key", k2, sizeof(k2)));
	ck_assert_str_eq(k1 + 32, "-1");
	ck_assert_str_eq(k2 + 32, "-2");
	ck_assert_int_eq(strncmp(k1, k2, 32), 0);

	/* stale three times: a conflict */
	script(HOST_GET("1"), STALE, HOST_GET("2"), STALE, HOST_GET("3"), STALE, "");
	ck_assert_int_eq(run("host", "cordon", "h1", NULL), 4);
	ck_assert_uint_eq(srv.nrequests, 6);
}
END_TEST

START_TEST(non_json_success_is_a_server_error)
{
	script("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", "");
	ck_assert_int_eq(run("host", "list", NULL), 1);
	script("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: "
	       "4\r\n\r\nbusy",
	       "");
	ck_assert_int_eq(run("version", NULL), 1);
}
END_TEST

#define LIST_PAGE(items, next)                                                                     \
	answer("200 OK", "", "{\"items\":[" items "],\"next_page_token\":" next "}")

START_TEST(lists_follow_every_page)
{
	json_object *doc, *items;

	script(LIST_PAGE("{\"id\":\"img_1\",\"name\":\"a\"}", "\"img_1\""),
	       LIST_PAGE("{\"id\":\"img_2\",\"name\":\"b\"}", "null"), "");
	ck_assert_int_eq(run("image", "list", "-o", "json", NULL), 0);
	ck_assert(strncmp(srv.requests[0], "GET /v1/images?limit=1000 ", 26) == 0);
	ck_assert(strncmp(srv.requests[1], "GET /v1/images?limit=1000&page_token=img_1 ", 43) == 0);
	doc = json_tokener_parse(out);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_object_object_get_ex(doc, "items", &items));
	ck_assert_int_eq(json_object_array_length(items), 2);
	ck_assert(
	    json_object_is_type(json_object_object_get(doc, "next_page_token"), json_type_null));
	json_object_put(doc);

	script(LIST_PAGE("{\"id\":\"img_1\",\"name\":\"a\"}", "\"img_1\""),
	       LIST_PAGE("{\"id\":\"img_2\",\"name\":\"b\"}", "null"), "");
	ck_assert_int_eq(run("image", "list", NULL), 0);
	ck_assert_str_eq(out, "NAME  FORMAT  SIZE  SOURCE  AGE\n"
			      "a     -       -     -       -\n"
			      "b     -       -     -       -\n");
}
END_TEST

START_TEST(rebalance_shows_and_applies_moves)
{
	const char *moves = answer("200 OK", "",
				   "{\"moves\":[{\"guest_id\":\"gst_1\",\"from\":\"hst_a\","
				   "\"to\":\"hst_b\",\"delta\":-0.5}],\"score_before\":2.0,"
				   "\"score_after\":1.5}");
	const char *hosts = LIST_PAGE("{\"id\":\"hst_a\",\"name\":\"a\"},"
				      "{\"id\":\"hst_b\",\"name\":\"b\"}",
				      "null");

	script(moves, hosts, "");
	ck_assert_int_eq(run("rebalance", NULL), 0);
	ck_assert(strncmp(srv.requests[0], "POST /v1/rebalance ", 19) == 0);
	ck_assert_ptr_nonnull(strstr(srv.requests[0], "\"apply\":false"));
	ck_assert_msg(strstr(out, "gst_1  a     b   -0.5"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "cluster score 2 -> 1.5; not applied (use --apply)"));

	script(moves, hosts, "");
	ck_assert_int_eq(run("rebalance", "--apply", "--max-moves", "3", NULL), 0);
	ck_assert_ptr_nonnull(strstr(srv.requests[0], "\"apply\":true"));
	ck_assert_ptr_nonnull(strstr(srv.requests[0], "\"max_moves\":3"));
	ck_assert_ptr_nonnull(strstr(out, "moves applied"));

	script(answer("200 OK", "", "{\"moves\":[],\"score_before\":1.0,\"score_after\":1.0}"), "");
	ck_assert_int_eq(run("rebalance", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "no move would improve"));
}
END_TEST

/* The first controller refuses: the second answers, and --verbose says who. */
START_TEST(refused_fails_over_to_the_next)
{
	char addr[128];
	int dead_fd, dead = dead_port(&dead_fd);

	script(LIST_PAGE("", "null"), "");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d,127.0.0.1:%d", dead, srv.port);
	ck_assert_int_eq(run_at(addr, "host", "list", NULL), 0);
	ck_assert_uint_eq(srv.nrequests, 1);
	ck_assert_str_eq(err, "");

	script(LIST_PAGE("", "null"), "");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d,127.0.0.1:%d", dead, srv.port);
	ck_assert_int_eq(run_at(addr, "host", "list", "-v", NULL), 0);
	snprintf(addr, sizeof(addr), "GET http://127.0.0.1:%d/v1/hosts", dead);
	ck_assert_msg(strstr(err, addr) && strstr(err, "Couldn't connect"), "%s", err);
	ck_assert_msg(strstr(err, "GET http://127.0.0.1:") && strstr(err, ": HTTP 200"), "%s", err);
	close(dead_fd);
}
END_TEST

/* A create whose answer was lost goes to the next controller, and round
 * the list again, with the same key. */
START_TEST(lost_create_goes_round_with_its_key)
{
	const char *created = answer("201 Created", "",
				     "{\"id\":\"gst_1\",\"name\":\"g\",\"observed_state\":"
				     "\"scheduled\",\"desired_state\":\"running\"}");
	char addr[128], k1[64], k2[64];
	int dead_fd, dead = dead_port(&dead_fd);

	script(NULL, created, "");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d,127.0.0.1:%d", srv.port, dead);
	ck_assert_int_eq(run_at(addr, "guest", "create", "g", "--image", "i", NULL), 0);
	ck_assert_uint_eq(srv.nrequests, 2);
	ck_assert_ptr_nonnull(header(srv.requests[0], "Idempotency-Key", k1, sizeof(k1)));
	ck_assert_ptr_nonnull(header(srv.requests[1], "Idempotency-Key", k2, sizeof(k2)));
	ck_assert_str_eq(k1, k2);
	close(dead_fd);
}
END_TEST

/* 503 sends the request on; every controller failing is one line naming each. */
START_TEST(unavailable_tries_the_next_and_4xx_does_not)
{
	const char *busy = answer("503 Service Unavailable", "",
				  "{\"title\":\"Unavailable\",\"detail\":\"the store failed\"}");
	char addr[128];
	int dead_fd, dead = dead_port(&dead_fd);

	script(busy, "");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d,127.0.0.1:%d", srv.port, dead);
	/* one controller answered, if only 503: a server error, not unreachable */
	ck_assert_int_eq(run_at(addr, "host", "list", NULL), 1);
	ck_assert_uint_eq(srv.nrequests, 1);
	ck_assert_msg(strstr(err, "cannot reach http://127.0.0.1:") &&
			  strstr(err, "the store failed [HTTP 503]; http://127.0.0.1:") &&
			  strstr(err, "Couldn't connect"),
		      "%s", err);
	ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);

	/* a 404 is the answer: the next controller is not asked (-v would say so) */
	script(answer("404 Not Found", "", "{\"title\":\"Not found\"}"), "");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d,127.0.0.1:%d", srv.port, dead);
	ck_assert_int_eq(run_at(addr, "-v", "version", NULL), 3);
	ck_assert_ptr_null(strstr(err, "Couldn't connect"));
	close(dead_fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_http");
	TCase *tc = tcase_create("http");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, create_retries_with_the_same_key);
	tcase_add_test(tc, dropped_every_time_is_unreachable);
	tcase_add_test(tc, patch_sends_if_match_and_retries_stale);
	tcase_add_test(tc, non_json_success_is_a_server_error);
	tcase_add_test(tc, lists_follow_every_page);
	tcase_add_test(tc, rebalance_shows_and_applies_moves);
	tcase_add_test(tc, refused_fails_over_to_the_next);
	tcase_add_test(tc, lost_create_goes_round_with_its_key);
	tcase_add_test(tc, unavailable_tries_the_next_and_4xx_does_not);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
