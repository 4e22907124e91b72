// SPDX-License-Identifier: MIT
/*
 * The control socket and stopping: a real pvm-vmm with an idle guest,
 * driven over its unix socket (status, stats, capabilities, pause, resume,
 * agent, stop, malformed requests), SIGTERM, and a forced stop.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv/hv.h"
#include "vmm.h"

static char sock_path[4096], out_path[4096];

static int ctl_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	ck_assert_uint_lt(strlen(sock_path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	for (int i = 0; i < 500; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	ck_abort_msg("cannot connect to %s", sock_path);
	return -1;
}

/* Sends one line, returns the parsed answer line. */
static json_object *ask(int fd, const char *line)
{
	char buf[65536];
	size_t n = 0;

	ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	ck_assert_int_eq(write(fd, "\n", 1), 1);
	while (n < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + n, 1);

		ck_assert_int_eq(r, 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	json_object *o = json_tokener_parse(buf);

	ck_assert_msg(o != NULL, "answer not JSON: %s", buf);
	return o;
}

static bool ok(json_object *o)
{
	json_object *v;

	return json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v);
}

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static pid_t start(const char *image, const char *cmdline)
{
	const char *argv[] = {"run",   "--image",    vmm_guest(image), "--cmdline",
			      cmdline, "--api-sock", sock_path,	       NULL};

	snprintf(sock_path, sizeof(sock_path), "%s", vmm_tmp("ctl.sock"));
	snprintf(out_path, sizeof(out_path), "%s", vmm_tmp("console.out"));
	argv[6] = sock_path;
	return vmm_spawn(argv, out_path);
}

static bool console_has(const char *what)
{
	char buf[65536] = "";
	FILE *f;

	for (int i = 0; i < 500; i++) {
		f = fopen(out_path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			buf[n] = 0;
			fclose(f);
			if (strstr(buf, what))
				return true;
		}
		usleep(10000);
	}
	return false;
}

START_TEST(protocol)
{
	pid_t pid = start("idle", "mode=pv");
	int fd = ctl_connect();
	json_object *a;

	ck_assert(console_has("idle: up"));
	a = ask(fd, "{\"cmd\":\"status\"}");
	ck_assert(ok(a));
	ck_assert_str_eq(str(a, "state"), "running");
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"capabilities\"}");
	ck_assert(ok(a));
	ck_assert_int_eq(vmm_json_int(a, "abi_version"), 1);
	ck_assert_int_eq(vmm_json_int(a, "negotiated_mask"),
			 PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK) | PV_F(PV_HOOK_AGENT) |
			     PV_F(PV_HOOK_HALT));
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"pause\"}");
	ck_assert(ok(a));
	ck_assert_str_eq(str(a, "state"), "paused");
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"pause\"}");
	ck_assert(!ok(a));
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"resume\"}");
	ck_assert(ok(a));
	ck_assert_str_eq(str(a, "state"), "running");
	json_object_put(a);
	/* malformed requests: an error answer each, the connection stays */
	static const char *const bad[] = {
	    "{\"cmd\":\"agent_set_interval\",\"interval_ms\":99}",
	    "{\"cmd\":\"agent_set_interval\",\"interval_ms\":3600001}",
	    "{\"cmd\":\"agent_set_interval\"}",
	    "{\"cmd\":\"agent_send\",\"data\":\"x\"}",
	    "{\"cmd\":\"agent_recv\"}",
	    "{\"cmd\":\"agent\",\"data\":\"x\"}",
	    "nonsense",
	    "{\"cmd\":\"reboot\"}",
	    "{\"cmd\":\"status\",\"extra\":1}",
	    "{\"cmd\":5}",
	    "{}",
	    "[1,2]",
	    "{\"cmd\":\"stop\",\"timeout_ms\":-4}",
	    "{\"cmd\":\"agent_shutdown\",\"timeout_ms\":0}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = ask(fd, bad[i]);
		ck_assert_msg(!ok(a), "accepted %s", bad[i]);
		ck_assert_str_ne(str(a, "error"), "");
		json_object_put(a);
	}
	/* the guest's agent on the socket (more in test_agent.c) */
	for (int i = 0; i < 500; i++) {
		a = ask(fd, "{\"cmd\":\"agent\"}");
		ck_assert(ok(a));
		if (vmm_json_int(a, "agent.hello.protocol_max") > 0)
			break;
		json_object_put(a);
		a = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(str(json_object_object_get(a, "agent"), "state"), "connected");
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"stop\",\"timeout_ms\":5000}");
	ck_assert(ok(a));
	json_object_put(a);
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
	ck_assert(console_has("idle: stopping on request"));
	ck_assert_int_ne(access(sock_path, F_OK), 0);
}
END_TEST

