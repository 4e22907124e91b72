/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the VMM control socket (hv/ctl.c): the input after
 * its first byte is what one client sends, through the real socket and the
 * control thread, to a VM without a vCPU. Bit 0 of the first byte gives the
 * VM an agent session, so the agent commands get past "no agent". Every
 * complete line must get exactly one answer line, a JSON object with "ok".
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/fuzz/fake_vm.h"

#define MAX_INPUT (256u << 10)
#define LINE_MAX_ 65536 /* hv/ctl.c's CTL_LINE_MAX */

static struct hv_vm *vm;
static char dir[] = "/tmp/pvm-fuzz-ctl-XXXXXX";
static struct sockaddr_un sa = {.sun_family = AF_UNIX};

static void cleanup(void)
{
	unlink(sa.sun_path);
	rmdir(dir);
}

static void setup(void)
{
	struct pvm_err err = {0};
	struct hv_ctl *ctl;

	vm = fuzz_vm_new(4ull << 20, false, 0);
	vm->vcpus_parked = vm->nvcpus; /* a pause has nothing to wait for */
	if (!mkdtemp(dir))
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl.sock", dir);
	if (hv_ctl_open(vm, sa.sun_path, &ctl, &err) < 0) {
		fprintf(stderr, "fuzz_ctl: %s\n", err.msg);
		abort();
	}
	atexit(cleanup);
}

/* Back to a fresh, created VM; the control thread is idle between inputs. */
static void reset(bool agent)
{
	pthread_mutex_lock(&vm->lock);
	vm->state = HV_STATE_CREATED;
	vm->done = false;
	vm->pause_req = false;
	vm->stop_deadline_ns = 0;
	vm->exit_code = 0;
	vm->exit_reason[0] = '\0';
	vm->boot->host_flags = 0;
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&vm->pv.lock);
	hv_agent_free(vm);
	vm->pv.agent_qlen = 0;
	if (agent)
		hv_agent_feed(vm, "", 0);
	pthread_mutex_unlock(&vm->pv.lock);
}

/* Sends in[0..n) and reads the answers until the VMM hangs up. */
static size_t exchange(int fd, const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t sent = 0, got = 0;

	if (n == 0)
		shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < n ? POLLOUT : 0)};
		int ready = poll(&p, 1, 5000);

		if (ready < 0 && errno == EINTR)
			continue; /* libFuzzer's -timeout alarm */
		if (ready <= 0)
			abort(); /* the control thread stopped answering */
		if (p.revents & POLLOUT) {
			ssize_t w = send(fd, in + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				sent = n; /* the VMM hung up on us */
			if (sent == n)
				shutdown(fd, SHUT_WR);
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t r = recv(fd, out + got, cap - got, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (r > 0)
				got += (size_t)r;
			if (got == cap)
				abort(); /* more answer than any request can make */
		}
	}
	return got;
}

static void check_answers(const uint8_t *in, size_t n, char *out, size_t len)
{
	size_t lines = 0, answers = 0, start = 0;

	for (size_t i = 0, l = 0; i < n; i++, l++) {
		if (l == LINE_MAX_)
			return; /* an overlong line: one error, then the VMM hangs up */
		if (in[i] == '\n') {
			lines++;
			l = (size_t)-1;
		}
	}
	for (size_t i = 0; i < len; i++) {
		struct pvm_err err = {0};
		json_object *a = NULL, *ok;

		if (out[i] != '\n')
			continue;
		if (pvm_json_parse(out + start, i - start, &pvm_json_default_limits, &a, &err) <
			0 ||
		    !json_object_object_get_ex(a, "ok", &ok) ||
		    !json_object_is_type(ok, json_type_boolean))
			abort(); /* not an answer */
		json_object_put(a);
		answers++;
		start = i + 1;
	}
	if (start != len || answers != lines)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[8u << 20];
	size_t len;
	int fd;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (!vm)
		setup();
	reset(data[0] & 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINTR))
		abort();
	len = exchange(fd, data + 1, size - 1, out, sizeof(out));
	close(fd);
	check_answers(data + 1, size - 1, out, len);
	return 0;
}
