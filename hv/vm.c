// SPDX-License-Identifier: MIT
/* The VM: creation from a configuration, the run, pause/resume/stop, teardown. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hv/vm.h"

int hv_hooks_parse(const char *s, uint64_t *mask, struct pvm_err *err)
{
	uint64_t m = 0;
	const char *p = s;

	if (!s || !*s)
		return pvm_err_set(err, -EINVAL, "--hooks: empty list (use 'none')");
	if (strcmp(s, "none") == 0) {
		*mask = 0;
		return 0;
	}
	if (strcmp(s, "all") == 0) {
		*mask = PV_F_ALL_V1;
		return 0;
	}
	while (*p) {
		size_t n = strcspn(p, ",");
		int bit = pv_hook_bit(p, n);

		if (bit < 0)
			return pvm_err_set(err, -EINVAL,
					   "--hooks: unknown hook '%.*s' (known: %s, or none)",
					   (int)n, p, PV_HOOK_NAMES);
		m |= PV_F(bit);
		p += n;
		if (*p == ',' && !*++p)
			return pvm_err_set(err, -EINVAL, "--hooks: trailing comma");
	}
	*mask = m;
	return 0;
}

void hv_config_init(struct hv_config *cfg)
{
	*cfg = (struct hv_config){
	    .mem_mib = 64,
	    .vcpus = 1,
	    .offered = PV_F_ALL_V1,
	    .console_fd = 1,
	};
}

void *hv_gpa(struct hv_vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa >= vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

void hv_vm_kick_all(struct hv_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].started)
			vm->plat->vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
}

void hv_vm_end(struct hv_vm *vm, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (!vm->done) {
		vm->done = true;
		vm->exit_code = code;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
		va_end(ap);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	hv_vm_kick_all(vm);
}

/* The names are common/'s (the control plane's vocabulary); hv's ids add auto before them. */
_Static_assert((int)HV_PLATFORM_KVM == (int)PVM_PLATFORM_KVM + 1 &&
		   (int)HV_PLATFORM_PROCESS == (int)PVM_PLATFORM_PROCESS + 1 &&
		   (int)PVM_PLATFORM_COUNT == (int)HV_PLATFORM_PROCESS,
	       "hv platform ids are common/'s plus auto");

int hv_platform_parse(const char *s, enum hv_platform_id *out, struct pvm_err *err)
{
	int id = s && strcmp(s, "auto") == 0 ? -1 : pvm_platform_id(s);

	if (id < -1)
		return pvm_err_set(err, -EINVAL, "--platform '%s': want auto, kvm or process",
				   s ? s : "");
	*out = (enum hv_platform_id)(id + 1);
	return 0;
}

const char *hv_platform_name(enum hv_platform_id id)
{
	const char *name = id == HV_PLATFORM_AUTO ? "auto" : pvm_platform_name((unsigned)id - 1);

	return name ? name : "?";
}

const char *hv_vm_platform(struct hv_vm *vm)
{
	return vm->plat->name;
}

static const struct hv_platform *platform_of(enum hv_platform_id id)
{
	if (id == HV_PLATFORM_AUTO)
		id = hv_platform_probe();
	return id == HV_PLATFORM_KVM ? &hv_platform_kvm : &hv_platform_process;
}

static int check_config(const struct hv_config *cfg, struct pvm_err *err)
{
	if (!cfg->image)
		return pvm_err_field(err, -EINVAL, "image", "--image is required");
	if (cfg->mem_mib < HV_MIN_MEM_MIB || cfg->mem_mib > HV_MAX_MEM_MIB)
		return pvm_err_field(err, -EINVAL, "mem", "--mem %llu: must be %d..%d MiB",
				     (unsigned long long)cfg->mem_mib, HV_MIN_MEM_MIB,
				     HV_MAX_MEM_MIB);
	if (cfg->vcpus < 1 || cfg->vcpus > HV_MAX_VCPUS)
		return pvm_err_field(err, -EINVAL, "vcpus", "--vcpus %u: must be 1..%d", cfg->vcpus,
				     HV_MAX_VCPUS);
	if (cfg->offered & ~PV_F_ALL_V1)
		return pvm_err_field(err, -EINVAL, "hooks", "offered hooks include reserved bits");
	if ((unsigned int)cfg->platform > HV_PLATFORM_PROCESS)
		return pvm_err_field(err, -EINVAL, "platform", "unknown platform %d",
				     (int)cfg->platform);
	return 0;
}

/* The setting a configuration error is about, unless the error named one already. */
static int config_error(struct pvm_err *err, int ret, const char *field)
{
	if (err && !err->field[0])
		snprintf(err->field, sizeof(err->field), "%s", field);
	return ret;
}

