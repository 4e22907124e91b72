// SPDX-License-Identifier: MIT
/* ELF64 x86-64 image loader: every header field is checked before use. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/vm.h"

#define ELF_MAX_PHDRS 64

static int check_segments(struct hv_vm *vm, const Elf64_Phdr *ph, int n, uint64_t fsize,
			  uint64_t limit, struct pvm_err *err)
{
	for (int i = 0; i < n; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz)
			return pvm_err_set(err, -EINVAL,
					   "segment %d: file size exceeds memory size", i);
		if (p->p_offset > fsize || p->p_filesz > fsize - p->p_offset)
			return pvm_err_set(err, -EINVAL, "segment %d: data beyond end of file", i);
		if (p->p_vaddr != p->p_paddr)
			return pvm_err_set(err, -EINVAL,
					   "segment %d: virtual and physical addresses differ", i);
		if (p->p_paddr < PV_IMAGE_MIN || p->p_paddr > limit ||
		    p->p_memsz > limit - p->p_paddr)
			return pvm_err_set(
			    err, -EINVAL,
			    "segment %d: [0x%llx, +0x%llx) outside guest RAM "
			    "[0x%llx, 0x%llx) (too little memory?)",
			    i, (unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz,
			    (unsigned long long)PV_IMAGE_MIN, (unsigned long long)limit);
		for (int j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];

			if (q->p_type != PT_LOAD || !q->p_memsz || !p->p_memsz)
				continue;
			if (p->p_paddr < q->p_paddr + q->p_memsz &&
			    q->p_paddr < p->p_paddr + p->p_memsz)
				return pvm_err_set(err, -EINVAL, "segments %d and %d overlap", j,
						   i);
		}
	}
	(void)vm;
	return 0;
}

int hv_elf_load(struct hv_vm *vm, const char *path, struct pvm_err *err)
{
	uint64_t limit = vm->mapped_end - (uint64_t)vm->nvcpus * HV_USER_STACK;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	struct stat st;
	uint8_t *file = MAP_FAILED;
	bool entry_ok = false;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pvm_err_set(err, -errno, "image %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = pvm_err_set(err, -errno, "image %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(Elf64_Ehdr)) {
		ret = pvm_err_set(err, -EINVAL, "image %s: not an ELF file", path);
		goto out;
	}
	file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (file == MAP_FAILED) {
		ret = pvm_err_set(err, -errno, "image %s: mmap: %s", path, strerror(errno));
		goto out;
	}
	eh = (const Elf64_Ehdr *)file;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		ret = pvm_err_set(err, -EINVAL, "image %s: not an ELF file", path);
		goto out;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC) {
		ret = pvm_err_set(err, -EINVAL, "image %s: not an x86-64 ELF64 executable", path);
		goto out;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_MAX_PHDRS || eh->e_phoff > (uint64_t)st.st_size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size - eh->e_phoff ||
	    eh->e_phoff % 8) {
		ret = pvm_err_set(err, -EINVAL, "image %s: bad program header table", path);
		goto out;
	}
	ph = (const Elf64_Phdr *)(file + eh->e_phoff);
	ret = check_segments(vm, ph, eh->e_phnum, (uint64_t)st.st_size, limit, err);
	if (ret) {
		pvm_err_prefix(err, "image %s", path);
		goto out;
	}
	vm->image_end = PV_IMAGE_MIN;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		memcpy(vm->mem + p->p_paddr, file + p->p_offset, p->p_filesz);
		memset(vm->mem + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		if (p->p_paddr + p->p_memsz > vm->image_end)
			vm->image_end = p->p_paddr + p->p_memsz;
		if ((p->p_flags & PF_X) && eh->e_entry >= p->p_paddr &&
		    eh->e_entry < p->p_paddr + p->p_memsz)
			entry_ok = true;
	}
	if (!entry_ok) {
		ret = pvm_err_set(err, -EINVAL, "image %s: entry point 0x%llx not in code", path,
				  (unsigned long long)eh->e_entry);
		goto out;
	}
	vm->entry = eh->e_entry;
	ret = 0;
out:
	if (file != MAP_FAILED)
		munmap(file, (size_t)st.st_size);
	close(fd);
	return ret;
}
