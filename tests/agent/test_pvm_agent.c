/* SPDX-License-Identifier: MIT */
/*
 * pvm-agent end to end: the real static binary on the slave side of a pty
 * pair, this test as the host on the master side with the real host-side
 * session. /proc/stat, the clocksource and boot_id come from files under
 * --root so the values reported can be checked exactly; CPUID is the real
 * instruction.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/agent.h"
#include "common/common.h"

#define MS	   1000000ull
#define GIVE_UP_NS (20000 * MS) /* hang guard only, not a timing check */

static char root[64];

static void write_file(const char *rel, const char *text)
{
	char path[256], dir[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (char *p = path + 1; (p = strchr(p, '/')); p++) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - path), path);
		mkdir(dir, 0755);
	}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void make_root(void)
{
	strcpy(root, "/tmp/pvm-agent-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	write_file("/proc/stat", "cpu  100 0 200 3000 40 0 5 4242 0 0\n"
				 "cpu0 100 0 200 3000 40 0 5 4242 0 0\n"
				 "intr 123456 1 2 3\nctxt 987654\nbtime 1700000000\n"
				 "processes 4321\nprocs_running 3\nprocs_blocked 0\n");
	write_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		   "kvm-clock\n");
	write_file("/proc/sys/kernel/random/boot_id", "d36da6a7-6214-4c8c-9815-0e71f81b710c\n");
	/* Two consoles and a block device; a type out of range and garbage
	 * count for nothing. */
	write_file("/sys/bus/virtio/devices/virtio0/device", "0x0003\n");
	write_file("/sys/bus/virtio/devices/virtio1/device", "0x0002\n");
	write_file("/sys/bus/virtio/devices/virtio2/device", "0x0003\n");
	write_file("/sys/bus/virtio/devices/virtio3/device", "0x0040\n");
	write_file("/sys/bus/virtio/devices/virtio4/device", "block\n");
}

static void remove_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

struct run {
	int master;
	pid_t pid;
	struct agent_host *h;
	bool host_talks; /* the host writes only after the agent said hello */
};

/* A new pty pair: the master, and the slave's path in slave. */
static int open_pty(char *slave, size_t size)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	ck_assert_int_eq(ptsname_r(master, slave, size), 0);
	return master;
}

/* A fresh host session, as a host does when it (re)connects. */
static void new_host(struct run *r, const struct agent_host_config *cfg)
{
	r->h = agent_host_new(cfg, pvm_now_ns());
	ck_assert_ptr_nonnull(r->h);
	r->host_talks = false;
}

/* The agent on device, r->master already open. */
static void spawn(struct run *r, const char *device, const char *extra,
		  const struct agent_host_config *cfg)
{
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		execl(PVM_AGENT_BIN, "pvm-agent", "--device", device, "--root", root,
		      "--interval-ms", "200", "--heartbeat-ms", "100", extra, (char *)NULL);
		_exit(127);
	}
	new_host(r, cfg);
}

static void start_with(struct run *r, const char *extra, const struct agent_host_config *cfg)
{
	char slave[128];

	r->master = open_pty(slave, sizeof(slave));
	spawn(r, slave, extra, cfg);
}

static struct agent_report *report_of(struct run *r)
{
	static struct agent_report x;

	return agent_host_report(r->h, &x) == 0 ? &x : NULL;
}

static struct agent_negotiation *neg_of(struct run *r)
{
	static struct agent_negotiation x;

	return agent_host_negotiation(r->h, &x) == 0 ? &x : NULL;
}

static struct agent_hello *hello_of(struct run *r)
{
	static struct agent_hello x;

	return agent_host_hello(r->h, &x) == 0 ? &x : NULL;
}

static void start(struct run *r, const char *extra)
{
	start_with(r, extra, NULL);
}

/* Moves bytes until done(r) holds; fails the test if the agent stops first. */
static void pump_until(struct run *r, bool (*done)(struct run *))
{
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	uint8_t buf[4096];

	while (!done(r)) {
		struct pollfd p = {.fd = r->master, .events = POLLIN};
		uint64_t now = pvm_now_ns();
		ssize_t n;

		if (now >= give_up) {
			json_object *j = agent_host_to_json(r->h, now);

			ck_abort_msg("gave up waiting for the agent: %s",
				     json_object_to_json_string(j));
		}
		if (r->host_talks) {
			size_t out = agent_host_output(r->h, buf, sizeof(buf), now);

			ck_assert_int_eq(write(r->master, buf, out), (ssize_t)out);
		}
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(r->master, buf, sizeof(buf));
		ck_assert_msg(n > 0, "agent side closed: %s", n < 0 ? strerror(errno) : "EOF");
		agent_host_feed(r->h, buf, (size_t)n, pvm_now_ns());
		if (hello_of(r))
			r->host_talks = true;
	}
}