int hv_vm_create(const struct hv_config *cfg, struct hv_vm **out, struct pvm_err *err)
{
	struct hv_vm *vm;
	int ret;

	ret = check_config(cfg, err);
	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	vm->cfg = *cfg;
	vm->blk.fd = -1;
	vm->plat = platform_of(cfg->platform);
	vm->nvcpus = cfg->vcpus;
	vm->mem_size = cfg->mem_mib << 20;
	vm->mapped_end = vm->mem_size & ~((2ull << 20) - 1);
	vm->stats.start_ns = pvm_now_ns();
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	ret = hv_pv_init(vm);
	if (ret) {
		pvm_err_set(err, ret, "pv: %s", strerror(-ret));
		goto fail;
	}
	vm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : "");
	if (!vm->cmdline) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (cfg->disk) {
		ret = hv_block_init(vm, cfg->disk, err);
		if (ret) {
			config_error(err, ret, "disk");
			goto fail;
		}
	}
	ret = vm->plat->vm_init(vm, err);
	if (ret)
		goto fail;
	ret = hv_elf_load(vm, cfg->image, err);
	if (ret) {
		config_error(err, ret, "image");
		goto fail;
	}
	if (vm->image_end + (2ull << 20) > vm->mapped_end - vm->nvcpus * HV_USER_STACK) {
		ret = pvm_err_field(err, -EINVAL, "mem",
				    "--mem %llu MiB: too little memory for the image, stacks and "
				    "2 MiB of free RAM",
				    (unsigned long long)cfg->mem_mib);
		goto fail;
	}
	ret = hv_boot_setup(vm, err);
	if (ret) {
		config_error(err, ret, "cmdline");
		goto fail;
	}
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		ret = hv_vcpu_init(vm, i, err);
		if (ret)
			goto fail;
	}
	if (hv_uart_init(vm) || hv_blockdev_register(vm) || hv_pit_init(vm) || hv_cmos_init(vm) ||
	    hv_power_init(vm)) {
		ret = pvm_err_set(err, -ENOSPC, "I/O bus full");
		goto fail;
	}
	ret = hv_pv_start(vm);
	if (ret) {
		pvm_err_set(err, ret, "pv: doorbells: %s", strerror(-ret));
		goto fail;
	}
	pvm_log_info("platform %s: %u vcpu(s), %llu MiB", vm->plat->name, vm->nvcpus,
		     (unsigned long long)cfg->mem_mib);
	*out = vm;
	return 0;
fail:
	hv_vm_destroy(vm);
	return ret;
}

static void wait_end(struct hv_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (!vm->done) {
		if (vm->stop_deadline_ns) {
			uint64_t now = pvm_now_ns();
			struct timespec ts;

			if (now >= vm->stop_deadline_ns) {
				pthread_mutex_unlock(&vm->lock);
				hv_vm_end(vm, HV_EXIT_FORCED,
					  "stopped by force: the guest did not power off in time");
				pthread_mutex_lock(&vm->lock);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t wake = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
					(vm->stop_deadline_ns - now);

			ts.tv_sec = (time_t)(wake / 1000000000ull);
			ts.tv_nsec = (long)(wake % 1000000000ull);
			pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
		} else {
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

int hv_vm_run(struct hv_vm *vm)
{
	sigset_t set, old;
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	/* a pause or stop asked for before the run keeps its state */
	if (vm->state == HV_STATE_CREATED)
		vm->state = HV_STATE_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	if (vm->plat->vm_start) {
		struct pvm_err err = {0};

		if (vm->plat->vm_start(vm, &err))
			hv_vm_end(vm, HV_EXIT_INTERNAL, "%s: %s", vm->plat->name, err.msg);
	}
	/* vCPU threads block every signal; the platform lets its kick through */
	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	for (unsigned int i = 0; i < vm->nvcpus && !__atomic_load_n(&vm->done, __ATOMIC_ACQUIRE);
	     i++) {
		ret = pthread_create(&vm->vcpus[i].thread, NULL, hv_vcpu_thread, &vm->vcpus[i]);
		if (ret) {
			hv_vm_end(vm, HV_EXIT_INTERNAL, "vcpu thread: %s", strerror(ret));
			break;
		}
		vm->vcpus[i].created = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	wait_end(vm);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].created)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].created = false;
		vm->vcpus[i].started = false;
	}
	if (vm->plat->vm_stop)
		vm->plat->vm_stop(vm);
	hv_pv_stop(vm);
	pthread_mutex_lock(&vm->lock);
	vm->state = HV_STATE_STOPPED;
	ret = vm->exit_code;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void hv_vm_destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	hv_pv_stop(vm);
	if (vm->plat->vm_stop)
		vm->plat->vm_stop(vm);
	hv_pv_free(vm);
	vm->plat->vm_free(vm);
	if (vm->blk.fd >= 0)
		close(vm->blk.fd);
	free(vm->cmdline);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int hv_vm_pause(struct hv_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->done || (vm->state != HV_STATE_RUNNING && vm->state != HV_STATE_CREATED)) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	vm->pause_req = true;
	vm->state = HV_STATE_PAUSED;
	/* a vCPU idling in a halt hint wakes to park */
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	hv_vm_kick_all(vm);
	/* paused means every vCPU is out of KVM_RUN */
	pthread_mutex_lock(&vm->lock);
	while (vm->vcpus_parked < vm->nvcpus && !vm->done)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int hv_vm_resume(struct hv_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->done || vm->state != HV_STATE_PAUSED) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	vm->pause_req = false;
	vm->state = HV_STATE_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int hv_vm_stop(struct hv_vm *vm, uint64_t timeout_ms)
{
	if (timeout_ms == 0) {
		hv_vm_end(vm, HV_EXIT_FORCED, "stopped by force");
		return 0;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->done) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	__atomic_fetch_or(&vm->boot->host_flags, PV_BOOT_F_STOP, __ATOMIC_SEQ_CST);
	if (!vm->stop_deadline_ns)
		vm->stop_deadline_ns = pvm_now_ns() + timeout_ms * 1000000ull;
	vm->pause_req = false;
	vm->state = HV_STATE_STOPPING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	/* a guest idling in a halt hint sees the flag at once */
	hv_vm_kick_all(vm);
	return 0;
}

const char *hv_vm_state(struct hv_vm *vm)
{
	static const char *const names[] = {"created", "running", "paused", "stopping", "stopped"};
	enum hv_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return names[s];
}

const char *hv_vm_exit_reason(struct hv_vm *vm)
{
	return vm->exit_reason;
}
