// SPDX-License-Identifier: MIT
/*
 * The VM as the library builds it on each platform, before it runs: CPUID
 * leaves on kvm (KVM's kept, pvm's added), the boot-info page, the entry
 * state, and the guest-memory bounds check every hook relies on.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/kvm.h>

#include "hv/vm.h"
#include "vmm.h"

static struct hv_vm *make_vm(uint64_t offered, unsigned int vcpus)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct hv_vm *vm = NULL;

	hv_config_init(&cfg);
	cfg.image = vmm_guest("bare");
	cfg.platform = vmm_platform();
	cfg.mem_mib = 16;
	cfg.vcpus = vcpus;
	cfg.offered = offered;
	cfg.cmdline = "mode=pv exits=3";
	ck_assert_msg(hv_vm_create(&cfg, &vm, &err) == 0, "%s", err.msg);
	return vm;
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	return NULL;
}

START_TEST(cpuid_keeps_kvm_adds_pvm)
{
	struct hv_vm *vm = make_vm(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT), 1);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(c->entries[0]));
	struct kvm_cpuid_entry2 *e;
	char sig[13] = {0};

	c->nent = 256;
	ck_assert_int_eq(ioctl(hv_kvm_vcpu_fd(&vm->vcpus[0]), KVM_GET_CPUID2, c), 0);
	e = find_leaf(c, 0x40000000);
	ck_assert_ptr_nonnull(e);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	ck_assert_str_eq(sig, "KVMKVMKVM");
	ck_assert_ptr_nonnull(find_leaf(c, 0x40000001));
	e = find_leaf(c, PV_CPUID_BASE);
	ck_assert_ptr_nonnull(e);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	ck_assert_str_eq(sig, "pvmHooksABI1");
	ck_assert_uint_eq(e->eax, PV_CPUID_FEATURES);
	e = find_leaf(c, PV_CPUID_FEATURES);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->eax, PV_ABI_VERSION);
	ck_assert_uint_eq(e->ebx, PV_ABI_VERSION_MIN);
	ck_assert_uint_eq(e->ecx, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(e->edx, 0);
	free(c);
	hv_vm_destroy(vm);
}
END_TEST

START_TEST(boot_info_and_entry_state)
{
	struct hv_vm *vm = make_vm(PV_F_ALL_V1, 2);
	const struct pv_boot_info *bi = (const void *)(vm->mem + PV_BOOT_INFO_GPA);
	struct hv_regs regs;
	struct kvm_sregs sregs;

	ck_assert_uint_eq(bi->magic, PV_BOOT_MAGIC);
	ck_assert_uint_eq(bi->size, sizeof(*bi));
	ck_assert_uint_eq(bi->mem_bytes, 16ull << 20);
	ck_assert_uint_eq(bi->vcpus, 2);
	/* no disk: the block hook is not offered */
	ck_assert_uint_eq(bi->offered, PV_F_ALL_V1 & ~PV_F(PV_HOOK_BLOCK));
	ck_assert_uint_eq(bi->disk_sectors, 0);
	ck_assert_str_eq(bi->cmdline, "mode=pv exits=3");
	ck_assert_uint_eq(bi->cmdline_len, strlen("mode=pv exits=3"));
	ck_assert_uint_ge(bi->free_start, PV_IMAGE_MIN);
	ck_assert_uint_eq(bi->free_start % 4096, 0);
	ck_assert_uint_eq(bi->free_end, (16ull << 20) - 2 * HV_USER_STACK);
	for (unsigned int i = 0; i < 2; i++) {
		ck_assert_int_eq(vm->plat->get_regs(&vm->vcpus[i], &regs), 0);
		ck_assert_uint_eq(regs.rip, vm->entry);
		ck_assert_uint_eq(regs.rdi, PV_BOOT_INFO_GPA);
		ck_assert_uint_eq(regs.rsi, i);
		ck_assert_uint_eq(regs.rsp, (16ull << 20) - i * HV_USER_STACK);
		if (vm->plat != &hv_platform_kvm)
			continue; /* the process platform's CPL3 is the host kernel's */
		ck_assert_int_eq(ioctl(hv_kvm_vcpu_fd(&vm->vcpus[i]), KVM_GET_SREGS, &sregs), 0);
		ck_assert_uint_eq(regs.rflags & 0x3000, 0x3000); /* IOPL 3 */
		ck_assert_uint_eq(sregs.cs.dpl, 3);
		ck_assert_uint_eq(sregs.cs.l, 1);
		ck_assert_uint_eq(sregs.ss.dpl, 3);
		ck_assert_uint_eq(sregs.tr.selector, 0x28 + 16 * i);
	}
	hv_vm_destroy(vm);
}
END_TEST