/* A line over the 64 KiB limit: one error answer, then the connection closes;
 * the VMM and other clients carry on. */
/* Stops the VMM over a fresh connection; it must exit 0. */
static void stop_and_wait(pid_t pid)
{
	int fd = ctl_connect();
	json_object *a = ask(fd, "{\"cmd\":\"stop\"}");

	ck_assert(ok(a));
	json_object_put(a);
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
}

START_TEST(overlong_request_line)
{
	pid_t pid = start("idle", "mode=pv");
	int fd = ctl_connect();
	size_t n = 70000;
	char *big = malloc(n), buf[4096];
	ssize_t r, got = 0;

	memset(big, 'x', n);
	ck_assert(console_has("idle: up"));
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, big + off, n - off);

		if (w <= 0)
			break; /* the VMM may close before taking it all */
		off += (size_t)w;
	}
	while ((r = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += r;
	buf[got] = 0;
	ck_assert_ptr_nonnull(strstr(buf, "request line too long"));
	close(fd);
	free(big);
	stop_and_wait(pid);
}
END_TEST

/* A client that sends many requests at once and then shuts down its side
 * gets every answer before the VMM hangs up (it used to drop the client at
 * its EOF, answers queued or not: found by tests/fuzz/fuzz_ctl). The answers
 * are far more than one pass of the queue. */
START_TEST(pipelined_requests_all_answered)
{
	pid_t pid = start("idle", "mode=pv");
	int fd = ctl_connect(), lines = 0;
	static const char req[] = "{\"cmd\":\"stats\"}\n";
	enum { N = 400 };
	size_t cap = 8u << 20, got = 0, start_ = 0;
	char *buf = malloc(cap), *reqs = malloc(N * (sizeof(req) - 1));
	json_object *a;
	ssize_t r;

	ck_assert(console_has("idle: up"));
	for (int i = 0; i < N; i++)
		memcpy(reqs + (size_t)i * (sizeof(req) - 1), req, sizeof(req) - 1);
	ck_assert_int_eq(write(fd, reqs, N * (sizeof(req) - 1)), N * (sizeof(req) - 1));
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	while ((r = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)r;
	for (size_t i = 0; i < got; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		a = json_tokener_parse(buf + start_);
		ck_assert_msg(ok(a), "answer %d: %.80s", lines, buf + start_);
		json_object_put(a);
		lines++;
		start_ = i + 1;
	}
	ck_assert_int_eq(lines, N);
	close(fd);
	free(reqs);
	free(buf);
	stop_and_wait(pid);
}
END_TEST

/* A client that sends requests and never reads its answers: once its socket
 * is full the VMM gives up on it, and other clients are still answered. */
START_TEST(slow_client_does_not_block_others)
{
	pid_t pid = start("idle", "mode=pv");
	int fd = ctl_connect(), fd2, small = 4096;
	static const char req[] = "{\"cmd\":\"stats\"}\n";
	json_object *a;

	ck_assert(console_has("idle: up"));
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	/* far more answer bytes than both socket buffers hold */
	for (int i = 0; i < 3000; i++)
		if (write(fd, req, sizeof(req) - 1) < 0)
			break;
	fd2 = ctl_connect();
	a = ask(fd2, "{\"cmd\":\"status\"}");
	ck_assert(ok(a));
	json_object_put(a);
	a = ask(fd2, "{\"cmd\":\"stop\"}");
	ck_assert(ok(a));
	json_object_put(a);
	close(fd2);
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

/* Every connection slot held by a client that sent half a line and went
 * quiet: a new client takes the slot idle the longest and is answered. */
START_TEST(idle_clients_do_not_lock_others_out)
{
	pid_t pid = start("idle", "mode=pv");
	int fds[8], fd;
	json_object *a;

	ck_assert(console_has("idle: up"));
	for (int i = 0; i < 8; i++) {
		fds[i] = ctl_connect();
		ck_assert_int_eq(write(fds[i], "{\"cmd\"", 6), 6);
	}
	fd = ctl_connect();
	a = ask(fd, "{\"cmd\":\"status\"}");
	ck_assert_msg(ok(a), "%s", json_object_to_json_string(a));
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"stop\"}");
	ck_assert(ok(a));
	json_object_put(a);
	close(fd);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

/* ---- seven hostile clients beside a well-behaved one ---------------------- */

enum hostile_kind { STALL, BYTE_A_SECOND, FLOOD_UNREAD, FLOOD_JUNK };

struct hostile {
	pthread_t th;
	enum hostile_kind kind;
	atomic_bool *stop;
	long reconnects;
};

static int connect_nb(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Each kind misbehaves in a loop until told to stop, reconnecting whenever
 * the VMM drops it. */
static void *hostile_main(void *arg)
{
	static const char req[] = "{\"cmd\":\"stats\"}\n";
	struct hostile *h = arg;
	char junk[65536];
	bool fresh = false;
	int fd = -1;

	memset(junk, 'j', sizeof(junk));
	while (!atomic_load(h->stop)) {
		ssize_t w = 0;

		if (fd < 0) {
			fd = connect_nb();
			h->reconnects++;
			if (fd < 0) {
				usleep(10000);
				continue;
			}
			fresh = true;
		}
		switch (h->kind) {
		case STALL: /* half a line, then nothing */
			w = fresh ? send(fd, "{\"cmd\"", 6, MSG_NOSIGNAL) : 0;
			fresh = false;
			usleep(50000);
			break;
		case BYTE_A_SECOND:
			w = send(fd, "{", 1, MSG_NOSIGNAL);
			usleep(1000000);
			break;
		case FLOOD_UNREAD: /* requests as fast as they go, answers never read */
			w = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
			if (w < 0 && errno == EAGAIN) {
				w = 0;
				usleep(1000);
			}
			break;
		case FLOOD_JUNK: /* gigabytes of one endless line */
			w = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
			if (w < 0 && errno == EAGAIN) {
				w = 0;
				usleep(1000);
			}
			break;
		}
		if (w < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Two clients that connect and stall, two that send a byte a second, two
 * that flood requests and never read, one that sends one endless line: a
 * well-behaved client asking 50 times is answered every time, each within a
 * bound far below the 2 s a blocked send would cost it (the bound is
 * generous: this is about never waiting on another client, not speed), and
 * the VMM is alive and stops cleanly.
 */
START_TEST(hostile_clients_do_not_delay_others)
{
	static const enum hostile_kind kinds[7] = {
	    STALL, STALL, BYTE_A_SECOND, BYTE_A_SECOND, FLOOD_UNREAD, FLOOD_UNREAD, FLOOD_JUNK};
	struct hostile h[7];
	atomic_bool stop = false;
	pid_t pid = start("idle", "mode=pv");
	uint64_t worst = 0;
	json_object *a;

	ck_assert(console_has("idle: up"));
	for (int i = 0; i < 7; i++) {
		h[i] = (struct hostile){.kind = kinds[i], .stop = &stop};
		ck_assert_int_eq(pthread_create(&h[i].th, NULL, hostile_main, &h[i]), 0);
	}
	usleep(300000);
	for (int i = 0; i < 50; i++) {
		int fd = ctl_connect();
		uint64_t t0 = pvm_now_ns(), dt;

		a = ask(fd, "{\"cmd\":\"status\"}");
		dt = pvm_now_ns() - t0;
		ck_assert_msg(ok(a), "%s", json_object_to_json_string(a));
		json_object_put(a);
		close(fd);
		worst = dt > worst ? dt : worst;
		usleep(50000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 7; i++)
		pthread_join(h[i].th, NULL);
	printf("hostile_clients: worst answer %.1f ms; reconnects: flood %ld %ld, junk %ld\n",
	       (double)worst / 1e6, h[4].reconnects, h[5].reconnects, h[6].reconnects);
	ck_assert_msg(worst < 1000000000ull, "an answer took %.1f ms", (double)worst / 1e6);
	a = ask(ctl_connect(), "{\"cmd\":\"stop\"}");
	ck_assert(ok(a));
	json_object_put(a);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

START_TEST(sigterm_is_graceful)
{
	pid_t pid = start("idle", "mode=pv");

	ck_assert(console_has("idle: up"));
	kill(pid, SIGTERM);
	ck_assert_int_eq(vmm_wait(pid), 0);
	ck_assert(console_has("idle: stopping on request"));
}
END_TEST

/* A second VMM given a live VMM's socket is refused and leaves it in place. */
START_TEST(live_socket_is_not_taken)
{
	pid_t pid = start("idle", "mode=pv");
	const char *argv[] = {"run",	 "--image",    vmm_guest("idle"), "--cmdline",
			      "mode=pv", "--api-sock", sock_path,	  NULL};
	struct vmm_result r;
	json_object *a;
	int fd;

	ck_assert(console_has("idle: up"));
	ck_assert_int_eq(vmm_run(&r, argv), 0);
	ck_assert_int_eq(r.code, HV_EXIT_CONFIG);
	ck_assert_ptr_nonnull(strstr(r.err, "a running VMM answers there"));
	vmm_result_free(&r);
	fd = ctl_connect();
	a = ask(fd, "{\"cmd\":\"status\"}");
	ck_assert(ok(a));
	ck_assert_str_eq(str(a, "state"), "running");
	json_object_put(a);
	close(fd);
	kill(pid, SIGTERM);
	ck_assert_int_eq(vmm_wait(pid), 0);
	/* the VMM that owned it removed its socket on the way out */
	ck_assert_int_ne(access(sock_path, F_OK), 0);
}
END_TEST

START_TEST(stop_forced_after_timeout)
{
	/* compute never looks at the stop flag: the graceful stop times out */
	pid_t pid = start("compute", "mode=pv iters=1000000000000");
	int fd = ctl_connect();
	json_object *a = ask(fd, "{\"cmd\":\"stop\",\"timeout_ms\":200}");

	ck_assert(ok(a));
	json_object_put(a);
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), HV_EXIT_FORCED);
}
END_TEST

START_TEST(pause_stops_a_busy_guest)
{
	pid_t pid = start("compute", "iters=1000000000000");
	int fd = ctl_connect();
	json_object *a = ask(fd, "{\"cmd\":\"pause\"}");

	ck_assert(ok(a));
	ck_assert_str_eq(str(a, "state"), "paused");
	json_object_put(a);
	a = ask(fd, "{\"cmd\":\"stop\",\"force\":true}");
	ck_assert(ok(a));
	json_object_put(a);
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), HV_EXIT_FORCED);
}
END_TEST

/* The process platform's guest process killed from outside: the VMM says so and ends. */
START_TEST(guest_process_death_ends_the_run)
{
	pid_t pid = start("idle", "mode=pv"), child = 0;
	char path[64];
	FILE *f;
	int code;

	ck_assert(console_has("idle: up"));
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	for (int i = 0; i < 200 && !child; i++) {
		f = fopen(path, "r");
		if (f && fscanf(f, "%d", &child) != 1)
			child = 0;
		if (f)
			fclose(f);
		if (!child)
			usleep(10000);
	}
	ck_assert_int_gt(child, 0);
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	code = vmm_wait(pid);
	ck_assert_int_eq(code, HV_EXIT_INTERNAL);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	vmm_require_platform();
	s = suite_create("hv_ctl");
	tc = tcase_create("ctl");
	tcase_add_test(tc, protocol);
	tcase_add_test(tc, overlong_request_line);
	tcase_add_test(tc, pipelined_requests_all_answered);
	tcase_add_test(tc, slow_client_does_not_block_others);
	tcase_add_test(tc, idle_clients_do_not_lock_others_out);
	tcase_add_test(tc, hostile_clients_do_not_delay_others);
	tcase_add_test(tc, sigterm_is_graceful);
	tcase_add_test(tc, live_socket_is_not_taken);
	if (vmm_platform() == HV_PLATFORM_PROCESS)
		tcase_add_test(tc, guest_process_death_ends_the_run);
	tcase_add_test(tc, stop_forced_after_timeout);
	tcase_add_test(tc, pause_stops_a_busy_guest);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
