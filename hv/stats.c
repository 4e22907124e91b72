// SPDX-License-Identifier: MIT
/*
 * Statistics as one JSON document: exits by reason, per-hook counters, exits
 * avoided, and the statistics report (common.h) pvmd relays to the controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/vm.h"

static const char *const exit_names[HV_EXITK_NR] = {
    "io",	"mmio", "doorbell_kernel", "intr",    "shutdown", "fail_entry",
    "internal", "hlt",	"fault",	   "syscall", "other",
};

static const char *const iodev_names[HV_IODEV_NR] = {
    "uart", "block", "pit", "cmos", "power", "negotiate", "doorbell", "unknown",
};

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

uint64_t hv_stats_errors_total(struct hv_vm *vm)
{
	uint64_t t = HV_STAT_GET(vm->stats.neg_refused) + HV_STAT_GET(vm->stats.unknown_hook) +
		     HV_STAT_GET(vm->stats.bad_doorbell);

	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		t += HV_STAT_GET(vm->stats.hooks[h].errors);
	return t;
}

static json_object *hook_names_json(uint64_t mask)
{
	json_object *a = json_object_new_array();

	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		if (mask & PV_F(h))
			json_object_array_add(a, json_object_new_string(pv_hook_name(h)));
	return a;
}

/* Figures the guest publishes in its hook page: informational, never trusted. */
static void guest_figures(struct hv_vm *vm, uint64_t *clock_reads, uint64_t *work_ns)
{
	struct pv_hook_page *hp;

	*clock_reads = *work_ns = 0;
	pthread_mutex_lock(&vm->pv.lock);
	hp = vm->pv.hook_page ? hv_gpa(vm, vm->pv.hook_page, sizeof(*hp)) : NULL;
	if (hp && (vm->pv.negotiated & PV_F(PV_HOOK_CLOCK)))
		*clock_reads = __atomic_load_n(&hp->clock_reads, __ATOMIC_RELAXED);
	if (hp)
		*work_ns = __atomic_load_n(&hp->work_ns, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vm->pv.lock);
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* The hooks with an emulated twin, whose exits the pv hook saves. */
static const unsigned int twins[] = {PV_HOOK_CONSOLE, PV_HOOK_BLOCK, PV_HOOK_CLOCK};

/*
 * What the emulated twins would have cost, from what this VMM served: the
 * console's bytes and the block device's sectors less the doorbells rung
 * for them. Only what the host measured: the clock page is read without an
 * exit, so its reads are the guest's own word (guest.clock_reads) and are
 * shown, not counted here, where the scheduler would take them.
 */
static void exits_avoided(struct hv_vm *vm, uint64_t out[PV_HOOK_COUNT])
{
	struct hv_hook_stats *h = vm->stats.hooks;

	memset(out, 0, PV_HOOK_COUNT * sizeof(*out));
	out[PV_HOOK_CONSOLE] =
	    sub0(HV_STAT_GET(h[PV_HOOK_CONSOLE].bytes) * PV_TWIN_EXITS_PER_CONSOLE_BYTE,
		 HV_STAT_GET(h[PV_HOOK_CONSOLE].doorbells));
	out[PV_HOOK_BLOCK] = sub0(HV_STAT_GET(h[PV_HOOK_BLOCK].bytes) / PV_SECTOR_SIZE *
				      PV_TWIN_EXITS_PER_BLOCK_SECTOR,
				  HV_STAT_GET(h[PV_HOOK_BLOCK].doorbells));
}

static int64_t i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

_Static_assert(HV_HIST_BUCKETS <= PVM_REPORT_BUCKETS_MAX, "the histogram fits a report");

static void report_hook(struct hv_hook_stats *hs, unsigned int hook, uint64_t avoided,
			struct pvm_report_hook *e)
{
	e->hook = hook;
	e->calls = i64(HV_STAT_GET(hs->calls));
	e->doorbells = i64(HV_STAT_GET(hs->doorbells));
	e->bytes = i64(HV_STAT_GET(hs->bytes));
	e->errors = i64(HV_STAT_GET(hs->errors));
	e->exits_avoided = i64(avoided);
	e->has_histogram = true;
	e->service_ns_total = i64(HV_STAT_GET(hs->service_ns));
	/* bucket b counts service times in [2^b, 2^(b+1)) ns; the empty tail is left out */
	for (size_t b = 0; b < HV_HIST_BUCKETS; b++) {
		e->service_ns_log2[b] = i64(HV_STAT_GET(hs->hist[b]));
		if (e->service_ns_log2[b])
			e->nbuckets = b + 1;
	}
}

/* The statistics report (common.h) that pvmd relays to the controller as is. */
static void report_fill(struct hv_vm *vm, const uint64_t avoided[PV_HOOK_COUNT],
			struct pvm_report *r)
{
	struct hv_stats *s = &vm->stats;
	int platform = pvm_platform_id(vm->plat->name);
	uint64_t offered, negotiated, total = 0;
	uint32_t guest_version;

	pthread_mutex_lock(&vm->pv.lock);
	offered = vm->cfg.offered;
	negotiated = vm->pv.negotiated;
	guest_version = vm->pv.guest_version;
	pthread_mutex_unlock(&vm->pv.lock);

	r->has_platform = platform >= 0;
	r->platform = platform >= 0 ? (enum pvm_platform)platform : PVM_PLATFORM_KVM;
	r->has_hooks = r->has_caps = r->has_exits = true;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		/* A hook the guest never negotiated nor called has nothing to say. */
		if ((negotiated & PV_F(h)) || HV_STAT_GET(s->hooks[h].calls))
			report_hook(&s->hooks[h], h, avoided[h], &r->hooks[r->nhooks++]);
	}
	/* Capabilities exist once the guest negotiated: emulated guests have none. */
	for (unsigned int h = 0; guest_version > 0 && h < PV_HOOK_COUNT; h++) {
		struct pvm_report_cap *c = &r->caps[r->ncaps];

		if (!(offered & PV_F(h)))
			continue;
		snprintf(c->name, sizeof(c->name), "%s", pv_hook_name(h));
		c->accepted = negotiated & PV_F(h);
		c->abi_version = guest_version;
		if (!c->accepted)
			snprintf(c->reason, sizeof(c->reason), "not accepted by the guest");
		r->ncaps++;
	}
	for (unsigned int i = 0; i < HV_EXITK_NR; i++) {
		uint64_t v = HV_STAT_GET(s->exits[i]);

		snprintf(r->exits[i].reason, sizeof(r->exits[i].reason), "%s", exit_names[i]);
		r->exits[i].count = i64(v);
		/* kicks (intr) are the host's doing, not the guest's exits */
		if (i != HV_EXITK_INTR)
			total += v;
	}
	snprintf(r->exits[HV_EXITK_NR].reason, sizeof(r->exits[0].reason), "total");
	r->exits[HV_EXITK_NR].count = i64(total);
	r->nexits = HV_EXITK_NR + 1;
}