START_TEST(guest_memory_bounds)
{
	struct hv_vm *vm = make_vm(PV_F_ALL_V1, 1);
	uint64_t mem = 16ull << 20;

	ck_assert_ptr_eq(hv_gpa(vm, 0, mem), vm->mem);
	ck_assert_ptr_eq(hv_gpa(vm, mem - 1, 1), vm->mem + mem - 1);
	ck_assert_ptr_null(hv_gpa(vm, mem - 1, 2));
	ck_assert_ptr_null(hv_gpa(vm, mem, 0));
	ck_assert_ptr_null(hv_gpa(vm, mem, 1));
	ck_assert_ptr_null(hv_gpa(vm, ~0ull, 2));	   /* wraps */
	ck_assert_ptr_null(hv_gpa(vm, 4096, ~0ull - 100)); /* wraps */
	ck_assert_ptr_null(hv_gpa(vm, 1ull << 63, 1ull << 63));
	hv_vm_destroy(vm);
}
END_TEST

START_TEST(runs_to_the_guest_exit_code)
{
	struct hv_vm *vm = make_vm(PV_F_ALL_V1, 1);

	vm->cfg.console_fd = -1; /* a closed console loses bytes, not the run */
	ck_assert_int_eq(hv_vm_run(vm), 0);
	ck_assert_str_eq(hv_vm_state(vm), "stopped");
	ck_assert_str_eq(hv_vm_exit_reason(vm), "guest powered off with code 0");
	/* three writes to a port nobody serves: counted, not fatal */
	ck_assert_uint_eq(vm->stats.io_exits[HV_IODEV_UNKNOWN], 3);
	ck_assert_uint_eq(vm->stats.hooks[PV_HOOK_CONSOLE].doorbells, 1);
	hv_vm_destroy(vm);
}
END_TEST