static int finish(struct run *r)
{
	int status;

	ck_assert_int_eq(waitpid(r->pid, &status, 0), r->pid);
	agent_host_free(r->h);
	close(r->master);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static json_object *field(struct run *r, const char *a, const char *b)
{
	json_object *j = agent_host_to_json(r->h, pvm_now_ns()), *x = NULL, *y = NULL;

	if (json_object_object_get_ex(j, a, &x) && b)
		json_object_object_get_ex(x, b, &y);
	y = b ? y : x;
	json_object_get(y);
	json_object_put(j);
	return y;
}

static bool str_is(struct run *r, const char *a, const char *b, const char *want)
{
	json_object *v = field(r, a, b);
	bool eq = v && strcmp(json_object_get_string(v), want) == 0;

	json_object_put(v);
	return eq;
}

static bool connected_with_report(struct run *r)
{
	return report_of(r) && neg_of(r) && str_is(r, "state", NULL, "connected");
}

static bool got_pong(struct run *r)
{
	json_object *v = field(r, "counters", "pongs");
	bool ok = json_object_get_int64(v) >= 1;

	json_object_put(v);
	return ok;
}

static bool interval_applied(struct run *r)
{
	return str_is(r, "last_ack", "request", "set_interval") && report_of(r)->interval_ms == 300;
}

static bool renegotiated(struct run *r)
{
	return strcmp(neg_of(r)->clocksource, "tsc") == 0;
}

static bool gone(struct run *r)
{
	return str_is(r, "state", NULL, "gone");
}

/* What the test reads from CPUID itself, to compare with the agent's view. */
static uint32_t expected_kvm_flags(void)
{
	unsigned a, b, c, d;
	char sig[13] = {0};

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 31)))
		return 0;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	return AGENT_KVM_CPUID_READ | (strcmp(sig, "KVMKVMKVM") == 0 ? AGENT_KVM_SIGNATURE : 0);
}

