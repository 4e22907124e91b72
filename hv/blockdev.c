// SPDX-License-Identifier: MIT
/*
 * The port-I/O block device, the block hook's emulated twin: the guest sets
 * a sector number, then moves one 512-byte sector through the data port
 * (rep insl/outsl) and issues READ or WRITE. The first error is latched until
 * the command register is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/vm.h"

int hv_block_init(struct hv_vm *vm, const char *path, struct pvm_err *err)
{
	struct hv_blkdev *b = &vm->blk;
	struct stat st;

	b->fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->fd < 0)
		return pvm_err_set(err, -errno, "disk %s: %s", path, strerror(errno));
	if (fstat(b->fd, &st) < 0)
		return pvm_err_set(err, -errno, "disk %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return pvm_err_set(err, -EINVAL, "disk %s: not a file or block device", path);
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(b->fd, 0, SEEK_END);

		if (end < 0)
			return pvm_err_set(err, -errno, "disk %s: %s", path, strerror(errno));
		st.st_size = end;
	}
	b->sectors = (uint64_t)st.st_size / PV_SECTOR_SIZE;
	if (!b->sectors)
		return pvm_err_set(err, -EINVAL, "disk %s: smaller than one sector", path);
	return 0;
}

static bool sector_io(struct hv_blkdev *b, bool write)
{
	ssize_t n;

	if (b->lba >= b->sectors)
		return false;
	if (write)
		n = pwrite(b->fd, b->buf, PV_SECTOR_SIZE, (off_t)(b->lba * PV_SECTOR_SIZE));
	else
		n = pread(b->fd, b->buf, PV_SECTOR_SIZE, (off_t)(b->lba * PV_SECTOR_SIZE));
	return n == PV_SECTOR_SIZE;
}

static void blk_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
		   uint32_t size, uint32_t count)
{
	struct hv_blkdev *b = dev;
	uint32_t v = 0;

	if (b->fd < 0) {
		if (!out)
			memset(data, 0xff, (size_t)size * count);
		return;
	}
	if (port == PV_PORT_BLK_DATA) {
		size_t n = (size_t)size * count;

		if (n > PV_SECTOR_SIZE - b->pos) {
			b->status = PV_BLK_ST_ERR;
			n = PV_SECTOR_SIZE - b->pos;
		}
		if (out)
			memcpy(b->buf + b->pos, data, n);
		else
			memcpy(data, b->buf + b->pos, n);
		b->pos += (uint32_t)n;
		return;
	}
	if (size != 4 || count != 1) {
		b->status = PV_BLK_ST_ERR;
		if (!out)
			memset(data, 0xff, (size_t)size * count);
		return;
	}
	memcpy(&v, data, 4);
	switch (port) {
	case PV_PORT_BLK_LBA:
		if (out) {
			b->lba = v;
			b->pos = 0;
		} else {
			v = (uint32_t)b->lba;
		}
		break;
	case PV_PORT_BLK_CMD:
		if (!out) {
			v = b->status;
			b->status = PV_BLK_ST_OK;
			break;
		}
		if ((v != PV_BLK_CMD_READ && v != PV_BLK_CMD_WRITE) ||
		    !sector_io(b, v == PV_BLK_CMD_WRITE))
			b->status = PV_BLK_ST_ERR;
		else
			HV_STAT_ADD(vm->stats.emu_block_sectors, 1);
		b->pos = 0;
		break;
	case PV_PORT_BLK_SIZE:
		v = (uint32_t)b->sectors;
		break;
	default:
		v = 0xffffffff;
		break;
	}
	if (!out)
		memcpy(data, &v, 4);
}

int hv_blockdev_register(struct hv_vm *vm)
{
	return hv_bus_register(&vm->bus, PV_PORT_BLK_LBA, 16, HV_IODEV_BLOCK, blk_io, &vm->blk);
}