/* With no usable IDT a fault escalates to a triple fault: reported, never a hang. */
START_TEST(triple_fault_ends_the_run)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct hv_vm *vm = NULL;
	struct kvm_sregs sregs;

	hv_config_init(&cfg);
	cfg.image = vmm_guest("fault");
	cfg.platform = vmm_platform();
	cfg.mem_mib = 16;
	cfg.cmdline = "kind=ud";
	ck_assert_msg(hv_vm_create(&cfg, &vm, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(ioctl(hv_kvm_vcpu_fd(&vm->vcpus[0]), KVM_GET_SREGS, &sregs), 0);
	sregs.idt.limit = 0;
	ck_assert_int_eq(ioctl(hv_kvm_vcpu_fd(&vm->vcpus[0]), KVM_SET_SREGS, &sregs), 0);
	ck_assert_int_eq(hv_vm_run(vm), HV_EXIT_TRIPLE);
	ck_assert_ptr_nonnull(strstr(hv_vm_exit_reason(vm), "triple fault"));
	ck_assert_uint_eq(vm->stats.exits[HV_EXITK_SHUTDOWN], 1);
	hv_vm_destroy(vm);
}
END_TEST

struct bg {
	struct hv_vm *vm;
	int code;
	bool done;
};

static void *bg_run(void *arg)
{
	struct bg *b = arg;

	b->code = hv_vm_run(b->vm);
	__atomic_store_n(&b->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *bg_stats(void *arg)
{
	struct bg *b = arg;

	json_object_put(hv_stats_json(b->vm));
	__atomic_store_n(&b->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Reads the console pipe until *flag is set; returns the bytes read. */
static uint64_t drain_until(int fd, const bool *flag)
{
	static char buf[1 << 16];
	uint64_t n = 0;

	while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 10) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r > 0)
			n += (uint64_t)r;
	}
	return n;
}

/*
 * A guest that posts a console batch of 64 descriptors each covering all
 * free RAM (3.6 GiB at 64 MiB) and rings once: the I/O thread
 * lets go of the pv lock between slices of it, so a stats request (which
 * takes that lock) is answered before the whole batch has gone out.
 */
START_TEST(huge_console_batch_does_not_hold_the_pv_lock)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct bg run = {0}, st = {0};
	pthread_t rt, stt;
	uint64_t ram, got;
	int p[2];
	char c;

	ck_assert_int_eq(pipe(p), 0);
	hv_config_init(&cfg);
	cfg.image = vmm_guest("hostile");
	cfg.platform = vmm_platform();
	cfg.mem_mib = 64;
	cfg.offered = PV_F(PV_HOOK_CONSOLE);
	cfg.cmdline = "mode=pv flood=1";
	cfg.console_fd = p[1];
	ck_assert_msg(hv_vm_create(&cfg, &run.vm, &err) == 0, "%s", err.msg);
	/* 64 descriptors of nearly all free RAM: the batch is 64 * ram bytes */
	ram = run.vm->boot->free_end - run.vm->boot->free_start;
	st.vm = run.vm;
	ck_assert_int_eq(pthread_create(&rt, NULL, bg_run, &run), 0);
	/* the flood has begun */
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(pthread_create(&stt, NULL, bg_stats, &st), 0);
	got = 1 + drain_until(p[0], &st.done);
	pthread_join(stt, NULL);
	/* held for the whole batch, stats would wait for all 64 * ram bytes; the
	 * bound is half of that, so a loaded machine's scheduling (a slice gap
	 * missed now and then) does not decide the test */
	ck_assert_msg(got < 32 * ram, "stats waited for %llu console bytes",
		      (unsigned long long)got);
	ck_assert_int_eq(hv_vm_stop(run.vm, 30000), 0);
	drain_until(p[0], &run.done);
	pthread_join(rt, NULL);
	ck_assert_int_eq(run.code, 0);
	close(p[0]);
	close(p[1]);
	hv_vm_destroy(run.vm);
}
END_TEST

/* A minimal valid image: one R+X PT_LOAD of a 16-byte loop at 0x200000. */
struct mini_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t code[16];
};

static void mini_elf(struct mini_elf *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_version = EV_CURRENT;
	e->eh.e_entry = PV_IMAGE_MIN;
	e->eh.e_phoff = offsetof(struct mini_elf, ph);
	e->eh.e_ehsize = sizeof(Elf64_Ehdr);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 1;
	e->ph.p_type = PT_LOAD;
	e->ph.p_flags = PF_R | PF_X;
	e->ph.p_offset = offsetof(struct mini_elf, code);
	e->ph.p_vaddr = e->ph.p_paddr = PV_IMAGE_MIN;
	e->ph.p_filesz = e->ph.p_memsz = sizeof(e->code);
	e->code[0] = 0xeb; /* jmp . */
	e->code[1] = 0xfe;
}

static int load(const struct mini_elf *e, size_t len)
{
	const char *path = vmm_tmp("mini.elf");
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct hv_vm *vm = NULL;
	FILE *f = fopen(path, "w");
	int ret;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(e, 1, len, f), len);
	fclose(f);
	hv_config_init(&cfg);
	cfg.image = path;
	cfg.platform = vmm_platform();
	cfg.mem_mib = 16;
	ret = hv_vm_create(&cfg, &vm, &err);
	if (!ret)
		hv_vm_destroy(vm);
	return ret;
}

