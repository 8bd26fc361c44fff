/* Simulator port: the device's own NVM as a file beside the card image (IMAGE.nvm: 64 KiB, 16
 * sectors of 4096 bytes, 256-byte pages) with the NOR rules applied (program ANDs, erase sets
 * 0xFF; every change written with pwrite and made durable with fsync before it returns), and
 * entropy from getrandom(). --nvm-cut-at N cuts the power in the middle of the Nth program or
 * erase (from 1): half of it reaches the file, then the process exits at once, as a power cut
 * would leave it (for power-cut tests of the key and the journal counter). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rec/err.h"
#include "rec/port.h"
#include "rec_protocol.h"
#include "sim_internal.h"

#define SECTOR 4096u
#define PAGE 256u
#define SECTORS 16u
#define BYTES (SECTOR * SECTORS)

static int nvm_fd = -1;
static uint32_t nvm_ops;

int sim_nvm_open(void)
{
    if (!sim_cfg.nvm) return 0;
    nvm_fd = open(sim_cfg.nvm, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (nvm_fd < 0) {
        sim_err("cannot open the NVM file %s: %s", sim_cfg.nvm, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(nvm_fd, &st) != 0) return -1;
    if (st.st_size != (off_t)BYTES) {
        if (st.st_size != 0) {
            sim_err("NVM file %s is %lld bytes, not %u: refusing to touch it", sim_cfg.nvm, (long long)st.st_size, BYTES);
            close(nvm_fd);
            nvm_fd = -1;
            return -1;
        }
        /* Fresh flash is erased. */
        static uint8_t blank[BYTES];
        memset(blank, 0xFF, sizeof blank);
        if (pwrite(nvm_fd, blank, sizeof blank, 0) != (ssize_t)sizeof blank || fsync(nvm_fd) != 0) {
            sim_err("cannot initialise the NVM file %s: %s", sim_cfg.nvm, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Writes back a changed range durably; at the chosen operation only its first half, then exits. */
static int commit(uint32_t offset, const uint8_t *data, uint32_t len)
{
    nvm_ops++;
    bool cut = sim_cfg.nvm_cut_at != 0 && nvm_ops == sim_cfg.nvm_cut_at;
    uint32_t n = cut ? len / 2u : len;
    if (pwrite(nvm_fd, data, n, offset) != (ssize_t)n || fsync(nvm_fd) != 0) return REC_E_IO;
    if (cut) {
        sim_err("power cut in NVM operation %u", nvm_ops);
        _exit(3);
    }
    return REC_OK;
}

int port_nvm_info(port_nvm_info_t *out)
{
    if (nvm_fd < 0) return REC_E_UNSUPPORTED;
    out->sector_bytes = SECTOR;
    out->page_bytes = PAGE;
    out->sectors = SECTORS;
    out->simulated = true;
    return REC_OK;
}

int port_nvm_read(uint32_t offset, void *buf, uint32_t len)
{
    if (nvm_fd < 0) return REC_E_UNSUPPORTED;
    if (offset > BYTES || len > BYTES - offset) return REC_E_RANGE;
    return pread(nvm_fd, buf, len, offset) == (ssize_t)len ? REC_OK : REC_E_IO;
}

int port_nvm_erase_sector(uint32_t offset)
{
    if (nvm_fd < 0) return REC_E_UNSUPPORTED;
    if (offset % SECTOR != 0 || offset >= BYTES) return REC_E_INVAL;
    uint8_t blank[SECTOR];
    memset(blank, 0xFF, sizeof blank);
    return commit(offset, blank, SECTOR);
}

int port_nvm_program(uint32_t offset, const void *buf, uint32_t len)
{
    if (nvm_fd < 0) return REC_E_UNSUPPORTED;
    if (offset % PAGE != 0 || len % PAGE != 0 || offset > BYTES || len > BYTES - offset) return REC_E_INVAL;
    static uint8_t cur[BYTES];
    if (pread(nvm_fd, cur, len, offset) != (ssize_t)len) return REC_E_IO;
    const uint8_t *src = buf;
    for (uint32_t i = 0; i < len; i++) cur[i] &= src[i]; /* NOR: programming only clears bits */
    return commit(offset, cur, len);
}

int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source)
{
    uint32_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return REC_E_UNSUPPORTED;
        }
        done += (uint32_t)n;
    }
    *source = RP_ENTROPY_OS;
    return REC_OK;
}
