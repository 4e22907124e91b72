// SPDX-License-Identifier: MIT
/*
 * The agent session of a VM: agent/'s host side (struct agent_host) wired to
 * the agent-channel hook. It is created when the guest's agent first sends
 * bytes, so a guest that negotiates the hook but runs no agent gets no SYNC
 * traffic. Guest bytes are fed on the I/O thread; the session's output
 * (SYNC, requests) goes to the guest's rx ring on the same thread, after
 * each agent doorbell, on a wake-up and when the session's deadline passes.
 * Lock order: pv lock, then the session's own lock.
 */
#include <errno.h>
#include <json-c/json.h>

#include "agent/agent.h"
#include "hv/vm.h"

static struct agent_host *session(struct hv_vm *vm)
{
	return __atomic_load_n(&vm->pv.agent, __ATOMIC_ACQUIRE);
}

void hv_agent_feed(struct hv_vm *vm, const void *buf, size_t len)
{
	struct agent_host *h = vm->pv.agent;
	uint64_t now = pvm_now_ns();

	if (!h) {
		struct agent_host_config cfg = {.nonce_seed = now};

		h = agent_host_new(&cfg, now);
		if (!h) {
			pvm_log_warn("agent: no memory for the session; guest bytes dropped");
			return;
		}
		__atomic_store_n(&vm->pv.agent, h, __ATOMIC_RELEASE);
	}
	agent_host_feed(h, buf, len, now);
}

void hv_agent_pump(struct hv_vm *vm)
{
	struct agent_host *h = vm->pv.agent;
	uint8_t buf[AGENT_FRAME_MAX];
	size_t n;

	while (h && (n = agent_host_output(h, buf, sizeof(buf), pvm_now_ns()))) {
		/* a guest that never reads its rx ring fills the queue; what does
		 * not fit is lost and the session's SYNC retries recover */
		if (hv_pv_agent_queue(vm, buf, n))
			break;
	}
	hv_pv_agent_deliver(vm);
}

int hv_agent_timeout_ms(struct hv_vm *vm)
{
	struct agent_host *h = session(vm);
	uint64_t t, now;

	if (!h)
		return -1;
	t = agent_host_next_deadline(h);
	if (t == UINT64_MAX)
		return -1;
	now = pvm_now_ns();
	if (t <= now)
		return 0;
	/* round up so the deadline has passed when epoll returns */
	return (t - now) / 1000000 >= 60000 ? 60000 : (int)((t - now + 999999) / 1000000);
}

void hv_agent_merge_stats(struct hv_vm *vm, json_object *stats)
{
	struct agent_host *h = session(vm);

	if (h && agent_host_merge_stats(h, stats, pvm_now_ns()))
		pvm_log_warn("agent: merging the guest's statistics failed");
}

void hv_agent_free(struct hv_vm *vm)
{
	agent_host_free(vm->pv.agent);
	vm->pv.agent = NULL;
}

json_object *hv_agent_json(struct hv_vm *vm)
{
	struct agent_host *h = session(vm);

	return h ? agent_host_to_json(h, pvm_now_ns()) : NULL;
}

int hv_agent_request(struct hv_vm *vm, enum hv_agent_req req, uint32_t arg)
{
	struct agent_host *h = session(vm);
	uint64_t now = pvm_now_ns();
	int ret;

	if (!h)
		return -ENOTCONN;
	switch (req) {
	case HV_AGENT_PING:
		ret = agent_host_ping(h, now);
		break;
	case HV_AGENT_SET_INTERVAL:
		ret = agent_host_set_interval(h, arg, now);
		break;
	case HV_AGENT_RENEGOTIATE:
		ret = agent_host_renegotiate(h, now);
		break;
	case HV_AGENT_SHUTDOWN:
		ret = agent_host_shutdown(h, arg, now);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	if (!ret)
		hv_pv_wake(vm); /* the I/O thread pumps the request out */
	return ret;
}
