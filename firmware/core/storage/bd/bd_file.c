/* Block device over a file: see bd_file.h. */
#include "rec/bd_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rec/err.h"

static int range_ok(const rec_bd_file_t *f, uint32_t lba, uint32_t count)
{
    return count <= f->bd.block_count && lba <= f->bd.block_count - count;
}

/* Reads count blocks at lba into rbuf, or writes them from wbuf when it is not NULL, resuming
 * after short transfers and signals. */
static int transfer(rec_bd_file_t *f, uint32_t lba, uint32_t count, void *rbuf, const void *wbuf)
{
    if (f->fd < 0)
        return REC_E_IO;
    if (!range_ok(f, lba, count))
        return REC_E_RANGE;
    size_t len = (size_t)count * REC_BD_BLOCK_SIZE;
    off_t off = (off_t)lba * REC_BD_BLOCK_SIZE;
    size_t done = 0;
    while (done < len) {
        ssize_t n = wbuf ? pwrite(f->fd, (const char *)wbuf + done, len - done, off + (off_t)done)
                         : pread(f->fd, (char *)rbuf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return REC_E_IO;
        done += (size_t)n;
    }
    return REC_OK;
}

static int bd_file_read(void *ctx, uint32_t lba, void *buf, uint32_t count)
{
    rec_bd_file_t *f = ctx;
    int rc = transfer(f, lba, count, buf, NULL);
    if (rc != REC_OK)
        return rc;
    f->reads++;
    f->blocks_read += count;
    return REC_OK;
}

static int bd_file_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    rec_bd_file_t *f = ctx;
    int rc = transfer(f, lba, count, NULL, buf);
    if (rc != REC_OK)
        return rc;
    f->writes++;
    f->blocks_written += count;
    return REC_OK;
}

static int bd_file_sync(void *ctx)
{
    rec_bd_file_t *f = ctx;
    if (f->fd < 0)
        return REC_E_IO;
    while (fsync(f->fd) != 0) {
        if (errno != EINTR)
            return REC_E_IO;
    }
    f->syncs++;
    return REC_OK;
}

/* Zero-fill: holes punched in a regular file (its blocks are freed, and read back as zeros),
 * zeros written where the file system or device cannot; then fsync. */
static int bd_file_erase(void *ctx, uint32_t lba, uint32_t count)
{
    rec_bd_file_t *f = ctx;
    if (f->fd < 0)
        return REC_E_IO;
    if (!range_ok(f, lba, count))
        return REC_E_RANGE;
    off_t off = (off_t)lba * REC_BD_BLOCK_SIZE;
    off_t len = (off_t)count * REC_BD_BLOCK_SIZE;
    if (count > 0 && fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) != 0) {
        static const uint8_t zeros[64 * REC_BD_BLOCK_SIZE];
        for (uint32_t done = 0; done < count;) {
            uint32_t n = count - done < 64u ? count - done : 64u;
            int rc = transfer(f, lba + done, n, NULL, zeros);
            if (rc != REC_OK)
                return rc;
            done += n;
        }
    }
    f->erases++;
    f->blocks_erased += count;
    return bd_file_sync(f);
}

int rec_bd_file_open(rec_bd_file_t *f, const char *path, bool create, uint64_t size_bytes)
{
    if (f == NULL || path == NULL)
        return REC_E_INVAL;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (size_bytes % REC_BD_BLOCK_SIZE != 0 || size_bytes / REC_BD_BLOCK_SIZE > UINT32_MAX)
        return REC_E_INVAL;
    if (create && size_bytes == 0)
        return REC_E_INVAL;
    int fd;
    do {
        fd = open(path, create ? (O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC) : (O_RDWR | O_CLOEXEC), 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == ENOENT ? REC_E_NOENT : REC_E_IO;
    uint64_t blocks;
    if (create) {
        if (ftruncate(fd, (off_t)size_bytes) != 0) {
            close(fd);
            return REC_E_IO;
        }
        blocks = size_bytes / REC_BD_BLOCK_SIZE;
    } else {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            close(fd);
            return REC_E_IO;
        }
        uint64_t have = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        if (!S_ISREG(st.st_mode)) {
            off_t end = lseek(fd, 0, SEEK_END);
            if (end < 0) {
                close(fd);
                return REC_E_IO;
            }
            have = (uint64_t)end;
        }
        if (size_bytes != 0 && size_bytes > have) {
            close(fd);
            return REC_E_INVAL;
        }
        blocks = (size_bytes != 0 ? size_bytes : have) / REC_BD_BLOCK_SIZE;
        if (blocks > UINT32_MAX)
            blocks = UINT32_MAX;
    }
    if (blocks == 0) {
        close(fd);
        return REC_E_INVAL;
    }
    f->fd = fd;
    f->bd.ctx = f;
    f->bd.read = bd_file_read;
    f->bd.write = bd_file_write;
    f->bd.sync = bd_file_sync;
    f->bd.erase = bd_file_erase;
    f->bd.erase_kind = REC_BD_ERASE_ZERO_FILL;
    f->bd.block_count = (uint32_t)blocks;
    return REC_OK;
}

void rec_bd_file_close(rec_bd_file_t *f)
{
    if (f == NULL || f->fd < 0)
        return;
    close(f->fd);
    f->fd = -1;
}