json_object *hv_caps_json(struct hv_vm *vm)
{
	json_object *o = json_object_new_object();

	pthread_mutex_lock(&vm->pv.lock);
	add_u64(o, "abi_version", PV_ABI_VERSION);
	add_u64(o, "abi_version_min", PV_ABI_VERSION_MIN);
	json_object_object_add(o, "offered", hook_names_json(vm->cfg.offered));
	add_u64(o, "offered_mask", vm->cfg.offered);
	json_object_object_add(o, "negotiated", hook_names_json(vm->pv.negotiated));
	add_u64(o, "negotiated_mask", vm->pv.negotiated);
	add_u64(o, "guest_abi_version", vm->pv.guest_version);
	json_object_object_add(o, "last_reason",
			       json_object_new_int64(vm->pv.last_reason == PV_REASON_NONE
							 ? -1
							 : (int64_t)vm->pv.last_reason));
	pthread_mutex_unlock(&vm->pv.lock);
	return o;
}

json_object *hv_stats_json(struct hv_vm *vm)
{
	struct hv_stats *s = &vm->stats;
	json_object *o = json_object_new_object(), *ex = json_object_new_object();
	json_object *io = json_object_new_object(), *hooks = json_object_new_object();
	json_object *errs = json_object_new_object(), *emu = json_object_new_object();
	json_object *av = json_object_new_object();
	json_object *guest = json_object_new_object(), *rep = json_object_new_object();
	struct pvm_report *r = calloc(1, sizeof(*r));
	uint64_t clock_reads, work_ns, avoided[PV_HOOK_COUNT], avoided_total = 0;

	guest_figures(vm, &clock_reads, &work_ns);
	exits_avoided(vm, avoided);

	json_object_object_add(o, "platform", json_object_new_string(vm->plat->name));
	add_u64(o, "uptime_ms", (pvm_now_ns() - s->start_ns) / 1000000);
	add_u64(o, "mem_mib", vm->cfg.mem_mib);
	add_u64(o, "vcpus", vm->nvcpus);
	/* The document's exits are the report's: counted once. */
	if (r) {
		report_fill(vm, avoided, r);
		if (rep && pvm_report_encode(r, rep) == 0) {
			json_object_object_add(o, "report", rep);
			rep = NULL;
		}
		for (size_t i = 0; i < r->nexits; i++)
			add_u64(ex, r->exits[i].reason, (uint64_t)r->exits[i].count);
	}
	json_object_put(rep);
	free(r);
	json_object_object_add(o, "exits", ex);
	for (unsigned int i = 0; i < HV_IODEV_NR; i++)
		add_u64(io, iodev_names[i], HV_STAT_GET(s->io_exits[i]));
	json_object_object_add(o, "io_exits", io);
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		struct hv_hook_stats *hs = &s->hooks[h];
		json_object *j = json_object_new_object(), *hist = json_object_new_array();
		int last = -1;

		json_object_object_add(j, "negotiated",
				       json_object_new_boolean(vm->pv.negotiated & PV_F(h)));
		add_u64(j, "calls", HV_STAT_GET(hs->calls));
		add_u64(j, "doorbells", HV_STAT_GET(hs->doorbells));
		add_u64(j, "bytes", HV_STAT_GET(hs->bytes));
		add_u64(j, "errors", HV_STAT_GET(hs->errors));
		add_u64(j, "service_ns_total", HV_STAT_GET(hs->service_ns));
		for (int b = 0; b < HV_HIST_BUCKETS; b++)
			if (HV_STAT_GET(hs->hist[b]))
				last = b;
		/* bucket b counts service times in [2^b, 2^(b+1)) ns */
		for (int b = 0; b <= last; b++)
			json_object_array_add(hist,
					      json_object_new_uint64(HV_STAT_GET(hs->hist[b])));
		json_object_object_add(j, "service_ns_log2", hist);
		json_object_object_add(hooks, pv_hook_name(h), j);
	}
	add_u64(json_object_object_get(hooks, pv_hook_name(PV_HOOK_CLOCK)), "guest_reads",
		clock_reads);
	json_object_object_add(o, "hooks", hooks);
	json_object_object_add(o, "capabilities", hv_caps_json(vm));
	add_u64(errs, "negotiation_refused", HV_STAT_GET(s->neg_refused));
	add_u64(errs, "unknown_hook", HV_STAT_GET(s->unknown_hook));
	add_u64(errs, "bad_doorbell", HV_STAT_GET(s->bad_doorbell));
	add_u64(errs, "total", hv_stats_errors_total(vm));
	json_object_object_add(o, "errors", errs);
	add_u64(o, "console_dropped", HV_STAT_GET(s->console_dropped));
	add_u64(o, "mmio_unknown", HV_STAT_GET(s->mmio_unknown));
	add_u64(o, "negotiations", HV_STAT_GET(s->neg_accepted));
	add_u64(o, "negotiation_resets", HV_STAT_GET(s->neg_resets));
	add_u64(emu, "console_bytes", HV_STAT_GET(s->emu_console_bytes));
	add_u64(emu, "block_sectors", HV_STAT_GET(s->emu_block_sectors));
	add_u64(emu, "clock_reads", HV_STAT_GET(s->emu_clock_reads));
	json_object_object_add(o, "emulated", emu);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(twins); i++) {
		add_u64(av, pv_hook_name(twins[i]), avoided[twins[i]]);
		avoided_total += avoided[twins[i]];
	}
	add_u64(av, "total", avoided_total);
	json_object_object_add(o, "exits_avoided", av);
	add_u64(guest, "work_ns", work_ns);
	add_u64(guest, "clock_reads", clock_reads);
	json_object_object_add(o, "guest", guest);
	add_u64(o, "first_doorbell_mono_ns", HV_STAT_GET(s->first_doorbell_ns));
	json_object_object_add(o, "exit_code", json_object_new_int(vm->done ? vm->exit_code : -1));
	hv_agent_merge_stats(vm, o);
	return o;
}

int hv_stats_write(struct hv_vm *vm, const char *path, struct pvm_err *err)
{
	json_object *o = hv_stats_json(vm);
	const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	char tmp[4096];
	size_t len = strlen(txt);
	int fd, ret = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		ret = pvm_err_set(err, -ENAMETOOLONG, "--stats-json: path too long");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = pvm_err_set(err, -errno, "--stats-json %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, txt, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		ret = pvm_err_set(err, -EIO, "--stats-json %s: short write", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		ret = pvm_err_set(err, -errno, "--stats-json %s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	json_object_put(o);
	return ret;
}
