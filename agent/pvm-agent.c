/* SPDX-License-Identifier: MIT */
/*
 * pvm-agent: the Linux user-space guest agent. Speaks agent protocol v1 over
 * a character device (a serial port such as /dev/ttyS1, or a virtio-serial
 * port) and reports the KVM pv features the running kernel uses. When the
 * host closes its end (a virtio-serial port whose socket client went away,
 * a pty whose master closed) it reopens the device and starts a new session,
 * so no supervisor is needed to survive a host restart.
 *
 * A static binary for initramfs use, so it links no shared library and only
 * the libc-only parts of common/ (time, numbers); its few messages go to
 * stderr directly because common's logger pulls in libsystemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/linux.h"
#include "common/common.h"

#define EXIT_USAGE 2
#define REOPEN_NS  200000000 /* between attempts to reopen a closed port */

struct opts {
	const char *device;
	const char *root;
	int64_t interval_ms, heartbeat_ms;
	bool poweroff, verbose;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *fp)
{
	fprintf(fp, "usage: pvm-agent --device PATH [options]\n"
		    "  --device PATH        serial port or virtio-serial port to speak on\n"
		    "  --interval-ms N      report interval (100..3600000, default 1000)\n"
		    "  --heartbeat-ms N     heartbeat after N ms of silence (100..60000, "
		    "default 1000)\n"
		    "  --on-shutdown ACTION exit|poweroff when the host asks (default exit)\n"
		    "  --root DIR           read /proc and /sys below DIR (tests)\n"
		    "  --verbose            log requests to stderr\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"heartbeat-ms", required_argument, NULL, 'b'},
	    {"on-shutdown", required_argument, NULL, 's'},
	    {"root", required_argument, NULL, 'r'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.root = "", .interval_ms = 1000, .heartbeat_ms = 1000};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->device = optarg;
			break;
		case 'i':
			if (pvm_parse_int(optarg, AGENT_INTERVAL_MIN_MS, AGENT_INTERVAL_MAX_MS,
					  &o->interval_ms)) {
				fprintf(stderr, "pvm-agent: --interval-ms: '%s' is not in %d..%d\n",
					optarg, AGENT_INTERVAL_MIN_MS, AGENT_INTERVAL_MAX_MS);
				return -EINVAL;
			}
			break;
		case 'b':
			if (pvm_parse_int(optarg, 100, 60000, &o->heartbeat_ms)) {
				fprintf(stderr,
					"pvm-agent: --heartbeat-ms: '%s' is not in 100..60000\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 's':
			if (strcmp(optarg, "exit") != 0 && strcmp(optarg, "poweroff") != 0) {
				fprintf(stderr,
					"pvm-agent: --on-shutdown: '%s' is not exit|poweroff\n",
					optarg);
				return -EINVAL;
			}
			o->poweroff = strcmp(optarg, "poweroff") == 0;
			break;
		case 'r':
			o->root = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pvm-agent: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->device) {
		fprintf(stderr, "pvm-agent: --device is required\n");
		return -EINVAL;
	}
	return 0;
}

/* Opens the device; a tty goes to raw mode so no byte is translated. */
static int open_device(const char *path, bool quiet)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		if (!quiet)
			fprintf(stderr, "pvm-agent: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!isatty(fd))
		return fd;
	if (tcgetattr(fd, &t) != 0)
		goto fail;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) != 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "pvm-agent: %s: raw mode: %s\n", path, strerror(errno));
	close(fd);
	return -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fill_report(void *ctx, struct agent_report *r)
{
	agent_linux_fill_report(ctx, r);
}

static void renegotiate(struct agent_sm *sm, const char *root)
{
	struct agent_negotiation n;

	agent_linux_negotiation(root, &n);
	/* What the probe reads always passes the protocol's rules. */
	agent_sm_set_negotiation(sm, &n);
}

/* Signals are blocked except inside ppoll, so a stop is never missed. */
static void log_counters(const struct agent_sm *sm)
{
	fprintf(stderr,
		"pvm-agent: frames in %llu out %llu, rejected %llu, garbage bytes %llu, "
		"replies dropped %llu, reports %u\n",
		(unsigned long long)sm->frames_in, (unsigned long long)sm->frames_out,
		(unsigned long long)sm->dec.rejected, (unsigned long long)sm->dec.garbage_bytes,
		(unsigned long long)sm->replies_dropped, sm->reports_sent);
}

/* The host's end is gone: a virtio port reads EOF, a pty without master EIO. */
static bool host_gone(int err)
{
	return err == EIO || err == EPIPE || err == ENXIO;
}

/* One session on fd: 0 when it ended as asked, -EPIPE when the host closed
 * its end, another negative errno on failure. */
static int run(const struct opts *o, int fd, const sigset_t *waitmask)
{
	static struct agent_sm sm;
	static uint8_t buf[4 * AGENT_FRAME_MAX];
	struct agent_sm_config cfg = {
	    .guest_kind = AGENT_GUEST_LINUX,
	    .interval_ms = (uint32_t)o->interval_ms,
	    .heartbeat_ms = (uint32_t)o->heartbeat_ms,
	    .fill_report = fill_report,
	    .ctx = (void *)o->root,
	};
	char os[AGENT_OS_MAX + 1];
	bool shutdown = false;
	int ret;

	agent_linux_os(os, sizeof(os));
	cfg.os = os;
	if (agent_linux_boot_id(o->root, cfg.boot_id) != 0)
		memset(cfg.boot_id, 0, sizeof(cfg.boot_id)); /* unknown: all zero */
	if (agent_sm_init(&sm, &cfg, pvm_now_ns()) != 0) {
		fprintf(stderr, "pvm-agent: bad agent configuration\n");
		return -EINVAL;
	}
	renegotiate(&sm, o->root);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = pvm_now_ns(), deadline;
		struct timespec ts;
		uint32_t ev;
		size_t n;

		if (stop_requested && !shutdown) {
			agent_sm_bye(&sm);
			shutdown = true;
		}
		n = agent_sm_output(&sm, buf, sizeof(buf), now);
		ret = write_all(fd, buf, n);
		if (ret && host_gone(-ret)) {
			ret = -EPIPE;
			goto out;
		}
		if (ret) {
			fprintf(stderr, "pvm-agent: write: %s\n", strerror(-ret));
			goto out;
		}
		ev = agent_sm_events(&sm);
		if (ev & AGENT_EV_RENEGOTIATE)
			renegotiate(&sm, o->root);
		if (ev & AGENT_EV_SHUTDOWN)
			shutdown = true;
		if (o->verbose && ev)
			fprintf(stderr, "pvm-agent:%s%s%s%s (interval %u ms)\n",
				ev & AGENT_EV_SYNC ? " sync" : "",
				ev & AGENT_EV_INTERVAL ? " set-interval" : "",
				ev & AGENT_EV_RENEGOTIATE ? " renegotiate" : "",
				ev & AGENT_EV_SHUTDOWN ? " shutdown" : "", sm.interval_ms);
		if (ev)
			continue; /* answers to the events go out first */
		if (agent_sm_done(&sm))
			break;
		deadline = agent_sm_next_deadline(&sm);
		if (deadline <= now)
			deadline = now;
		/* Wake at least once a minute; the machine decides what is due. */
		if (deadline - now > 60000000000ull)
			deadline = now + 60000000000ull;
		ts.tv_sec = (time_t)((deadline - now) / 1000000000);
		ts.tv_nsec = (long)((deadline - now) % 1000000000);
		if (ppoll(&pfd, 1, &ts, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			fprintf(stderr, "pvm-agent: poll: %s\n", strerror(errno));
			goto out;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r == 0 || (r < 0 && host_gone(errno))) {
				ret = -EPIPE;
				goto out;
			}
			if (r < 0) {
				ret = -errno;
				fprintf(stderr, "pvm-agent: read: %s\n", strerror(errno));
				goto out;
			}
			agent_sm_input(&sm, buf, (size_t)r, pvm_now_ns());
		}
	}
	ret = 0;
	if (o->poweroff && !stop_requested) {
		sync();
		reboot(RB_POWER_OFF);
		ret = -errno;
		fprintf(stderr, "pvm-agent: poweroff: %s\n", strerror(errno));
	}
out:
	if (o->verbose)
		log_counters(&sm);
	return ret;
}

/* Waits until the device opens again; -1 when a stop signal came first. */
static int reopen_device(const char *path, const sigset_t *waitmask)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = REOPEN_NS};

	for (;;) {
		int fd;

		if (stop_requested)
			return -1;
		ppoll(NULL, 0, &ts, waitmask);
		if (stop_requested)
			return -1;
		fd = open_device(path, true);
		if (fd >= 0)
			return fd;
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block, waitmask;
	struct opts o;
	int fd, ret;

	if (parse_opts(argc, argv, &o))
		return EXIT_USAGE;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	fd = open_device(o.device, false);
	if (fd < 0)
		return EXIT_USAGE;
	for (;;) {
		ret = run(&o, fd, &waitmask);
		close(fd);
		if (ret != -EPIPE)
			break;
		fprintf(stderr, "pvm-agent: %s: the host side closed; reopening\n", o.device);
		fd = reopen_device(o.device, &waitmask);
		if (fd < 0) {
			ret = 0;
			break;
		}
	}
	return ret ? 1 : 0;
}