/* Operator-supplied images: every malformed header is refused before use. */
/* Each VMM thread's allow-list: its own calls work, anything else is refused. */
static void *confined(void *arg)
{
	int *res = arg, fds[2];

	if (pipe(fds) < 0)
		return NULL;
	res[0] = hv_confine_thread(HV_THREAD_CTL);
	res[1] = (int)write(fds[1], "x", 1);			  /* listed */
	res[2] = open("/etc/hostname", O_RDONLY) < 0 ? errno : 0; /* not listed */
	res[3] = socket(AF_INET, SOCK_STREAM, 0) < 0 ? errno : 0; /* not listed */
	res[4] = syscall(SYS_execve, "/bin/true", NULL, NULL) < 0 ? errno : 0;
	res[5] =
	    (int)syscall(SYS_ioctl, fds[0], FIONREAD, &res[6]) < 0 ? errno : 0; /* vCPU's only */
	close(fds[0]);
	close(fds[1]);
	return NULL;
}

START_TEST(vmm_threads_run_under_an_allow_list)
{
	int res[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, confined, res), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], 1);
	ck_assert_int_eq(res[2], EPERM);
	ck_assert_int_eq(res[3], EPERM);
	ck_assert_int_eq(res[4], EPERM);
	ck_assert_int_eq(res[5], EPERM);
	/* the calling thread was never confined */
	res[7] = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(res[7], 0);
	close(res[7]);
}
END_TEST

START_TEST(elf_loader_refuses_malformed_images)
{
	struct mini_elf e;

	mini_elf(&e);
	ck_assert_int_eq(load(&e, sizeof(e)), 0);
	ck_assert_int_eq(load(&e, sizeof(Elf64_Ehdr) - 1), -EINVAL);	      /* truncated header */
	ck_assert_int_eq(load(&e, offsetof(struct mini_elf, code)), -EINVAL); /* data cut off */
	mini_elf(&e);
	e.eh.e_phoff = ~0ull - 8;
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.eh.e_phnum = 0xffff;
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_offset = ~0ull - 4; /* offset + filesz wraps */
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_memsz = ~0ull - PV_IMAGE_MIN + 2; /* paddr + memsz wraps */
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_vaddr = e.ph.p_paddr = ~0ull - 8;
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_vaddr = e.ph.p_paddr = HV_PML4_GPA; /* over the page tables */
	e.eh.e_entry = HV_PML4_GPA;
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_memsz = 16ull << 20; /* into the stacks */
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_filesz = e.ph.p_memsz + 1;
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.eh.e_entry = PV_IMAGE_MIN + sizeof(e.code); /* just past the code */
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
	mini_elf(&e);
	e.ph.p_flags = PF_R; /* entry in data */
	ck_assert_int_eq(load(&e, sizeof(e)), -EINVAL);
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
	s = suite_create("hv_vm");
	tc = tcase_create("vm");
	tcase_add_test(tc, boot_info_and_entry_state);
	tcase_add_test(tc, guest_memory_bounds);
	tcase_add_test(tc, runs_to_the_guest_exit_code);
	if (vmm_platform() == HV_PLATFORM_KVM) {
		/* KVM's own CPUID and a guest IDT exist on the kvm platform only */
		tcase_add_test(tc, cpuid_keeps_kvm_adds_pvm);
		tcase_add_test(tc, triple_fault_ends_the_run);
	}
	tcase_add_test(tc, huge_console_batch_does_not_hold_the_pv_lock);
	tcase_add_test(tc, elf_loader_refuses_malformed_images);
	tcase_add_test(tc, vmm_threads_run_under_an_allow_list);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