START_TEST(full_session_over_a_pty)
{
	const struct agent_negotiation *n;
	const struct agent_report *rep;
	const struct agent_hello *he;
	struct run r;
	uint8_t junk[3000];
	struct termios t;
	char slave[128];
	int sfd;

	make_root();
	start(&r, "--verbose");
	pump_until(&r, connected_with_report);

	he = hello_of(&r);
	ck_assert_uint_eq(he->guest_kind, AGENT_GUEST_LINUX);
	ck_assert_msg(strncmp(he->os, "Linux ", 6) == 0, "os '%s'", he->os);
	ck_assert(str_is(&r, "hello", "boot_id", "d36da6a7-6214-4c8c-9815-0e71f81b710c"));
	n = neg_of(&r);
	ck_assert_uint_eq(n->status, AGENT_NEG_NONE);
	ck_assert_str_eq(n->clocksource, "kvm-clock");
	ck_assert_uint_eq(n->steal_ticks, 4242);
	ck_assert_uint_eq(n->virtio_devices, 1u << 2 | 1u << 3);
	ck_assert_uint_eq(n->kvm_flags & ~(AGENT_KVM_CPUID_READ | AGENT_KVM_SIGNATURE),
			  AGENT_KVM_CLOCK_IN_USE | AGENT_KVM_STEAL_NONZERO);
	ck_assert_uint_eq(n->kvm_flags & (AGENT_KVM_CPUID_READ | AGENT_KVM_SIGNATURE),
			  expected_kvm_flags());
	rep = report_of(&r);
	ck_assert_uint_eq(rep->interval_ms, 200);
	ck_assert_uint_eq(rep->ncounters, 5);
	ck_assert_str_eq(rep->counters[0].name, "steal_ticks");
	ck_assert_uint_eq(rep->counters[0].value, 4242);
	ck_assert_uint_eq(rep->counters[1].value, 987654);
	ck_assert_uint_eq(rep->counters[2].value, 123456);
	ck_assert_uint_eq(rep->counters[3].value, 4321);
	ck_assert_uint_eq(rep->counters[4].value, 3);

	/* The agent put its side of the pty into raw mode. */
	ck_assert_int_eq(ptsname_r(r.master, slave, sizeof(slave)), 0);
	sfd = open(slave, O_RDWR | O_NOCTTY);
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_eq(tcgetattr(sfd, &t), 0);
	ck_assert_uint_eq(t.c_lflag & (ICANON | ECHO | ISIG), 0);
	ck_assert_uint_eq(t.c_oflag & OPOST, 0);
	close(sfd);

	/* Garbage from the host side, then a ping: the agent resynchronises. */
	srand(3);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i % 97 == 0 ? 'P' : rand());
	memcpy(junk + 1000, "PVAG\x01\x41", 6);
	ck_assert_int_eq(write(r.master, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	ck_assert_int_eq(agent_host_ping(r.h, pvm_now_ns()), 0);
	pump_until(&r, got_pong);

	ck_assert_int_eq(agent_host_set_interval(r.h, 300, pvm_now_ns()), 0);
	pump_until(&r, interval_applied);

	write_file("/sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc\n");
	ck_assert_int_eq(agent_host_renegotiate(r.h, pvm_now_ns()), 0);
	pump_until(&r, renegotiated);
	ck_assert_uint_eq(neg_of(&r)->kvm_flags & AGENT_KVM_CLOCK_IN_USE, 0);

	ck_assert_int_eq(agent_host_shutdown(r.h, 1000, pvm_now_ns()), 0);
	pump_until(&r, gone);
	ck_assert(str_is(&r, "bye", "reason", "shutdown"));
	ck_assert_int_eq(finish(&r), 0);
	remove_root();
}
END_TEST

static uint64_t pongs_wanted;

static bool pongs_reached(struct run *r)
{
	struct agent_host_counters c;

	agent_host_counters(r->h, &c);
	return c.pongs >= pongs_wanted;
}

/* A flood of pings from the host side: the agent stays up, its answers
 * collapse, and the host's own next ping is answered. */
START_TEST(request_flood_from_the_host)
{
	static uint8_t flood[2000 * (AGENT_HDR_SIZE + 8)];
	struct agent_msg ping = {.type = AGENT_T_PING};
	/* The host's own flood limit would drop the answers: lift it here. */
	struct agent_host_config cfg = {.frame_rate = 1000000, .frame_burst = 1000000};
	struct agent_host_counters c;
	size_t len = 0;
	struct run r;

	make_root();
	start_with(&r, "--verbose", &cfg);
	pump_until(&r, connected_with_report);
	for (uint32_t i = 0; i < 2000; i++) {
		ping.seq = i;
		ping.u.nonce = i;
		len += (size_t)agent_encode(&ping, flood + len, sizeof(flood) - len);
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(r.master, flood + off, len - off);

		ck_assert_int_gt(w, 0);
		off += (size_t)w;
		pump_until(&r, connected_with_report); /* keeps reading meanwhile */
	}
	agent_host_counters(r.h, &c);
	pongs_wanted = c.pongs + 1;
	ck_assert_int_eq(agent_host_ping(r.h, pvm_now_ns()), 0);
	pump_until(&r, pongs_reached);
	ck_assert_int_eq(kill(r.pid, 0), 0);
	ck_assert_int_eq(agent_host_shutdown(r.h, 0, pvm_now_ns()), 0);
	pump_until(&r, gone);
	ck_assert_int_eq(finish(&r), 0);
	remove_root();
}
END_TEST

START_TEST(sigterm_says_bye)
{
	struct run r;

	make_root();
	start(&r, "--on-shutdown=exit");
	pump_until(&r, connected_with_report);
	ck_assert_int_eq(kill(r.pid, SIGTERM), 0);
	pump_until(&r, gone);
	ck_assert(str_is(&r, "bye", "reason", "exit"));
	ck_assert_int_eq(finish(&r), 0);
	remove_root();
}
END_TEST

/* The host closes its end and comes back on a new pty behind the same name
 * (as udev's /dev/virtio-ports/ link names the port): the agent reopens it
 * and a new session starts with a new hello. */
START_TEST(host_hangup_reopens_the_port)
{
	char slave[128], link[160], tmp[168];
	struct run r;

	make_root();
	snprintf(link, sizeof(link), "%s/port", root);
	snprintf(tmp, sizeof(tmp), "%s/port.new", root);
	r.master = open_pty(slave, sizeof(slave));
	ck_assert_int_eq(symlink(slave, link), 0);
	spawn(&r, link, "--verbose", NULL);
	pump_until(&r, connected_with_report);

	close(r.master);
	agent_host_free(r.h);
	r.master = open_pty(slave, sizeof(slave));
	ck_assert_int_eq(symlink(slave, tmp), 0);
	ck_assert_int_eq(rename(tmp, link), 0);
	new_host(&r, NULL);
	pump_until(&r, connected_with_report);
	ck_assert_int_eq(kill(r.pid, 0), 0);

	ck_assert_int_eq(agent_host_shutdown(r.h, 0, pvm_now_ns()), 0);
	pump_until(&r, gone);
	ck_assert_int_eq(finish(&r), 0);
	remove_root();
}
END_TEST

static int run_args(const char *a, const char *b, const char *c)
{
	int status, devnull = open("/dev/null", O_WRONLY);
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(devnull, 2);
		execl(PVM_AGENT_BIN, "pvm-agent", a, b, c, (char *)NULL);
		_exit(127);
	}
	close(devnull);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(bad_usage_exits_2)
{
	ck_assert_int_eq(run_args("--device", "/nonexistent/ttyS1", NULL), 2);
	ck_assert_int_eq(run_args("--device", "/dev/null", "--interval-ms=5"), 2);
	ck_assert_int_eq(run_args("--device", "/dev/null", "--heartbeat-ms=x"), 2);
	ck_assert_int_eq(run_args("--device", "/dev/null", "--on-shutdown=halt"), 2);
	ck_assert_int_eq(run_args("--interval-ms", "500", NULL), 2);
	ck_assert_int_eq(run_args("--device", "/dev/null", "stray"), 2);
	ck_assert_int_eq(run_args("--bogus", NULL, NULL), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_pvm_agent");
	TCase *tc = tcase_create("pty");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, full_session_over_a_pty);
	tcase_add_test(tc, request_flood_from_the_host);
	tcase_add_test(tc, sigterm_says_bye);
	tcase_add_test(tc, host_hangup_reopens_the_port);
	tcase_add_test(tc, bad_usage_exits_2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
